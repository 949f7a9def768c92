#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The hub's disk is stolen. Without keys/ the store is ciphertext: no card number, no template.
# With keys/ everything live is readable: say so. Controls: sealed records (T7), key custody (T20).
. "$(dirname "$0")/lib.sh"
deploy kiosk-talisman
start_hub
"$B/paso-kiosk" run --deployment "$D" --hub "127.0.0.1:$port" --kiosks kiosk-talisman \
  --people 30 --crossings 0 --identify 0 --workdir "$W/k" --seed 4 >/dev/null
stop_hub
say "== the thief copies the disk without keys/ (and without signer/)"
mkdir -p "$W/stolen"
cp -r "$D/store" "$D/audit" "$D/policy.yaml" "$W/stolen/"
# The synthetic cards look like 'TVR-...' or 'TTF-...' etc.; templates start with FMR\0.
found=$( (grep -rlaE 'FMR' "$W/stolen" || true) | wc -l)
cards=$( (grep -raoE '[A-Z]{3}-[0-9]{8,}' "$W/stolen" || true) | wc -l)
say "  files holding an ISO finger record header 'FMR': $found; card-number-like strings: $cards"
[ "$found" -eq 0 ] && [ "$cards" -eq 0 ]
say "  what the thief reads without keys/: pseudonyms, codes and scores in the audit log, sizes"
say "== with keys/ as well, everything live is readable: stats --recount opens every record"
"$B/paso-hub" stats "$D" --recount | sed 's/^/  /'
say "== and even that read is an audit entry (if the thief uses Paso's tools, not their own)"
audit_entries RECORD_READ | tail -1 | sed 's/^/  /'
say "stopped by: XChaCha20-Poly1305 sealing under per-subject keys wrapped by keys/ (without keys/);"
say "not stopped: a thief with keys/ and store/ reads every live record (threat-model.md, Open)"
