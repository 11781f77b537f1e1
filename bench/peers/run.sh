#!/usr/bin/env bash
# bench/peers/run.sh: the agent's proxy side by side with nginx, HAProxy and Caddy (Debian's
# packages, installed with apt when missing) and the backend directly, under the same
# keep-alive load: wrk -t2 -c64 on a 12-byte response, all on 127.0.0.1.
#
# The agent is the real binary, configured by the real control plane (--dev, in-memory
# store) through its API, exactly as an operator would: bench/peers/pushtls uploads a
# certificate (ECDSA P-256, made here with openssl, the one nginx uses too) and creates the
# route with it, served over HTTP and HTTPS.
#
#   bench/peers/run.sh                 # 5 s per target, 2 rounds
#   SECS=10 ROUNDS=3 bench/peers/run.sh
#   PPROF=1 bench/peers/run.sh         # also save CPU profiles of the agent under load, one per
#                                       # protocol: /tmp/edgeplane-agent{,-https,-h2}.pprof
#   CONTROL_BIN=bin/edgeplane-control bench/peers/run.sh   # use a control plane already built
#   AGENT_BIN=bin/edgeplane-agent bench/peers/run.sh       # and an agent
#   TRACING=off bench/peers/run.sh     # leave out edgeplane-trace (below): no redis-server,
#                                       # the control plane on its --dev store
#   BASE_AGENT_BIN=/tmp/old-agent bench/peers/run.sh        # also measure another agent build
#                                                           # (e.g. before a change), same run,
#                                                           # tracing off and (unless TRACING=off) on
#   ONLY="nginx edgeplane" bench/peers/run.sh              # only these targets (names below)
#   OUT=/tmp/results.txt bench/peers/run.sh  # also append the medians as bench=peers lines
#   PORT_BASE=19100 bench/peers/run.sh       # ports 19100-19116 instead of 9100-9116
#   AGENT_WORKERS=1 bench/peers/run.sh       # the agents' --workers (default auto, like
#                                            # nginx's worker_processes auto)
#   KEEP_LOGS=/tmp/logs bench/peers/run.sh   # copy the processes' logs there at the end
#
# Targets: the backend directly; nginx as a user configures it (worker_processes auto,
# keep-alive to the backend, Host, X-Real-IP and X-Forwarded-For/-Proto/-Host set) with access_log off, and the same nginx with access_log on
# (buffered, to a file: nginx-log); HAProxy; Caddy; the agent with request tracing off
# (edgeplane); a second agent with tracing on (edgeplane-trace: --redis-url to a real
# redis-server that the control plane, --insecure on loopback, also uses, so its metrics
# consumer counts and indexes every record as in production); both run with --workers auto
# (AGENT_WORKERS), as nginx runs worker_processes auto, and edgeplane-1p is the agent in one
# process (--workers 1, tracing off) beside them. Over TLS 1.3 (same
# certificate, same backend, tracing off): nginx-https and edgeplane-https with wrk over
# https (keep-alive, HTTP/1.1), nginx-h2 and edgeplane-h2 with h2load (Debian's
# nghttp2-client: -c64 -m1 -t2, one stream at a time per connection like wrk's load).
#
# Prints one line per target and round, then a markdown table of the medians: requests/s,
# share of direct, ratio to nginx, p50 and p99 latency, and CPU per request: the user+system
# time of the target's processes (/proc/<pid>/stat) over its wrk run divided by the requests
# wrk completed. For nginx that is the master and its workers; for an agent, it and its
# worker processes; for edgeplane-trace the agent (and its workers),
# the redis-server and the control plane (its consumers), each also shown on its own. Then
# the backend's CPU per request, the whole box's busy CPU per request (wrk, kernel and every
# process) and the box's idle share: on a box this small the proxy shares the CPUs with the
# load generator and the backend, so a proxy's own savings show in requests/s only as far
# as the rest of the box lets them.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
cd "$(dirname "$0")/../.."

