#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A kiosk's certificate and key are stolen. The deployment revokes the kiosk while the hub
# serves; the thief's next connection is refused. Control: revocation by name (T2).
. "$(dirname "$0")/lib.sh"
deploy kiosk-talisman
start_hub
say "== the thief connects with kiosk-talisman's certificate and enrols 20 people"
"$B/paso-kiosk" run --deployment "$D" --hub "127.0.0.1:$port" --kiosks kiosk-talisman \
  --people 20 --crossings 0 --identify 0 --workdir "$W/thief" --json | sed 's/^/  /'
say "== the operator revokes it: paso-hub revoke"
"$B/paso-hub" revoke "$D" --kiosk kiosk-talisman | sed 's/^/  /'
say "== the thief tries again (new captures)"
set +e
out=$("$B/paso-kiosk" run --deployment "$D" --hub "127.0.0.1:$port" --kiosks kiosk-talisman \
  --people 5 --crossings 0 --identify 0 --seed 9 --workdir "$W/thief2" --give-up 3 --json 2>&1)
rc=$?
set -e
say "$out" | sed 's/^/  /'
# The hub records a revocation from its kiosk-certificate timer (within about a second).
for _ in $(seq 1 100); do grep -q "kiosk-talisman' revoked" "$W/hub.log" && break; sleep 0.1; done
say "== what happened: paso-kiosk exit $rc; the hub's log says"
grep -E "revoked|not registered" "$W/hub.log" | sed 's/^/  /'
stop_hub
say "== the audit entries that show it"
audit_entries 'KEY_REVOKE|UNKNOWN_KIOSK' | sed 's/^/  /'
[ "$rc" -ne 0 ] && grep -q "not registered or was revoked" "$W/hub.log" &&
  audit_entries KEY_REVOKE | grep -q kiosk-talisman
say "stopped by: revocation (DIR/kiosks/NAME.revoked), checked at every connection"
