#!/usr/bin/env bash
# bench/peers/run.sh: the agent's proxy side by side with nginx, HAProxy and Caddy (Debian's
# packages, installed with apt when missing) and the backend directly, under the same
# keep-alive load: wrk -t2 -c64 on a 12-byte response, all on 127.0.0.1.
#
# The agent is the real binary, configured by the real control plane (--dev, in-memory
# store) through the pushroute example, exactly as an operator would.
#
#   bench/peers/run.sh                 # 5 s per target, 2 rounds
#   SECS=10 ROUNDS=3 bench/peers/run.sh
#   PPROF=1 bench/peers/run.sh         # also save a CPU profile of the agent under load
#   CONTROL_BIN=bin/edgeplane-control bench/peers/run.sh   # use a control plane already built
#   TRACING=off bench/peers/run.sh     # leave out edgeplane-trace (below): no redis-server,
#                                       # the control plane on its --dev store
#   BASE_AGENT_BIN=/tmp/old-agent bench/peers/run.sh        # also measure another agent build
#                                                           # (e.g. before a change), same run,
#                                                           # tracing off and (unless TRACING=off) on
#
# Targets: the backend directly; nginx as a user configures it (worker_processes auto,
# keep-alive to the backend) with access_log off, and the same nginx with access_log on
# (buffered, to a file: nginx-log); HAProxy; Caddy; the agent with request tracing off
# (edgeplane); a second agent with tracing on (edgeplane-trace: --redis-url to a real
# redis-server that the control plane, --insecure on loopback, also uses, so its metrics
# consumer counts and indexes every record as in production).
#
# Prints one line per target and round, then a markdown table of the medians: requests/s,
# share of direct, ratio to nginx, p50 and p99 latency, and CPU per request: the user+system
# time of the target's processes (/proc/<pid>/stat) over its wrk run divided by the requests
# wrk completed. For nginx that is the master and its workers; for edgeplane-trace the agent,
# the redis-server and the control plane (its consumers), each also shown on its own.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
cd "$(dirname "$0")/../.."

SECS=${SECS:-5}
ROUNDS=${ROUNDS:-2}
BACKEND=127.0.0.1:9100
NGINX=127.0.0.1:9101
HAPROXY=127.0.0.1:9102
CADDY=127.0.0.1:9103
AGENT=127.0.0.1:9104
AGENT_HTTPS=127.0.0.1:9105
AGENT_METRICS=127.0.0.1:9106
BASE_AGENT=127.0.0.1:9107
CP_GRPC=127.0.0.1:9110
CP_HTTP=127.0.0.1:9111
NGINX_LOG=127.0.0.1:9108
AGENT_TRACE=127.0.0.1:9109
REDIS_PORT=9112
BASE_AGENT_TRACE=127.0.0.1:9113
HOST=bench.test

need() {
	command -v "$1" >/dev/null 2>&1 && return
	echo "# installing $2" >&2
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need wrk wrk
need nginx nginx-light
need haproxy haproxy
need caddy caddy
need redis-server redis-server

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
DIR=$(mktemp -d "${TMPDIR:-/tmp}/edgeplane-peers.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[[ -f $DIR/nginx.pid ]] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
	[[ -f $DIR/haproxy.pid ]] && kill "$(cat "$DIR/haproxy.pid")" 2>/dev/null || true
	[[ -f $DIR/redis.pid ]] && kill "$(cat "$DIR/redis.pid")" 2>/dev/null || true
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$DIR"
}
trap cleanup EXIT

# wait_port HOST:PORT: until something accepts there (30 s at most).
wait_port() {
	local host=${1%:*} port=${1##*:} deadline=$((SECONDS + 30))
	until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
		if [ $SECONDS -ge $deadline ]; then echo "peers: nothing accepts on $1" >&2; exit 1; fi
		sleep 0.1
	done
}

echo "# building into $DIR" >&2
go build -o "$DIR/backend" ./bench/peers/backend
if [[ -n ${CONTROL_BIN:-} ]]; then cp "$CONTROL_BIN" "$DIR/edgeplane-control"; else go build -o "$DIR/edgeplane-control" ./controlplane; fi
CGO_ENABLED=0 go build -trimpath -o "$DIR/edgeplane-agent" ./agent
go build -o "$DIR/pushroute" ./controlplane/examples/pushroute

"$DIR/backend" "$BACKEND" & pids+=($!)

cat >"$DIR/nginx.conf" <<CONF
worker_processes auto;
pid $DIR/nginx.pid;
error_log $DIR/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  upstream be { server $BACKEND; keepalive 256; }
  server { listen $NGINX;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host; } }
  server { listen $NGINX_LOG;
    access_log $DIR/access.log combined buffer=64k flush=1s;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host; } }
}
CONF
cat >"$DIR/haproxy.cfg" <<CONF
global
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind $HAPROXY
  default_backend be
