#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An attacker holding a kiosk's certificate replays an enrolment it recorded, on the same and on a
# new connection, reuses its seq for someone else, and resends it under a new seq. Control: the
# per-kiosk (kiosk_id, seq) idempotency key and the card index (T5).
. "$(dirname "$0")/lib.sh"
deploy kiosk-talisman
start_hub
say "== the attacker replays kiosk-talisman's enrolment (paso-attack replay)"
attack replay --kiosk kiosk-talisman --person 500 | sed 's/^/  /'
stop_hub
say "== what the store holds: one subject, stored once"
"$B/paso-hub" stats "$D" | head -1 | sed 's/^/  /'
say "== the audit entries that show it"
audit_entries 'ENROLL|REPLAYED|REJECT' | sed 's/^/  /'
[ "$(audit_entries '"action":"ENROLL"' | wc -l)" -eq 1 ] &&
  [ "$(audit_entries '"action":"REPLAYED"' | wc -l)" -eq 2 ] &&
  audit_entries SEQ_CONFLICT | grep -q kiosk-talisman &&
  audit_entries CARD_ENROLLED | grep -q kiosk-talisman &&
  "$B/paso-hub" stats "$D" | grep -q '^subjects 1 '
say "stopped by: (kiosk_id, seq) is an idempotency key: the same bytes are acknowledged again and"
say "stored once (REPLAYED), other bytes under a used seq are SEQ_CONFLICT, the same card under a"
say "new seq is CARD_ENROLLED; every attempt has its audit entry"
