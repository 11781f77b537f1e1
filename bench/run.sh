#!/usr/bin/env bash
# bench/run.sh: builds the control plane, the agent and the benchmark programs, runs them all
# against a private redis-server on 127.0.0.1 and prints a markdown table of the results;
# then the proxy beside nginx (bench/peers/run.sh, into the same results file), and last one
# table of issue 12's rows, now against goal, from everything this run measured
# (bench/summary.sh).
#
#   bench/run.sh                 # the whole suite (~6-8 minutes on 2 cores)
#   OUT=/tmp/results.txt bench/run.sh
#   PROPAGATION_ARGS="-agents=1,100,1000 -writes=20" bench/run.sh
#   BENCHES="served coldstart peers" bench/run.sh    # only these parts (default: all)
#   SECS=10 ROUNDS=9 bench/run.sh     # bench/peers/run.sh's variables pass through (ROUNDS: 7 here)
#
# Each program is also runnable alone, e.g. go run ./bench/cmd/propagation -agents=1000.
# Programs that need an agent (served, coldstart, agentmem) get -agent-bin; parts whose
# program does not exist in this tree are skipped, and their summary rows say "not run".
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
export PATH="$PATH:$(go env GOPATH)/bin"
cd "$(dirname "$0")/.."

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
DIR=$(mktemp -d "${TMPDIR:-/tmp}/edgeplane-bench.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
OUT=${OUT:-$DIR/results.txt}

BENCHES=${BENCHES:-propagation memory writes pipeline service served coldstart agentmem peers}
want() { [[ " $BENCHES " == *" $1 "* ]]; }

echo "# building into $DIR" >&2
go build -o "$DIR/edgeplane-control" ./controlplane
CGO_ENABLED=0 go build -trimpath -o "$DIR/edgeplane-agent" ./agent
for cmd in propagation memory writes pipeline service served coldstart agentmem; do
	if want "$cmd" && [[ -d bench/cmd/$cmd ]]; then go build -o "$DIR/$cmd" "./bench/cmd/$cmd"; fi
done

: >"$OUT"
run() {
	local name=$1
	shift
	[[ -x $DIR/$name ]] || return 0
	echo "# $name $*" >&2
	local start=$SECONDS
	if ! "$DIR/$name" -bin "$DIR/edgeplane-control" "$@" | tee -a "$OUT"; then
		echo "bench=$name status=FAILED" | tee -a "$OUT"
	fi
	echo "# $name took $((SECONDS - start))s" >&2
}
# shellcheck disable=SC2086 # the *_ARGS variables are word lists on purpose
run propagation ${PROPAGATION_ARGS:--agents=1,100,1000,10000 -writes=50}
# mTLS against plaintext at 1,000 agents, one connection per agent in both (goal: p99 < 5% worse)
# shellcheck disable=SC2086
run propagation ${PROPAGATION_TLS_ARGS:--agents=1000 -writes=50 -tls=off,on -repeat=3}
# shellcheck disable=SC2086
run memory ${MEMORY_ARGS:--agents=10000}
# shellcheck disable=SC2086
run writes ${WRITES_ARGS:--clients=16 -duration=5s -agents=0,100}
# shellcheck disable=SC2086
run pipeline ${PIPELINE_ARGS:--rate=20000 -duration=5s}
if docker info >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	run service ${SERVICE_ARGS:--runs=10 -via=agent}
fi
# Issue 12's agent-side programs: change to served at 10/10,000/100,000 routes, cold start at
# 100,000 routes, memory per route.
# shellcheck disable=SC2086
run served -agent-bin "$DIR/edgeplane-agent" ${SERVED_ARGS:-}
# shellcheck disable=SC2086
run coldstart -agent-bin "$DIR/edgeplane-agent" ${COLDSTART_ARGS:-}
# shellcheck disable=SC2086
run agentmem -agent-bin "$DIR/edgeplane-agent" ${AGENTMEM_ARGS:-}

echo
echo "## edgeplane control-plane benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
echo
awk '
function kv(line,   n, i, f, p) {
	delete v
	n = split(line, f, " ")
	for (i = 1; i <= n; i++) {
		p = index(f[i], "=")
		if (p > 0) v[substr(f[i], 1, p - 1)] = substr(f[i], p + 1)
	}
}
function pass(x) { return x == "true" ? "yes" : (x == "false" ? "**NO**" : "-") }
BEGIN {
	print "| benchmark | setup | result | goal | met |"
	print "|---|---|---|---|---|"
}
/^bench=/ {
	kv($0)
	b = v["bench"]
	if (v["status"] == "FAILED") {
		printf "| %s | | **run failed** | | |\n", b
	} else if (b == "propagation") {
		printf "| propagation | %s agents, %s writes%s | commit to all acked p50 %s ms, p99 %s ms (call start to all: p99 %s ms; per agent p50 %s / p99 %s ms; fleet status lag %s ms) | %s | %s |\n", \
			v["agents"], v["writes"], (v["tls"] == "" ? "" : ", tls " v["tls"] ", " v["conns"] " conns"), v["commit_to_all_acked_p50_ms"], v["commit_to_all_acked_p99_ms"], \
			v["call_start_to_all_p99_ms"], v["per_agent_p50_ms"], v["per_agent_p99_ms"], v["fleet_status_lag_ms"], \
			(v["goal_p99_ms"] == "-" ? "-" : "p99 <= " v["goal_p99_ms"] " ms"), pass(v["pass"])
	} else if (b == "propagation-tls-ratio") {
		printf "| propagation, mTLS vs plaintext | %s agents, medians of %s alternating runs each | commit to all acked p50 %s vs %s ms (x%s), p99 %s vs %s ms (x%s); control-plane CPU per write x%s | p99 < 1.05x | %s |\n", \
			v["agents"], v["repeats"], v["median_p50_ms_on"], v["median_p50_ms_off"], v["p50_ratio"], v["median_p99_ms_on"], v["median_p99_ms_off"], \
			v["p99_ratio"], v["cpu_ratio"], (v["p99_ratio"] + 0 < 1.05 ? "yes" : "**NO**")
	} else if (b == "memory") {
		printf "| memory | %s idle agents | %s KiB RSS per agent (RSS %s -> %s KiB; Go heap %s KiB + stacks %s KiB per agent) | <= %s KiB | %s |\n", \
			v["agents"], v["per_agent_kib"], v["rss0_kib"], v["rssN_kib"], v["heap_per_agent_kib"], v["stacks_per_agent_kib"], v["goal_kib"], pass(v["pass"])
	} else if (b == "writes_baseline") {
		printf "| redis INCR baseline | %s clients, go-redis | %s ops/s, p50 %s ms, p99 %s ms | - | - |\n", \
			v["clients"], v["ops_per_s"], v["p50_ms"], v["p99_ms"]
	} else if (b == "pipeline") {
		printf "| request to metrics | %s records/s for %s s | lag p50 %s ms, p99 %s ms, max %s ms; %s published, %s counted (exact: %s) | p99 < %s ms | %s |\n", \
			v["rate"], v["duration_s"], v["lag_p50_ms"], v["lag_p99_ms"], v["lag_max_ms"], v["published"], v["counted"], v["exact"], v["goal_p99_ms"], pass(v["pass"])
	} else if (b == "service") {
		printf "| CreateService to first 200 | %s runs via %s | p50 %s ms, p99 %s ms (CreateService call p50 %s ms) | - | - |\n", \
			v["runs"], v["via"], v["first_200_p50_ms"], v["first_200_p99_ms"], v["create_p50_ms"]
	} else if (b == "writes") {
		printf "| writes | %s clients, %s agents | %s CreateRoute/s (%s of Redis INCR/s), p50 %s ms, p99 %s ms; CPU%%: cp %s, redis %s, bench %s, other %s | >= %s/s | %s |\n", \
			v["clients"], v["agents"], v["writes_per_s"], v["share_of_redis_incr"], v["p50_ms"], v["p99_ms"], \
			v["cp_cpu_pct"], v["redis_cpu_pct"], v["bench_cpu_pct"], v["other_cpu_pct"], v["goal_per_s"], pass(v["pass"])
	}
}' "$OUT"

if want peers; then
	echo
	# Five rounds by default: one round's ratio to nginx moves by +-5% on this 2-CPU box (where
	# the scheduler puts wrk's threads), the median of five much less.
	if ! ROUNDS="${ROUNDS:-7}" OUT="$OUT" CONTROL_BIN="$DIR/edgeplane-control" AGENT_BIN="$DIR/edgeplane-agent" bench/peers/run.sh; then
		echo "bench=peers status=FAILED" | tee -a "$OUT"
	fi
fi

echo
echo "## issue 12: every row, now against goal ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, one run)"
echo
bench/summary.sh "$OUT"
