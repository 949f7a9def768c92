#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An attacker with one kiosk's certificate sends messages in another kiosk's name (kiosk_id not
# matching the certificate), one of them carrying a forged log line. Control: the certificate's
# name is the only identity; kiosk_id must equal it; the log escapes what a client sent (T3, T4).
. "$(dirname "$0")/lib.sh"
deploy kiosk-talisman kiosk-el-ceibo
start_hub
say "== kiosk-talisman's certificate, kiosk-el-ceibo's name (paso-attack impersonate)"
attack impersonate --kiosk kiosk-talisman --victim kiosk-el-ceibo --seq 20 --person 700 |
  sed 's/^/  /'
stop_hub
say "== the hub's log: the forged line is escaped, not written"
grep -E "KIOSK_MISMATCH" "$W/hub.log" | sed 's/^/  /'
say "== the audit entries that show it (actor: the certificate's name, never the claimed one)"
audit_entries 'KIOSK_MISMATCH|"action":"ENROLL"' | sed 's/^/  /'
[ "$(audit_entries KIOSK_MISMATCH | grep -c '"actor":"kiosk-talisman"')" -eq 2 ] &&
  ! audit_entries . | grep -q '"actor":"kiosk-el-ceibo"' &&
  ! grep -q "^2027-01-01T00:00:00Z paso-hub: kiosk kiosk-el-ceibo revoked" "$W/hub.log" &&
  grep -q 'kiosk-talisman\\x0a2027' "$W/hub.log"
say "stopped by: kiosk_id must equal the certificate's common name (KIOSK_MISMATCH); entries"
say "name the certificate; client bytes in the log are escaped (\\x0a), so no line is forged"
