#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's first command: installs what is missing, builds, and runs the whole pipeline once:
# a registry hub, five kiosks at Mexico's southern border enrolling a synthetic population and
# sending their crossings, then an outsider's check of the audit log; and ends with the same small
# scenario run under the three policy presets, compared in one report. Everything on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${PASO_DEMO_PEOPLE:-2000}
CROSSINGS=${PASO_DEMO_CROSSINGS:-6000}
IDENTIFY=${PASO_DEMO_IDENTIFY:-200}
D=${PASO_DEMO_DIR:-demo}

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
B=build/bin

rm -rf "$D"
mkdir -p "$D"
echo "== 1. The registry: a new deployment (CA, keys, sealed store, audit log, policy)"
$B/paso-hub init "$D/hub" --name inm
for k in kiosk-ciudad-hidalgo kiosk-talisman kiosk-ciudad-cuauhtemoc kiosk-el-ceibo station-siglo-xxi; do
  $B/paso-hub issue "$D/hub" --kiosk "$k" >/dev/null
done
echo "  issued 5 kiosk certificates (4 border crossings and the Siglo XXI detention station)"

$B/paso-hub serve "$D/hub" --port 0 --port-file "$D/port" >"$D/hub.log" 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do [ -s "$D/port" ] && break; sleep 0.1; done
port=$(cat "$D/port")
echo "  hub listening on 127.0.0.1:$port (TLS 1.3, client certificates required)"

echo
echo "== 2. The kiosks: $PEOPLE synthetic travellers enrol, then $CROSSINGS crossings and $IDENTIFY identifications"
$B/paso-kiosk run --deployment "$D/hub" --hub "127.0.0.1:$port" --people "$PEOPLE" \
  --crossings "$CROSSINGS" --identify "$IDENTIFY" --workdir "$D/kiosks"

kill -TERM $hub
wait $hub
trap - EXIT

echo
echo "== 3. What the registry holds, and how it is protected"
$B/paso-hub stats "$D/hub" | sed 's/^/  /'
echo "  every subject record is sealed (XChaCha20-Poly1305) under its own data key;"
echo "  data keys are wrapped by key-encryption keys, one per kind of record and day, in $D/hub/keys (0600);"
echo "  card numbers appear only inside sealed records; the card index holds keyed hashes."
echo "  store on disk: $(du -sh "$D/hub/store" | cut -f1)"

echo
echo "== 4. What the audit log proves (checked by paso-audit, which shares no code with the hub)"
$B/paso-audit verify "$D/hub" --key "$D/hub/audit/log.vkey" | sed 's/^/  /'
echo "  latest signed checkpoint (C2SP tlog-checkpoint):"
$B/paso-audit checkpoint "$D/hub" | sed 's/^/    /'
echo "  inclusion proof that entry 20 is in that tree:"
$B/paso-audit prove "$D/hub" --index 20 2>&1 | sed 's/^/    /'
echo "  entry 20 itself, an enrolment (people appear only as keyed pseudonyms):"
$B/paso-audit show "$D/hub" --from 20 --to 20 | sed 's/^/    /'

echo
echo "== 5. The same month of border traffic under three policies (scenarios/small.yaml)"
t0=$(date +%s)
$B/paso compare scenarios/small.yaml policies/as-deployed.yaml policies/minimal.yaml \
  policies/card-only.yaml --out "$D/compare" --quiet
echo "  compared in $(( $(date +%s) - t0 )) s; per policy, from its hub's audit log and store:"
for p in as-deployed minimal card-only; do
  awk -F, -v p="$p" '$1 == p { last = $0 } END { split(last, f, ","); printf "    %-12s holds %s people, fingerprints of %s, faces of %s, irises of %s\n", p, f[3], f[4], f[5], f[6] }' "$D/compare/held.csv"
done
echo "  second cards of people already enrolled (duplicates) caught, and crossings decided at the hub:"
for p in as-deployed minimal card-only; do
  awk -F, -v p="$p" '$1 == p && /Duplicate enrolments caught/ { c = $(NF-2) "/" $(NF-1) }
    $1 == p && /could not decide \(templates/ { u = $(NF-2); n = $(NF-1) }
    END { printf "    %-12s %s duplicates caught; %d of %d genuine crossings decided\n", p, c, n - u, n }' \
    "$D/compare/decisions.csv"
done
echo "  what partner dhs holds at the end, and how the hub answered its hit/no-hit queries:"
for p in as-deployed minimal card-only; do
  awk -F, -v p="$p" '$1 == p { last = $0 } END { split(last, f, ","); printf "    %-12s dhs holds %s records (faces of %s); ", p, f[4] + 0, f[6] + 0 }' "$D/compare/partner_held.csv"
  awk -F, -v p="$p" '$1 == p { q = $3; h = $4; r = $6 } END { if (q == "") print "no partner"; else printf "%s queries: %s hits, %s refused\n", q, h, r }' "$D/compare/queries.csv"
done

echo
echo "done: the deployment is in $D/hub, the hub's log in $D/hub.log"
echo "open $D/compare/report.html in a browser: what each policy holds, exposes and decides"
