#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The researcher's bench at scale: the southern-border preset through `paso compare`, timed per
# policy and per phase (median and range over RUNS), against a baseline measured in the same run:
# the same planned messages sent by one paso-kiosk run to one hub per policy, without periods,
# stats snapshots, clock moves, partner queries or measuring (what the bench adds to the traffic
# itself; the queries phase is timed on its own line).
#   bench/lab/bench_scenario.sh [PEOPLE] [RUNS]      (defaults 20000 and 3)
#   POLICIES="policies/as-deployed.yaml ..." to choose; PASO_BENCH_DIR for scratch (default /var/tmp)
set -euo pipefail
cd "$(dirname "$0")/../.."
PEOPLE=${1:-20000}
RUNS=${2:-3}
POLICIES=${POLICIES:-"policies/as-deployed.yaml policies/minimal.yaml policies/card-only.yaml"}
B=build/bin
D=$(mktemp -d "${PASO_BENCH_DIR:-/var/tmp}/paso-bench-scenario-XXXXXX")
trap 'rm -rf "$D"' EXIT
sed "s/^  people: .*/  people: $PEOPLE/" scenarios/southern-border.yaml > "$D/sb.yaml"

for r in $(seq 1 "$RUNS"); do
  $B/paso compare "$D/sb.yaml" $POLICIES --out "$D/run-$r" --quiet >/dev/null
  tail -n +2 "$D/run-$r/cost.csv" >> "$D/cost.csv"
  # Baseline: every period's plan in one kiosk run against a fresh hub of the same policy.
  cat "$D/run-$r"/workload/period-*.plan > "$D/all.plan"
  pop=$(awk '$1 == "population" { print $2 }' "$D/run-$r/workload/workload.txt")
  for pf in $POLICIES; do
    name=$(awk '$1 == "name:" { print $2; exit }' "$pf")
    h="$D/base-$r-$name"
    $B/paso-hub init "$h/hub" --policy "$pf" >/dev/null
    for k in kiosk-ciudad-hidalgo kiosk-talisman kiosk-ciudad-cuauhtemoc kiosk-el-ceibo station-siglo-xxi; do
      $B/paso-hub issue "$h/hub" --kiosk "$k" >/dev/null
    done
    cap=$($B/paso-hub policy "$pf" | awk '/^capture:/ { c = 1; next } /^[a-z]/ { c = 0 }
      c && $2 == "true" { sub(":", "", $1); printf "%s%s", sep, $1; sep = "," }')
    $B/paso-hub serve "$h/hub" --port 0 --port-file "$h/port" --clock sim:2027-01-01T00:00:00Z >"$h/hub.log" 2>&1 &
    hub=$!
    for _ in $(seq 1 300); do [ -s "$h/port" ] && break; sleep 0.1; done
    t0=$(date +%s.%N)
    $B/paso-kiosk run --deployment "$h/hub" --hub "127.0.0.1:$(cat "$h/port")" --people "$pop" \
      --seed "$(awk '$1 == "seed:" { print $2 }' "$D/sb.yaml")" --plan "$D/all.plan" \
      --start 2027-01-01T00:00:00Z --workdir "$h/kiosks" --capture "$cap" --give-up 600 --window 64 >/dev/null
    t1=$(date +%s.%N)
    kill -TERM $hub; wait $hub || true
    awk -v n="$name" -v a="$t0" -v b="$t1" 'BEGIN { printf "%s %.3f\n", n, b - a }' >> "$D/base.txt"
    rm -rf "$h"
  done
  rm -rf "$D/run-$r"/*/hub "$D/run-$r"/*/kiosks
done

echo "southern-border at $PEOPLE travellers over 365 simulated days (7-day periods), $RUNS run(s)"
echo "policy        phase        median      range (s)"
awk -F, '
  { for (p = 6; p <= 12; p++) { v[$1, p, ++n[$1, p]] = $p }; tot[$1, ++nt[$1]] = $7 + $8 + $9 + $10 + $11 + $6 + $12 }
  function med(a, k, name, p,    i, j, t, x) { for (i = 1; i <= k; i++) x[i] = (p ? a[name, p, i] : a[name, i]);
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
    lo = x[1]; hi = x[k]; return x[int((k + 1) / 2)] }
  END { split("plan setup traffic snapshots stop measure queries", ph, " ");
    for (key in nt) { name = key; k = nt[name];
      for (p = 6; p <= 12; p++) { m = med(v, k, name, p); printf "%-13s %-12s %8.2f   %.2f..%.2f\n", name, ph[p - 5], m, lo, hi }
      m = med(tot, k, name, 0); printf "%-13s %-12s %8.2f   %.2f..%.2f\n", name, "total", m, lo, hi; print name, m > "'"$D"'/tot.txt" } }' "$D/cost.csv"
echo "baseline: the same messages in one kiosk run, no periods (median of $RUNS)"
awk 'NR == FNR { base[$1, ++n[$1]] = $2; next }
  { name = $1; k = n[name]; for (i = 1; i <= k; i++) x[i] = base[name, i];
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
    b = x[int((k + 1) / 2)]; printf "%-13s baseline %.2f s; bench total %.2f s; ratio %.2f\n", name, b, $2, $2 / b }' \
  "$D/base.txt" "$D/tot.txt"
