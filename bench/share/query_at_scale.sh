#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hit/no-hit query latency against a national hub holding a bench_fixture deployment (e.g.
# 1,000,000 people), beside the same queries against a hub with nobody enrolled (the baseline:
# the same process, keys, mutual TLS handshake and audit entries, minus the search).
#
#   bench/share/query_at_scale.sh FIXTURE_DIR WORK_DIR [QUERIES] [RUNS]
#
# FIXTURE_DIR: a stopped deployment built by bench_fixture (population seed 7, persons 0..N-1).
# Its policy.yaml is replaced by as-deployed with one hit_no_hit rule for partner dhs (the
# original is kept as policy.yaml.orig). WORK_DIR is created: the partner deployment, the
# baseline national deployment, probes, results. Each query is one `paso-hub query` process;
# the figure is its wall time. Probes: 30% of enrolled people, 70% of people never enrolled.
set -euo pipefail
FIX=${1:?FIXTURE_DIR}
WORK=${2:?WORK_DIR}
Q=${3:-100}
RUNS=${4:-3}
B=${PASO_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
PURPOSE="answer a named query about a person in detention"
N=$("$B/paso-hub" stats "$FIX" --json | sed -n 's/.*"subjects":\([0-9]*\).*/\1/p')
[ -n "$N" ] && [ "$N" -gt 0 ] || { echo "no subjects in $FIX" >&2; exit 1; }

rule_policy() { # $1: the source policy, $2: where to write it
	sed '/^sharing:/,$d' "$1" >"$2"
	printf 'sharing:\n  - partner: dhs\n    what: hit_no_hit\n    categories: all\n    purpose: %s\n    retention_days: 30\n    daily_budget: 100000\n' "$PURPOSE" >>"$2"
}

if [ ! -d "$WORK/dhs" ]; then
	mkdir -p "$WORK/probes"
	[ -f "$FIX/policy.yaml.orig" ] || cp "$FIX/policy.yaml" "$FIX/policy.yaml.orig"
	rule_policy "$FIX/policy.yaml.orig" "$FIX/policy.yaml"
	rule_policy "$FIX/policy.yaml.orig" "$WORK/empty-policy.yaml"
	"$B/paso-hub" init "$WORK/dhs" --name dhs --role partner >/dev/null
	"$B/paso-hub" init "$WORK/empty" --name empty --policy "$WORK/empty-policy.yaml" >/dev/null
	"$B/paso-hub" partner add "$FIX" --name dhs --ca "$WORK/dhs/ca/ca.crt" >/dev/null
	"$B/paso-hub" partner add "$WORK/dhs" --name fixture --ca "$FIX/ca/ca.crt" >/dev/null
	"$B/paso-hub" partner add "$WORK/empty" --name dhs --ca "$WORK/dhs/ca/ca.crt" >/dev/null
	"$B/paso-hub" partner add "$WORK/dhs" --name empty --ca "$WORK/empty/ca/ca.crt" >/dev/null
	for i in $(seq 0 $((Q - 1))); do
		if [ $((i % 10)) -lt 3 ]; then person=$(((i * 16661 + 17) % N)); else person=$((N + 500000 + i)); fi
		"$B/paso-kiosk" probe --seed 7 --person "$person" --out "$WORK/probes/p$i.cap" >/dev/null
		echo "$i $person $([ "$person" -lt "$N" ] && echo enrolled || echo stranger)" >>"$WORK/probes/list"
	done
fi

pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if (i<1) i=1; print a[i]}'; }

one_run() { # $1: national dir, $2: peer name, $3: label
	local port pid t0 t1 i s e rc
	rm -f "$WORK/peer.port"
	t0=$(date +%s%N)
	"$B/paso-hub" serve "$1" --port 0 --peer-port 0 --peer-port-file "$WORK/peer.port" \
		--fingers store >"$WORK/$3.hub.log" 2>&1 &
	pid=$!
	while [ ! -s "$WORK/peer.port" ]; do
		kill -0 $pid 2>/dev/null || { cat "$WORK/$3.hub.log"; exit 1; }
		sleep 0.2
	done
	t1=$(date +%s%N)
	port=$(cat "$WORK/peer.port")
	: >"$WORK/$3.times"
	for i in $(seq 0 $((Q - 1))); do
		s=$(date +%s%N)
		rc=0
		"$B/paso-hub" query "$WORK/dhs" --hub "127.0.0.1:$port" --peer "$2" --purpose "$PURPOSE" \
			--probe "$WORK/probes/p$i.cap" >/dev/null 2>&1 || rc=$?
		e=$(date +%s%N)
		echo "$i $rc $(((e - s) / 1000000))" >>"$WORK/$3.times"
	done
	kill -TERM $pid
	wait $pid || true
	local hits nohits other wrong
	hits=$(awk '$2==0' "$WORK/$3.times" | wc -l)
	nohits=$(awk '$2==3' "$WORK/$3.times" | wc -l)
	other=$(awk '$2!=0 && $2!=3' "$WORK/$3.times" | wc -l)
	# a hit for a stranger or no hit for someone enrolled (the empty hub knows nobody)
	wrong=n/a
	[ "$2" = empty ] || wrong=$(paste -d' ' "$WORK/probes/list" "$WORK/$3.times" | awk '($3=="enrolled" && $5!=0) || ($3=="stranger" && $5==0)' | wc -l)
	printf '%-8s serving after %5.1f s  p50 %4s ms  p99 %4s ms  hits %s  no hits %s  errors %s  wrong answers %s\n' \
		"$3" "$(echo "($t1 - $t0) / 1000000000" | bc -l)" \
		"$(awk '{print $3}' "$WORK/$3.times" | pct 0.5)" "$(awk '{print $3}' "$WORK/$3.times" | pct 0.99)" \
		"$hits" "$nohits" "$other" "$wrong"
}

echo "hit/no-hit queries: $Q per run, $RUNS runs; fixture $FIX holds $N people"
for r in $(seq 1 "$RUNS"); do
	one_run "$WORK/empty" empty "empty-$r"
	one_run "$FIX" fixture "fixture-$r"
done