backend be
  http-reuse always
  server s1 $BACKEND
CONF
cat >"$DIR/Caddyfile" <<CONF
{
  admin off
  auto_https off
}
http://:${CADDY##*:} {
  bind ${CADDY%:*}
  reverse_proxy $BACKEND
}
CONF
nginx -c "$DIR/nginx.conf" -p "$DIR"
haproxy -f "$DIR/haproxy.cfg" -D -p "$DIR/haproxy.pid"
caddy run --config "$DIR/Caddyfile" --adapter caddyfile >"$DIR/caddy.log" 2>&1 & pids+=($!)

tracing=${TRACING:-on}
cp_store=(--dev)
if [[ $tracing == on ]]; then
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --dir "$DIR"
	wait_port "127.0.0.1:$REDIS_PORT"
	cp_store=(--insecure --redis-url "redis://127.0.0.1:$REDIS_PORT")
fi
"$DIR/edgeplane-control" "${cp_store[@]}" --agent-redis-url - --grpc-addr "$CP_GRPC" --http-addr "$CP_HTTP" \
	--log-level warn >"$DIR/control.log" 2>&1 & pids+=($!)
cp_pid=$!
wait_port "$CP_GRPC"
EDGEPLANE_PPROF=${PPROF:-0} "$DIR/edgeplane-agent" --control-plane "$CP_GRPC" --node-id bench \
	--http-addr "$AGENT" --https-addr "$AGENT_HTTPS" --metrics-addr "$AGENT_METRICS" \
	--cache-dir "$DIR/cache" --log-level warn >"$DIR/agent.log" 2>&1 & pids+=($!)
agent_pid=$!
wait_port "$AGENT"
if [[ $tracing == on ]]; then
	"$DIR/edgeplane-agent" --control-plane "$CP_GRPC" --node-id bench-trace --redis-url "redis://127.0.0.1:$REDIS_PORT" \
		--http-addr "$AGENT_TRACE" --https-addr - --metrics-addr 127.0.0.1:0 \
		--cache-dir "$DIR/cache-trace" --log-level warn >"$DIR/agent-trace.log" 2>&1 & pids+=($!)
	trace_pid=$!
	wait_port "$AGENT_TRACE"
fi
if [[ -n ${BASE_AGENT_BIN:-} ]]; then
	"$BASE_AGENT_BIN" --control-plane "$CP_GRPC" --node-id bench-base --http-addr "$BASE_AGENT" --https-addr - \
		--metrics-addr 127.0.0.1:0 --cache-dir "$DIR/cache-base" --log-level warn >"$DIR/agent-base.log" 2>&1 & pids+=($!)
	base_pid=$!
	wait_port "$BASE_AGENT"
	if [[ $tracing == on ]]; then
		"$BASE_AGENT_BIN" --control-plane "$CP_GRPC" --node-id bench-base-trace --redis-url "redis://127.0.0.1:$REDIS_PORT" \
			--http-addr "$BASE_AGENT_TRACE" --https-addr - --metrics-addr 127.0.0.1:0 --cache-dir "$DIR/cache-base-trace" \
			--log-level warn >"$DIR/agent-base-trace.log" 2>&1 & pids+=($!)
		base_trace_pid=$!
		wait_port "$BASE_AGENT_TRACE"
	fi
