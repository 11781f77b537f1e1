#!/usr/bin/env bash
# bench/summary.sh: one table of issue 12's rows, now against goal, from the bench=<name>
# key=value lines one run wrote (bench/run.sh, bench/peers/run.sh with OUT set, and the
# programs under bench/cmd). A row whose program did not run, or printed nothing the row
# needs, says "not run".
#
#   bench/summary.sh /tmp/results.txt
#   OUT=/tmp/r.txt bench/run.sh    # runs everything and ends with this table
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: bench/summary.sh RESULTS" >&2; exit 2; }

awk '
function kv(line,   n, i, f, p) {
	delete v
	n = split(line, f, " ")
	for (i = 1; i <= n; i++) {
		p = index(f[i], "=")
		if (p > 0) v[substr(f[i], 1, p - 1)] = substr(f[i], p + 1)
	}
}
function keep(key,   k) { for (k in v) got[key, k] = v[k]; has[key] = 1 }
function g(key, k) { return got[key, k] }
function met(ok) { return ok ? "yes" : "**no**" }
function om(key, k) { return g(key, k) == "" ? "-" : g(key, k) }
function row(what, now, goal, ok) { printf "| %s | %s | %s | %s |\n", what, now, goal, ok }
function notrun(what, goal) { row(what, "not run", goal, "-") }
/^bench=/ {
	kv($0)
	b = v["bench"]
	if (v["status"] == "FAILED") { failed[b] = 1; next }
	if (b == "peers") keep("peers/" v["target"])
	else if (b == "propagation" && v["tls"] != "on") keep("propagation/" v["agents"])
	else if (b == "served" && v["run"] == "") keep("served/" v["routes"])
	else if (b == "coldstart" && v["run"] == "") keep("coldstart/" v["routes"])
	else if (b == "agentmem") keep("agentmem")
}
END {
	print "| what | now | goal | met |"
	print "|---|---|---|---|"

	# The proxy beside nginx (bench/peers/run.sh): requests/s ratio of the medians, the
	# ratio in each round, CPU per request.
	split("edgeplane|agent vs nginx, request tracing off|1.0;edgeplane-https|HTTPS (TLS 1.3, keep-alive, wrk) vs nginx|1.0;edgeplane-h2|HTTP/2 (h2load) vs nginx|1.0", px, ";")
	for (i = 1; i <= 3; i++) {
		split(px[i], f, "|"); k = "peers/" f[1]
		if (!has[k] || g(k, "ratio") == "") { notrun(f[2], ">= " f[3] "x nginx"); continue }
		row(f[2], sprintf("%sx %s (rounds %s; of medians %sx); CPU %s vs %s µs/request; p99 %s ms", g(k, "ratio"), g(k, "vs"), g(k, "ratio_rounds"), \
			om(k, "ratio_of_medians"), g(k, "cpu_us"), g(k, "peer_cpu_us"), g(k, "p99_ms")), ">= " f[3] "x nginx", met(g(k, "ratio") + 0 >= f[3]))
		if (i == 1) {
			k = "peers/edgeplane-1p"
			w = "agent in one process (--workers 1; the other agent rows run --workers auto, as nginx runs worker_processes auto), tracing off"
			if (has[k] && g(k, "ratio") != "")
				row(w, sprintf("%sx %s (rounds %s); CPU %s µs/request", g(k, "ratio"), g(k, "vs"), g(k, "ratio_rounds"), g(k, "cpu_us")), "(for reference)", "-")
			k = "peers/edgeplane-trace"
			w = "agent, request tracing on, vs nginx with access_log on, and vs tracing off"
			if (!has[k] || g(k, "ratio") == "") { notrun(w, ">= 1.0x nginx-log and >= 0.95x tracing off"); continue }
			row(w, sprintf("%sx nginx-log (rounds %s; of medians %sx), %sx tracing off (rounds %s; of medians %sx); CPU %s µs/request (agent + Redis + consumers) vs %s tracing off, %s nginx-log", \
				g(k, "ratio"), g(k, "ratio_rounds"), om(k, "ratio_of_medians"), g(k, "vs_untraced"), om(k, "vs_untraced_rounds"), om(k, "vs_untraced_of_medians"), \
				g(k, "cpu_us"), g(k, "untraced_cpu_us"), g(k, "peer_cpu_us")), \
				">= 1.0x nginx-log and >= 0.95x tracing off", met(g(k, "ratio") + 0 >= 1 && g(k, "vs_untraced") + 0 >= 0.95))
		}
	}

	# One route update until a real agent serves it (bench/cmd/served).
	n = split("10 10000 100000", sizes, " ")
	for (i = 1; i <= n; i++) {
		k = "served/" sizes[i]; w = sprintf("route update -> served by a real agent, %s routes", sizes[i])
		if (!has[k] || g(k, "p50_ms") == "") { notrun(w, "p50 <= 10 ms"); continue }
		row(w, sprintf("p50 %s ms%s", g(k, "p50_ms"), g(k, "p99_ms") == "" ? "" : ", p99 " g(k, "p99_ms") " ms"), "p50 <= 10 ms", met(g(k, "p50_ms") + 0 <= 10))
	}

	# A new agent starting on a big config (bench/cmd/coldstart), its memory per route.
	k = "coldstart/100000"; w = "cold agent start to serving, 100,000 routes"
	if (!has[k] || g(k, "ms") == "" || g(k, "ms") == "failed") notrun(w, "< 2 s")
	else row(w, sprintf("%s ms%s", g(k, "ms"), g(k, "snapshot_bytes") == "" ? "" : sprintf(" (snapshot %.1f MB)", g(k, "snapshot_bytes") / 1e6)), "< 2 s", met(g(k, "ms") + 0 < 2000))
	k = "agentmem"; w = "agent memory per route"
	if (!has[k] || g(k, "bytes_per_route") == "") notrun(w, "measured at 100,000 routes")
	else row(w, sprintf("%s bytes/route%s", g(k, "bytes_per_route"), g(k, "routes") == "" ? "" : " at " g(k, "routes") " routes"), "measured at 100,000 routes", "-")

	# Propagation to 10,000 agents (bench/cmd/propagation).
	k = "propagation/10000"; w = "propagation, 10,000 agents: commit -> all acked p99; control-plane CPU per agent per write"
	if (!has[k] || g(k, "commit_to_all_acked_p99_ms") == "") notrun(w, "p99 <= 250 ms; <= 10 µs")
	else {
		us = g(k, "cp_cpu_ms_per_write") * 1000 / 10000
		row(w, sprintf("p99 %s ms; %.1f µs", g(k, "commit_to_all_acked_p99_ms"), us), "p99 <= 250 ms; <= 10 µs", \
			met(g(k, "commit_to_all_acked_p99_ms") + 0 <= 250 && us <= 10))
	}
	for (b in failed) printf "\n%s: the program failed in this run (its rows say not run)\n", b
}' "$1"