SECS=${SECS:-5}
ROUNDS=${ROUNDS:-2}
P=${PORT_BASE:-9100} # ports P .. P+16 on 127.0.0.1
BACKEND=127.0.0.1:$((P + 0))
NGINX=127.0.0.1:$((P + 1))
HAPROXY=127.0.0.1:$((P + 2))
CADDY=127.0.0.1:$((P + 3))
AGENT=127.0.0.1:$((P + 4))
AGENT_HTTPS=127.0.0.1:$((P + 5))
AGENT_METRICS=127.0.0.1:$((P + 6))
BASE_AGENT=127.0.0.1:$((P + 7))
CP_GRPC=127.0.0.1:$((P + 10))
CP_HTTP=127.0.0.1:$((P + 11))
NGINX_LOG=127.0.0.1:$((P + 8))
AGENT_TRACE=127.0.0.1:$((P + 9))
REDIS_PORT=$((P + 12))
BASE_AGENT_TRACE=127.0.0.1:$((P + 13))
NGINX_TLS=127.0.0.1:$((P + 14))
BASE_AGENT_HTTPS=127.0.0.1:$((P + 15))
ONE_AGENT=127.0.0.1:$((P + 16))
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
need h2load nghttp2-client
need openssl openssl

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
DIR=$(mktemp -d "${TMPDIR:-/tmp}/edgeplane-peers.XXXXXX")
pids=()
cleanup() {
	local daemons=() p i
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in nginx haproxy redis; do
		[[ -f $DIR/$p.pid ]] && daemons+=("$(cat "$DIR/$p.pid")") && kill "${daemons[-1]}" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	# The daemons are not our children: wait (5 s at most) until they are gone, so that none
	# still writes into DIR while it is removed (that made rm fail, and the run with it).
	for i in $(seq 50); do
		for p in "${daemons[@]}"; do kill -0 "$p" 2>/dev/null && { sleep 0.1; continue 2; }; done
		break
	done
	rm -rf "$DIR" 2>/dev/null || { sleep 1; rm -rf "$DIR"; } || true
}
trap cleanup EXIT
[[ -n ${KEEP_LOGS:-} ]] && trap '{ mkdir -p "$KEEP_LOGS" && cp "$DIR"/*.log "$KEEP_LOGS"/; } 2>/dev/null || true; cleanup' EXIT

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
if [[ -n ${AGENT_BIN:-} ]]; then cp "$AGENT_BIN" "$DIR/edgeplane-agent"; else CGO_ENABLED=0 go build -trimpath -o "$DIR/edgeplane-agent" ./agent; fi
go build -o "$DIR/pushtls" ./bench/peers/pushtls
# One certificate for nginx and the agent: bench.test for h2load (SNI and :authority, with
# --connect-to), localhost for wrk (which sends the URL's host as SNI and -H's Host).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bench.test \
	-addext "subjectAltName=DNS:$HOST,DNS:localhost" -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
(umask 077 && openssl rand -hex 32 >"$DIR/secrets.key")

"$DIR/backend" "$BACKEND" & pids+=($!)

# The forwarding headers a production nginx sets (its reverse-proxy guide's block), so that the
# backend parses what it parses behind the agent, which sends these by default (and also
# Forwarded and a traceparent, which nginx is not asked for).
fwd='proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-Host $host;'
cat >"$DIR/nginx.conf" <<CONF
worker_processes auto;
pid $DIR/nginx.pid;
error_log $DIR/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  # nginx closes a client connection after 1,000 requests by default; h2load does not open
  # a new one (every h2 run stopped at 64 x 1,000 requests) and wrk pays a reconnect: lift it
  # so nginx is measured at its best, like the agent (which has no such limit).
  keepalive_requests 1000000000;
  upstream be { server $BACKEND; keepalive 256; keepalive_requests 1000000000; }
  server { listen $NGINX;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; $fwd } }
  server { listen $NGINX_LOG;
    access_log $DIR/access.log combined buffer=64k flush=1s;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; $fwd } }
  server { listen $NGINX_TLS ssl http2;
    ssl_certificate $DIR/cert.pem; ssl_certificate_key $DIR/key.pem; ssl_protocols TLSv1.3;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; $fwd } }
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
cp_store=(--dev --secrets-key-file "$DIR/secrets.key")
if [[ $tracing == on ]]; then
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --dir "$DIR"
	wait_port "127.0.0.1:$REDIS_PORT"
	cp_store=(--insecure --redis-url "redis://127.0.0.1:$REDIS_PORT" --secrets-key-file "$DIR/secrets.key")
