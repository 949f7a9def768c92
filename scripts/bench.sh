#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every benchmark once, each printing medians and ratios against a baseline measured in the
# same run. Never part of the tests. PASO_BENCH_QUICK=1 shrinks the sizes for a first look.
# Scratch data goes under PASO_BENCH_DIR (default /var/tmp; avoid tmpfs, where fsync is free).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
B=build/bin
DIR=${PASO_BENCH_DIR:-/var/tmp}
if [ "${PASO_BENCH_QUICK:-0}" = 1 ]; then
  LARGE=1000000; GALLERY=100000; PEOPLE=500; CROSSINGS=2000; RUNS=1; TRAVELLERS=500; SWEEP=20000; SWEEPX=100000
else
  LARGE=10000000; GALLERY=1000000; PEOPLE=2000; CROSSINGS=6000; RUNS=3; TRAVELLERS=20000; SWEEP=200000; SWEEPX=1000000
fi
echo "### ingest through the hub, and the decision layer without a server"
for K in 5 16 64; do
  $B/bench_ingest --people $PEOPLE --crossings $((CROSSINGS * (K > 5 ? 2 : 1))) --kiosks $K \
    --runs $RUNS --bin $B --dir "$DIR"
done
echo; echo "### sharing with a partner: bulk throughput against crossing ingest, hit/no-hit latency"
$B/bench_share --people $PEOPLE --crossings $CROSSINGS --runs $RUNS --bin $B --dir "$DIR"
echo; echo "### sealed store against raw LMDB"
$B/bench_store --runs 5 --dir "$DIR"
echo; echo "### retention sweep against raw LMDB deletes"
$B/bench_sweep --kind crossing --records $SWEEPX --runs $RUNS --dir "$DIR"
$B/bench_sweep --kind enrolment --records $SWEEP --runs $RUNS --dir "$DIR"
echo; echo "### a crossing's durable commit beside enrolment commits: one writer, or a lane of its own"
$B/bench_lane --rounds $RUNS --dir "$DIR"
$B/bench_lane --rounds $RUNS --rate 1000 --dir "$DIR"
echo; echo "### what one durable commit costs on this disk by its page count, scattered or in one run"
$B/bench_pages --dir "$DIR"
echo; echo "### crossing answer times through TLS while the hub sweeps a backlog, against none"
$B/bench_sweep_load --records $SWEEPX --runs $RUNS --bin $B --dir "$DIR"
echo; echo "### audit log"
$B/bench_audit --large $LARGE --dir "$DIR"
echo; echo "### audit log as tlog-tiles, proofs from tiles, tlog-witness endpoint"
$B/bench_tlog --large $LARGE --runs 5 --dir "$DIR"
echo; echo "### fingerprint matcher"
$B/bench_finger --speed --subjects 50
echo; echo "### iris, face and 1:N"
$B/bench_bio --gallery $GALLERY
echo; echo "### finger-only 1:N in two stages (finger descriptors, then the matcher) beside the exhaustive search"
if [ "${PASO_BENCH_QUICK:-0}" = 1 ]; then
  $B/bench_findex --enrolled 2000 --probes 20 --strangers 20
else
  $B/bench_findex --enrolled 20000 --probes 40 --strangers 40 --candidates 8,16,32
fi
echo; echo "### 1:N over protected faces (PolyProtect) beside the unprotected search"
$B/bench_protect --gallery $GALLERY --runs $RUNS
echo; echo "### the hub's 1:N over protected references (face, iris, fingers) beside unprotected ones"
$B/bench_pgallery --gallery $GALLERY --enrolled 100 --runs $RUNS --exhaustive 4
echo; echo "### the researcher's bench: southern-border scenario per policy and phase"
PASO_BENCH_DIR="$DIR" bench/lab/bench_scenario.sh $TRAVELLERS $RUNS
if [ "${PASO_BENCH_QUICK:-0}" = 1 ]; then NAT=5000; NATOPTS=(--enrol 1600 --kiosks 8 --crossings 500)
else NAT=20000; NATOPTS=(--enrol 6400 --kiosks 8 --crossings 1000); fi
echo; echo "### enrolment with deduplication, and crossings beside it, at $NAT enrolled (issue 11)"
[ -d "$DIR/paso-national-$NAT" ] || $B/bench_fixture --dir "$DIR/paso-national-$NAT" --people $NAT >/dev/null
bench/registry/national_runs.sh "$DIR/paso-national-$NAT" $NAT $((RUNS * 2 - 1)) \
  "$DIR/paso-national-$NAT-run" $B "${NATOPTS[@]}"
echo; echo "### paso trace: one person's acts through the trace index, against reading the whole log"
$B/bench_trace --entries $LARGE --dir "$DIR"
# National size (issue 11): the 1,000,000-person fixture takes ~3 minutes and ~9 GB of disk to
# build on two cores, so only when asked: PASO_BENCH_NATIONAL=1 (people: PASO_BENCH_PEOPLE,
# default 1000000; kept in $DIR/paso-national-N, and the runs below enrol into it).
if [ "${PASO_BENCH_NATIONAL:-0}" = 1 ]; then
  N=${PASO_BENCH_PEOPLE:-1000000}; FX="$DIR/paso-national-$N"; EMPTY="$DIR/paso-national-empty"
  echo; echo "### national size: fixture of $N, restart, enrolment with dedup and crossings"
  [ -d "$FX" ] || $B/bench_fixture --dir "$FX" --people "$N"
  [ -d "$EMPTY" ] || $B/paso-hub init "$EMPTY" >/dev/null
  $B/bench_restart --dir "$FX" --empty "$EMPTY" --runs 3 --bin $B
  for S in 1 2 3; do
    $B/bench_national --dir "$FX" --people "$N" --enrol 320 --kiosks 8 --crossings 100 \
      --first $((N + 1000 * (RANDOM % 7000) + 400 * S)) --salt $((RANDOM % 900 + S)) --bin $B
  done
  echo; echo "### hit/no-hit queries from a partner against the national fixture (baseline: nobody enrolled)"
  PASO_BIN=$B bench/share/query_at_scale.sh "$FX" "$DIR/paso-national-queries" 100 3
fi