fi
"$DIR/pushroute" -addr "$CP_GRPC" -name bench -host "$HOST" -target "http://$BACKEND" >&2
for t in "$BACKEND" "$NGINX" "$NGINX_LOG" "$HAPROXY" "$CADDY"; do wait_port "$t"; done
until curl -fsS -o /dev/null -H "Host: $HOST" "http://$AGENT/"; do sleep 0.1; done

# Each target: name|URL|the processes its CPU time is read from (name:pid ...).
nginx_pids() { local m; m=$(cat "$DIR/nginx.pid"); echo "nginx:$m $(pgrep -P "$m" | sed 's/^/nginx:/' | tr '\n' ' ')"; }
targets=("direct|http://$BACKEND/|backend:${pids[0]}"
	"nginx|http://$NGINX/|$(nginx_pids)"
	"nginx-log|http://$NGINX_LOG/|$(nginx_pids)"
	"haproxy|http://$HAPROXY/|haproxy:$(cat "$DIR/haproxy.pid")"
	"caddy|http://$CADDY/|caddy:${pids[1]}"
	"edgeplane|http://$AGENT/|agent:$agent_pid")
if [[ $tracing == on ]]; then
	until curl -fsS -o /dev/null -H "Host: $HOST" "http://$AGENT_TRACE/"; do sleep 0.1; done
	targets+=("edgeplane-trace|http://$AGENT_TRACE/|agent:$trace_pid redis:$(cat "$DIR/redis.pid") cp:$cp_pid")
fi
if [[ -n ${BASE_AGENT_BIN:-} ]]; then
	until curl -fsS -o /dev/null -H "Host: $HOST" "http://$BASE_AGENT/"; do sleep 0.1; done
	targets+=("edgeplane-base|http://$BASE_AGENT/|agent:$base_pid")
	if [[ $tracing == on ]]; then
		until curl -fsS -o /dev/null -H "Host: $HOST" "http://$BASE_AGENT_TRACE/"; do sleep 0.1; done
		targets+=("edgeplane-base-trace|http://$BASE_AGENT_TRACE/|agent:$base_trace_pid redis:$(cat "$DIR/redis.pid") cp:$cp_pid")
	fi
fi
hz=$(getconf CLK_TCK)

# cpu_ticks name:pid...: one line per process, its name and the user+system clock ticks used.
cpu_ticks() {
	local np
	for np in "$@"; do
		awk -v n="${np%%:*}" '{print n, $14 + $15}' "/proc/${np#*:}/stat" 2>/dev/null || true
	done
}
# cpu_us BEFORE AFTER REQUESTS: "total parts", µs of CPU per request; parts: name:µs,...
cpu_us() {
	awk -v hz="$hz" -v n="$3" 'NR == FNR { b[$1] += $2; next } { a[$1] += $2; if (!($1 in o)) { o[$1] = ++k; name[k] = $1 } }
	END { for (i = 1; i <= k; i++) { v = (a[name[i]] - b[name[i]]) * 1e6 / hz / (n > 0 ? n : 1); t += v; p = p sprintf("%s%s:%.1f", i > 1 ? "," : "", name[i], v) }
	      printf "%.1f %s", t, p }' <(echo "$1") <(echo "$2")
}
results=$DIR/results.txt
for round in $(seq "$ROUNDS"); do
	direct=""
	for t in "${targets[@]}"; do
		IFS='|' read -r name url procs <<<"$t"
		if [[ $name == edgeplane && ${PPROF:-0} == 1 && $round == 1 ]]; then
			curl -fsS -o "${PROFILE:-/tmp/edgeplane-agent.pprof}" "http://$AGENT_METRICS/debug/pprof/profile?seconds=$((SECS > 1 ? SECS - 1 : 1))" &
			prof=$!
		fi
		# shellcheck disable=SC2086 # procs is a list
		before=$(cpu_ticks $procs)
		out=$(wrk -t2 -c64 -d"${SECS}s" --latency -H "Host: $HOST" "$url" 2>&1)
		# shellcheck disable=SC2086
		after=$(cpu_ticks $procs)
		[[ -n ${prof:-} ]] && { wait "$prof" || true; prof=""; echo "# agent CPU profile: ${PROFILE:-/tmp/edgeplane-agent.pprof}" >&2; }
		rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
		n=$(awk '/requests in/{print $1}' <<<"$out")
		p50=$(awk '$1=="50%"{print $2}' <<<"$out")
		p99=$(awk '$1=="99%"{print $2}' <<<"$out")
		errs=$(awk '/Non-2xx|Socket errors/{s=s $0 " "} END{print s}' <<<"$out")
		read -r cpu parts <<<"$(cpu_us "$before" "$after" "${n:-0}")"
		[[ $name == direct ]] && direct=$rps
		share=$(awk -v a="${rps:-0}" -v b="${direct:-1}" 'BEGIN{printf "%.2f", a/b}')
		echo "round=$round target=$name rps=${rps:-0} p50=${p50:-?} p99=${p99:-?} share_of_direct=$share cpu_us=$cpu cpu_parts=$parts ${errs}" | tee -a "$results"
	done