fi
"$DIR/edgeplane-control" "${cp_store[@]}" --agent-redis-url - --grpc-addr "$CP_GRPC" --http-addr "$CP_HTTP" \
	--log-level warn >"$DIR/control.log" 2>&1 & pids+=($!)
cp_pid=$!
wait_port "$CP_GRPC"
workers=${AGENT_WORKERS:-auto}
EDGEPLANE_PPROF=${PPROF:-0} "$DIR/edgeplane-agent" --control-plane "$CP_GRPC" --node-id bench --workers "$workers" \
	--http-addr "$AGENT" --https-addr "$AGENT_HTTPS" --metrics-addr "$AGENT_METRICS" \
	--cache-dir "$DIR/cache" --log-level warn >"$DIR/agent.log" 2>&1 & pids+=($!)
agent_pid=$!
wait_port "$AGENT"
"$DIR/edgeplane-agent" --control-plane "$CP_GRPC" --node-id bench-1p --workers 1 --http-addr "$ONE_AGENT" --https-addr - \
	--metrics-addr 127.0.0.1:0 --cache-dir "$DIR/cache-1p" --log-level warn >"$DIR/agent-1p.log" 2>&1 & pids+=($!)
one_pid=$!
wait_port "$ONE_AGENT"
if [[ $tracing == on ]]; then
	"$DIR/edgeplane-agent" --control-plane "$CP_GRPC" --node-id bench-trace --workers "$workers" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
		--http-addr "$AGENT_TRACE" --https-addr - --metrics-addr 127.0.0.1:0 \
		--cache-dir "$DIR/cache-trace" --log-level warn >"$DIR/agent-trace.log" 2>&1 & pids+=($!)
	trace_pid=$!
	wait_port "$AGENT_TRACE"
fi
if [[ -n ${BASE_AGENT_BIN:-} ]]; then
	"$BASE_AGENT_BIN" --control-plane "$CP_GRPC" --node-id bench-base --http-addr "$BASE_AGENT" --https-addr "$BASE_AGENT_HTTPS" \
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
"$DIR/pushtls" -addr "$CP_GRPC" -name bench -host "$HOST" -target "http://$BACKEND" -cert "$DIR/cert.pem" -key "$DIR/key.pem" >&2
for t in "$BACKEND" "$NGINX" "$NGINX_LOG" "$NGINX_TLS" "$HAPROXY" "$CADDY"; do wait_port "$t"; done
until curl -fsS -o /dev/null -H "Host: $HOST" "http://$AGENT/"; do sleep 0.1; done
until curl -fsS -o /dev/null -H "Host: $HOST" "http://$ONE_AGENT/"; do sleep 0.1; done

# Each target: name|URL|the processes its CPU time is read from (name:pid ...).
nginx_pids() { local m; m=$(cat "$DIR/nginx.pid"); echo "nginx:$m $(pgrep -P "$m" | sed 's/^/nginx:/' | tr '\n' ' ')"; }
targets=("direct|http://$BACKEND/|backend:${pids[0]}"
	"nginx|http://$NGINX/|$(nginx_pids)"
	"nginx-log|http://$NGINX_LOG/|$(nginx_pids)"
	"haproxy|http://$HAPROXY/|haproxy:$(cat "$DIR/haproxy.pid")"
	"caddy|http://$CADDY/|caddy:${pids[1]}"
	"edgeplane|http://$AGENT/|agent:$agent_pid"
	"edgeplane-1p|http://$ONE_AGENT/|agent:$one_pid"
	"nginx-https|https://localhost:${NGINX_TLS##*:}/|$(nginx_pids)"
	"edgeplane-https|https://localhost:${AGENT_HTTPS##*:}/|agent:$agent_pid"
	"nginx-h2|https://$HOST:${NGINX_TLS##*:}/|$(nginx_pids)"
	"edgeplane-h2|https://$HOST:${AGENT_HTTPS##*:}/|agent:$agent_pid")
