#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Someone with the hub's disk flips one byte of an audit entry to hide what was done.
# Control: the Merkle tree and signed checkpoints; paso-audit names the entry (T11).
. "$(dirname "$0")/lib.sh"
deploy kiosk-talisman
start_hub
"$B/paso-kiosk" run --deployment "$D" --hub "127.0.0.1:$port" --kiosks kiosk-talisman \
  --people 10 --crossings 10 --identify 0 --workdir "$W/k" >/dev/null
stop_hub
say "== before: an outsider verifies the log"
"$B/paso-audit" verify "$D" | sed 's/^/  /'
size=$(stat -c %s "$D/audit/entries")
off=$((size / 2))
say "== the attacker flips byte $off of audit/entries ($size bytes)"
printf '\xff' | dd of="$D/audit/entries" bs=1 seek="$off" conv=notrunc status=none
set +e
out=$("$B/paso-audit" verify "$D" 2>&1)
rc=$?
set -e
say "== after: paso-audit verify exits $rc"
say "$out" | sed 's/^/  /'
[ "$rc" -ne 0 ]
say "stopped by: RFC 6962 Merkle tree under an Ed25519-signed checkpoint; the bad entry is named"
