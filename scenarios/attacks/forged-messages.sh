#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Forged messages: a certificate whose signature does not verify under the deployment's CA,
# garbage in a well-formed frame, a message kiosks never send, and valid-looking messages with impossible fields (seq 0,
# category 42, a minutia outside the image). Control: mutual TLS against the deployment's CA,
# then the one bounds-checked reader and field validation before anything is stored (T1, T4).
. "$(dirname "$0")/lib.sh"
deploy kiosk-talisman
start_hub
say "== a certificate for kiosk-talisman signed by a CA with the deployment's CA name and the"
say "   attacker's own key (a bad signature), the hub's real CA certificate trusted"
"$B/paso-hub" init "$W/rogue" --name scenario >/dev/null
"$B/paso-hub" issue "$W/rogue" --kiosk kiosk-talisman >/dev/null
cp "$D/ca/ca.crt" "$W/rogue/ca/ca.crt"
"$B/paso-attack" connect --deployment "$W/rogue" --port "$port" --kiosk kiosk-talisman |
  sed 's/^/  /'
say "== forged messages on kiosk-talisman's real certificate (paso-attack forge)"
attack forge --kiosk kiosk-talisman --seq 10 --person 600 | sed 's/^/  /'
stop_hub
say "== the hub's log on the forged certificate (no audit entry: nothing reached the registry)"
grep -E "certificate" "$W/hub.log" | grep -v issued | sed 's/^/  /'
say "== what the store holds"
"$B/paso-hub" stats "$D" | head -1 | sed 's/^/  /'
say "== the audit entries that show it"
audit_entries 'REJECT' | sed 's/^/  /'
grep -q "certificate refused: certificate signature failure" "$W/hub.log" &&
  for c in DECODE UNKNOWN_MESSAGE SEQ_INVALID FIELD_RANGE TEMPLATE_FORMAT; do
    audit_entries "\"code_name\":\"$c\"" | grep -q kiosk-talisman || exit 1
  done &&
  "$B/paso-hub" stats "$D" | grep -q '^subjects 0 '
say "stopped by: the handshake (a certificate the deployment's CA did not sign ends it), then the"
say "bounds-checked reader and field validation: each forgery refused by name, audited, nothing stored"