if [[ $tracing == on ]]; then
	until curl -fsS -o /dev/null -H "Host: $HOST" "http://$AGENT_TRACE/"; do sleep 0.1; done
	targets+=("edgeplane-trace|http://$AGENT_TRACE/|agent:$trace_pid redis:$(cat "$DIR/redis.pid") cp:$cp_pid")
fi
if [[ -n ${BASE_AGENT_BIN:-} ]]; then
	until curl -fsS -o /dev/null -H "Host: $HOST" "http://$BASE_AGENT/"; do sleep 0.1; done
	targets+=("edgeplane-base|http://$BASE_AGENT/|agent:$base_pid"
		"edgeplane-base-https|https://localhost:${BASE_AGENT_HTTPS##*:}/|agent:$base_pid"
		"edgeplane-base-h2|https://$HOST:${BASE_AGENT_HTTPS##*:}/|agent:$base_pid")
	if [[ $tracing == on ]]; then
		until curl -fsS -o /dev/null -H "Host: $HOST" "http://$BASE_AGENT_TRACE/"; do sleep 0.1; done
		targets+=("edgeplane-base-trace|http://$BASE_AGENT_TRACE/|agent:$base_trace_pid redis:$(cat "$DIR/redis.pid") cp:$cp_pid")
	fi
fi
if [[ -n ${ONLY:-} ]]; then
	kept=()
	for t in "${targets[@]}"; do [[ " $ONLY " == *" ${t%%|*} "* ]] && kept+=("$t"); done
	targets=("${kept[@]}")
fi
# Targets that are compared run back to back: nginx, edgeplane, edgeplane-trace, nginx-log,
# then each TLS pair (and each agent beside its BASE_AGENT_BIN twin); every other round runs
# them in reverse (direct always first), so a machine whose speed drifts during a round
# favours neither side of a pair.
rank() {
	local i=0 n
	for n in direct nginx edgeplane edgeplane-1p edgeplane-base edgeplane-trace edgeplane-base-trace nginx-log haproxy caddy \
		nginx-https edgeplane-https edgeplane-base-https nginx-h2 edgeplane-h2 edgeplane-base-h2; do
		[[ $n == "$1" ]] && { echo "$i"; return; }
		i=$((i + 1))
	done
	echo 99
}
mapfile -t targets < <(for t in "${targets[@]}"; do echo "$(rank "${t%%|*}") $t"; done | sort -n -s -k1,1 | cut -d' ' -f2-)
# settle: after a traced target's load, wait (at most 5 s) until the control plane's metrics
# consumer has read and acknowledged every record, so its catching up does not load the
# next target's run (it takes ~0.5 s of a core at most: the consumer keeps up during a run).
settle() {
	local i lp
	for i in $(seq 50); do
		lp=$(redis-cli -p "$REDIS_PORT" xinfo groups logs:request:stream 2>/dev/null | awk '/^(lag|pending)$/ { getline; s += $1 } END { print s + 0 }')
		[[ $lp == 0 ]] && return
		sleep 0.1
	done
}
until curl -fsSk -o /dev/null --connect-to "$HOST:${AGENT_HTTPS##*:}:$AGENT_HTTPS" "https://$HOST:${AGENT_HTTPS##*:}/"; do sleep 0.1; done
hz=$(getconf CLK_TCK)