done

# Medians over rounds; ratio to nginx of the medians; latencies converted to ms.
echo
echo "## proxies on $(nproc) CPUs, wrk -t2 -c64 -d${SECS}s, $ROUNDS rounds (medians) — $(date -u +%Y-%m-%dT%H:%MZ)"
echo
awk '
function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
function median(list,   n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{
	for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	t = v["target"]; if (!(t in seen)) { seen[t] = 1; order[++n] = t }
	rps[t] = rps[t] " " v["rps"]; p50[t] = p50[t] " " ms(v["p50"]); p99[t] = p99[t] " " ms(v["p99"]); cpu[t] = cpu[t] " " v["cpu_us"]
	if (v["cpu_parts"] ~ /,/) parts[t] = parts[t] (parts[t] == "" ? "" : " / ") v["cpu_parts"]
}
END {
	d = median(rps["direct"]); g = median(rps["nginx"])
	print "| target | requests/s | share of direct | vs nginx | p50 ms | p99 ms | CPU µs/request |"
	print "|---|---|---|---|---|---|---|"
	for (i = 1; i <= n; i++) {
		t = order[i]; r = median(rps[t])
		printf "| %s | %.0f | %.2f | %.2fx | %.2f | %.2f | %.1f |\n", t, r, r / d, r / g, median(p50[t]), median(p99[t]), median(cpu[t])
	}
	print ""
	if ("nginx-log" in seen) printf "nginx-log vs nginx: %.2fx requests/s\n", median(rps["nginx-log"]) / g
	if ("edgeplane-trace" in seen) {
		l = ("nginx-log" in seen) ? median(rps["nginx-log"]) : g
		printf "edgeplane-trace: %.2fx nginx-log, %.2fx edgeplane (tracing off); CPU µs/request by process, per round: %s\n", \
			median(rps["edgeplane-trace"]) / l, median(rps["edgeplane-trace"]) / median(rps["edgeplane"]), parts["edgeplane-trace"]
	}
	if ("edgeplane-base-trace" in seen) printf "edgeplane-trace vs edgeplane-base-trace: %.2fx requests/s, %.2fx CPU µs/request; base by process, per round: %s\n", \
		median(rps["edgeplane-trace"]) / median(rps["edgeplane-base-trace"]), median(cpu["edgeplane-trace"]) / median(cpu["edgeplane-base-trace"]), parts["edgeplane-base-trace"]
	if ("edgeplane-base" in seen) printf "edgeplane vs edgeplane-base: %.2fx requests/s, %.2fx CPU µs/request\n", \
		median(rps["edgeplane"]) / median(rps["edgeplane-base"]), median(cpu["edgeplane"]) / median(cpu["edgeplane-base"])
}' "$results"
