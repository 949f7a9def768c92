#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Slowloris: a frame header announcing 200 bytes, then one byte a second, to hold a connection
# and its thread. Control: an absolute deadline for a frame once its first byte arrived
# (--frame-timeout; 2.5 s here, between two bytes, 10 s by default) (T4b). connection-flood.sh runs 100 at once.
. "$(dirname "$0")/lib.sh"
deploy kiosk-talisman
start_hub --frame-timeout 2500
say "== one byte a second on kiosk-talisman's certificate (paso-attack slowloris)"
attack slowloris --kiosk kiosk-talisman | sed 's/^/  /'
stop_hub
say "== the hub's log"
grep -E "FRAME_TRUNCATED" "$W/hub.log" | sed 's/^/  /'
say "== the audit entries that show it"
audit_entries FRAME_TRUNCATED | sed 's/^/  /'
grep -q "frame not complete within 2500 ms.*timed out" "$W/hub.log" &&
  audit_entries FRAME_TRUNCATED | grep -q kiosk-talisman
say "stopped by: the frame deadline: the whole frame within --frame-timeout of its first byte,"
say "else FRAME_TRUNCATED, an audit entry, and the connection closed"