# load NAME URL: SECS of keep-alive load; prints "rps requests p50 p99 errors". HTTP/1.1
# (plain or TLS) with wrk; targets named *-h2 with h2load (URL's host as SNI and :authority,
# connecting to 127.0.0.1), whose per-request log gives the percentiles.
load() {
	local name=$1 url=$2 out
	if [[ $name == *-h2 ]]; then
		local hp=${url#https://}
		hp=${hp%/}
		out=$(h2load -c64 -m1 -t2 -D "$SECS" --connect-to "127.0.0.1:${hp##*:}" --log-file "$DIR/h2.log" "$url" 2>&1)
		local lat
		lat=$(cut -f3 "$DIR/h2.log" | sort -n | awk '{ d[NR] = $1 } END { if (NR) printf "%.2fms %.2fms", d[int(NR * 0.5) + 1] / 1000, d[int(NR * 0.99) + 1] / 1000; else print "? ?" }')
		awk -v lat="$lat" '/^finished in/ { rps = $4 + 0 } /^requests:/ { n = $6; bad = $10 + $12 } /^status codes:/ { non2xx = $5 + $7 + $9 }
			END { printf "%s %s %s %s\n", rps + 0, n + 0, lat, (bad + non2xx > 0) ? sprintf("errors=%d non2xx=%d", bad, non2xx) : "" }' <<<"$out"
		rm -f "$DIR/h2.log"
		return
	fi
	out=$(wrk -t2 -c64 -d"${SECS}s" --latency -H "Host: $HOST" "$url" 2>&1)
	awk '/Requests\/sec/ { rps = $2 } /requests in/ { n = $1 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
		/Non-2xx|Socket errors/ { e = e $0 " " } END { print rps + 0, n + 0, p50 == "" ? "?" : p50, p99 == "" ? "?" : p99, e }' <<<"$out"
}

# cpu_ticks name:pid...: one line per process, its name and the user+system clock ticks used;
# an agent's worker processes (its children) count as the agent.
cpu_ticks() {
	local np p kids
	for np in "$@"; do
		kids=""
		[[ ${np%%:*} == agent ]] && kids=$(cat /proc/"${np#*:}"/task/*/children 2>/dev/null || true)
		for p in ${np#*:} $kids; do
			awk -v n="${np%%:*}" '{print n, $14 + $15}' "/proc/$p/stat" 2>/dev/null || true
		done
	done
}
# cpu_us BEFORE AFTER REQUESTS: "total parts", µs of CPU per request; parts: name:µs,...
cpu_us() {
	awk -v hz="$hz" -v n="$3" 'NR == FNR { b[$1] += $2; next } { a[$1] += $2; if (!($1 in o)) { o[$1] = ++k; name[k] = $1 } }
	END { for (i = 1; i <= k; i++) { v = (a[name[i]] - b[name[i]]) * 1e6 / hz / (n > 0 ? n : 1); t += v; p = p sprintf("%s%s:%.1f", i > 1 ? "," : "", name[i], v) }
	      printf "%.1f %s", t, p }' <(echo "$1") <(echo "$2")
}
# box_ticks: the backend's user+system ticks, then the whole machine's busy and idle ticks
# (/proc/stat: idle and iowait are idle; everything else, softirq included, is busy).
box_ticks() {
	awk '{print $14 + $15}' "/proc/${pids[0]}/stat"
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat
}
# box_us BEFORE AFTER REQUESTS: the backend's µs of CPU per request, the whole box's busy µs
# per request (load generator, kernel and every process included) and the idle share in %:
# where a proxy's savings go when the box, not the proxy, is the limit.
box_us() {
	awk -v hz="$hz" -v n="$3" 'NR == FNR { b[FNR] = $0; next } { a[FNR] = $0 }
	END { split(b[1], x, " "); split(a[1], y, " "); split(b[2], p, " "); split(a[2], q, " ")
	      n = n > 0 ? n : 1; busy = q[1] - p[1]; idle = q[2] - p[2]
	      printf "%.1f %.1f %.0f", (y[1] - x[1]) * 1e6 / hz / n, busy * 1e6 / hz / n, (busy + idle > 0) ? 100 * idle / (busy + idle) : 0 }' \
		<(echo "$1") <(echo "$2")
}
results=$DIR/results.txt
for round in $(seq "$ROUNDS"); do
	direct=""
	order=("${targets[@]}")
	if ((round % 2 == 0)); then
		order=()
		for ((i = ${#targets[@]} - 1; i >= 0; i--)); do
			[[ ${targets[i]%%|*} == direct ]] || order+=("${targets[i]}")
		done
		[[ ${targets[0]%%|*} == direct ]] && order=("${targets[0]}" "${order[@]}")
	fi
	for t in "${order[@]}"; do
		IFS='|' read -r name url procs <<<"$t"
		if [[ $name =~ ^edgeplane(-https|-h2)?$ && ${PPROF:-0} == 1 && $round == 1 ]]; then
			profile=/tmp/edgeplane-agent${name#edgeplane}.pprof
			curl -fsS -o "$profile" "http://$AGENT_METRICS/debug/pprof/profile?seconds=$((SECS > 1 ? SECS - 1 : 1))" &
			prof=$!
		fi
		# shellcheck disable=SC2086 # procs is a list
		before=$(cpu_ticks $procs)
		box_before=$(box_ticks)
		read -r rps n p50 p99 errs <<<"$(load "$name" "$url")"
		# shellcheck disable=SC2086
		after=$(cpu_ticks $procs)
		box_after=$(box_ticks)
		[[ -n ${prof:-} ]] && { wait "$prof" || true; prof=""; echo "# agent CPU profile: $profile" >&2; }
		read -r cpu parts <<<"$(cpu_us "$before" "$after" "${n:-0}")"
		read -r backend_us box_us idle <<<"$(box_us "$box_before" "$box_after" "${n:-0}")"
		[[ $name == direct ]] && direct=$rps
		share=$(awk -v a="${rps:-0}" -v b="${direct:-0}" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }')
		echo "round=$round target=$name rps=${rps:-0} p50=${p50:-?} p99=${p99:-?} share_of_direct=$share cpu_us=$cpu cpu_parts=$parts backend_us=$backend_us box_us=$box_us idle=$idle ${errs}" | tee -a "$results"
		[[ $procs == *" cp:"* ]] && settle
	done
done

# Medians over rounds. Each target is compared with the nginx that speaks its protocol
# (nginx-log for edgeplane-trace, nginx-https for *-https, nginx-h2 for *-h2), and
# edgeplane-trace also with edgeplane (tracing off): the ratio is the median of the ratios
# within each round (a round measures the targets back to back, seconds apart, so its ratio
# does not move with the machine's speed drifting between rounds, which on a shared 2-CPU
# machine swings requests/s by 10-30% within minutes), shown with each round's ratio and
# the ratio of the two targets' median requests/s. Latencies converted to ms. With OUT set,
# the same figures are appended to it as bench=peers lines (bench/summary.sh).
echo
echo "## proxies on $(nproc) CPUs, wrk -t2 -c64 -d${SECS}s (h2: h2load -c64 -m1 -t2), $ROUNDS rounds (medians) — $(date -u +%Y-%m-%dT%H:%MZ)"
echo
awk -v secs="$SECS" -v out="${OUT:-/dev/null}" '
function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
function median(list,   n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
function peer(t) {
	sub(/^edgeplane-base/, "edgeplane", t)
	if (t == "edgeplane-trace") return "nginx-log"
	if (t ~ /-https$/) return t == "nginx-https" ? "" : "nginx-https"
	if (t ~ /-h2$/) return t == "nginx-h2" ? "" : "nginx-h2"
	if (t == "direct" || t == "nginx" || t == "nginx-log") return ""
	return "nginx"
}
function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
# paired returns the median over rounds of the requests/s of t divided by those of q in the
# same round ("-" if no round measured both); perround, the ratio of each round, by "/".
function paired(t, q,   k, list, m) {
	list = ""; perround = ""
	for (k = 1; k <= nr; k++) {
		if (!(rr[t, rounds[k]] > 0 && rr[q, rounds[k]] > 0)) continue
		list = list " " rr[t, rounds[k]] / rr[q, rounds[k]]
		perround = perround (perround == "" ? "" : "/") ratio(rr[t, rounds[k]], rr[q, rounds[k]])
	}
	return list == "" ? "-" : sprintf("%.2f", median(list))
}
{
	delete v
	for (i = 1; i <= NF; i++) { p = index($i, "="); if (p) v[substr($i, 1, p - 1)] = substr($i, p + 1) }
	t = v["target"]; if (!(t in seen)) { seen[t] = 1; order[++n] = t }
	r = v["round"]; if (!(r in rseen)) { rseen[r] = 1; rounds[++nr] = r }
	rr[t, r] = v["rps"]
	rps[t] = rps[t] " " v["rps"]; p50[t] = p50[t] " " ms(v["p50"]); p99[t] = p99[t] " " ms(v["p99"]); cpu[t] = cpu[t] " " v["cpu_us"]
	bk[t] = bk[t] " " v["backend_us"]; box[t] = box[t] " " v["box_us"]; idl[t] = idl[t] " " v["idle"]
	if (v["cpu_parts"] ~ /,/) parts[t] = parts[t] (parts[t] == "" ? "" : " / ") v["cpu_parts"]
}
END {
	d = median(rps["direct"])
	print "| target | requests/s | share of direct | vs nginx (same protocol) | per round | p50 ms | p99 ms | CPU µs/request | CPU vs nginx | backend µs | box µs | idle % |"
	print "|---|---|---|---|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= n; i++) {
		t = order[i]; r = median(rps[t]); q = peer(t); g = (q in seen) ? median(rps[q]) : 0
		pr = (q in seen) ? paired(t, q) : "-"; per = (q in seen) ? perround : ""
		c = median(cpu[t]); gc = (q in seen) ? median(cpu[q]) : 0
		printf "| %s | %.0f | %s | %s | %s | %.2f | %.2f | %.1f | %s | %.1f | %.1f | %.0f |\n", t, r, ratio(r, d), \
			((q in seen) ? pr "x " q " (of medians " ratio(r, g) "x)" : "-"), (per == "" ? "-" : per), \
			median(p50[t]), median(p99[t]), c, (q == "" ? "-" : ratio(c, gc) "x"), median(bk[t]), median(box[t]), median(idl[t])
		printf "bench=peers target=%s rps=%.0f p50_ms=%.2f p99_ms=%.2f cpu_us=%.1f rounds=%d secs=%s", t, r, median(p50[t]), median(p99[t]), c, nr, secs >> out
		if (q in seen) printf " vs=%s ratio=%s ratio_rounds=%s ratio_of_medians=%s peer_cpu_us=%.1f", q, pr, per, ratio(r, g), gc >> out
		if (t == "edgeplane-trace" && ("edgeplane" in seen)) printf " vs_untraced=%s vs_untraced_rounds=%s vs_untraced_of_medians=%s untraced_cpu_us=%.1f", \
			paired(t, "edgeplane"), perround, ratio(r, median(rps["edgeplane"])), median(cpu["edgeplane"]) >> out
		printf "\n" >> out
	}
	print ""
	g = median(rps["nginx"])
	if (("nginx-log" in seen) && g > 0) printf "nginx-log vs nginx: %sx requests/s\n", ratio(median(rps["nginx-log"]), g)
	if ("edgeplane-trace" in seen) {
		l = ("nginx-log" in seen) ? median(rps["nginx-log"]) : g
		printf "edgeplane-trace: %sx nginx-log (of medians %sx), %sx edgeplane, tracing off (rounds %s, of medians %sx); CPU µs/request by process, per round: %s\n", \
			(("nginx-log" in seen) ? paired("edgeplane-trace", "nginx-log") : "-"), ratio(median(rps["edgeplane-trace"]), l), \
			paired("edgeplane-trace", "edgeplane"), perround, ratio(median(rps["edgeplane-trace"]), median(rps["edgeplane"])), parts["edgeplane-trace"]
	}
	if ("edgeplane-base-trace" in seen) printf "edgeplane-trace vs edgeplane-base-trace: %sx requests/s, %sx CPU µs/request; base by process, per round: %s\n", \
		ratio(median(rps["edgeplane-trace"]), median(rps["edgeplane-base-trace"])), ratio(median(cpu["edgeplane-trace"]), median(cpu["edgeplane-base-trace"])), parts["edgeplane-base-trace"]
	split("edgeplane edgeplane-https edgeplane-h2", base, " ")
	for (k = 1; k <= 3; k++) {
		t = base[k]; b = t; sub(/^edgeplane/, "edgeplane-base", b)
		if ((t in seen) && (b in seen)) printf "%s vs %s: %sx requests/s, %sx CPU µs/request\n", t, b, ratio(median(rps[t]), median(rps[b])), ratio(median(cpu[t]), median(cpu[b]))
	}
}' "$results"
