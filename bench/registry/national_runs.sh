#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_national several times, each on a fresh copy of one bench_fixture deployment (so every run
# enrols into the same N people), with per-run lines and the median and range of each figure.
# usage: national_runs.sh FIXTURE N RUNS SCRATCH BIN [bench_national options...]
#   FIXTURE  a stopped deployment built by BIN/bench_fixture --people N (left untouched)
#   SCRATCH  where each run's copy goes (replaced each run, removed at the end; not tmpfs)
# Default options: --enrol 6400 --kiosks 8 --crossings 1000 (issue 11's 20,000-enrolled figures).
set -euo pipefail
if [ $# -lt 5 ]; then
  sed -n 3,8p "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
FX=$1 N=$2 RUNS=$3 SCRATCH=$4 B=$5
shift 5
[ -d "$FX/store" ] || { echo "national_runs.sh: $FX is not a deployment (no store/)" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "national_runs.sh: RUNS must be a whole number >= 1: '$RUNS'" >&2; exit 2; }
OPTS=("$@")
[ ${#OPTS[@]} -gt 0 ] || OPTS=(--enrol 6400 --kiosks 8 --crossings 1000)
OUT=$(mktemp)
trap 'rm -rf "$SCRATCH" "$OUT" "$OUT.run"' EXIT
SALT0=$((RANDOM % 500 + 1))
for r in $(seq 1 "$RUNS"); do
  rm -rf "$SCRATCH"
  cp -a "$FX" "$SCRATCH"
  sync
  s=$((SALT0 + r))
  "$B/bench_national" --dir "$SCRATCH" --people "$N" --salt "$s" \
    --first $((N + 1000000 + 10000 * s)) --bin "$B" "${OPTS[@]}" >"$OUT.run" 2>&1 ||
    { cat "$OUT.run" >&2; exit 1; }
  awk -v r="$r" -v s="$s" -v load="$(cut -d' ' -f1 /proc/loadavg)" '
    /enrolments: [0-9.]+\/s/ { for (i = 1; i <= NF; i++) if ($i == "enrolments:") rate = $(i + 1) + 0 }
    /duplicates caught/ { match($0, /caught [0-9]+\/[0-9]+/); caught = substr($0, RSTART + 7, RLENGTH - 7)
                          match($0, /flagged as duplicates: [0-9]+/); flagged = substr($0, RSTART + 23, RLENGTH - 23) }
    /crossings alone:/ { a99 = $7 + 0 }
    /crossings while enrolling:/ { b50 = $5 + 0; b99 = $8 + 0; bmax = $11 + 0 }
    END { printf "run %d (salt %d, load %s): %.1f enrolments/s, %s duplicates caught, %s new people flagged; crossing p99 alone %.2f ms, beside enrolments %.2f ms (p50 %.2f, max %.1f), ratio %.2f\n",
            r, s, load, rate, caught, flagged, a99, b99, b50, bmax, (a99 > 0 ? b99 / a99 : 0)
          printf "%f %f %f %f %f\n", rate, a99, b99, (a99 > 0 ? b99 / a99 : 0), bmax > "/dev/stderr" }
  ' "$OUT.run" 2>>"$OUT"
done
echo "median (range) over $RUNS runs at $N enrolled, each on a fresh copy of $FX:"
name=("" "enrolments/s" "crossing p99 alone, ms" "crossing p99 beside enrolments, ms"
  "p99 ratio beside / alone (target <= 2)" "longest crossing beside enrolments, ms")
for col in 1 2 3 4 5; do
  cut -d' ' -f$col "$OUT" | sort -g | awk -v name="${name[$col]}" '
    { v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "  %-42s %10.2f (%.2f-%.2f)\n", name, m, v[1], v[NR] }'
done
