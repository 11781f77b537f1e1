#!/usr/bin/env bash
# `make run`: the control plane in --dev mode (embedded in-memory store) and one agent, both
# in the background of this script; Ctrl-C stops both. Expects bin/ from `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPC_ADDR=127.0.0.1:7000
HTTP_ADDR=127.0.0.1:7001
AGENT_HTTP_ADDR=127.0.0.1:8080
AGENT_HTTPS_ADDR=127.0.0.1:8443
AGENT_METRICS_ADDR=127.0.0.1:8081
CACHE_DIR=./tmp/dev-agent-cache
DEMO_ADDR=127.0.0.1:9000

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

# wait_port HOST:PORT SECONDS PID: until something accepts on HOST:PORT; fails if PID exits.
wait_port() {
  local host=${1%:*} port=${1##*:} deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
    if ! kill -0 "$3" 2>/dev/null; then echo "dev: process $3 exited before $1 accepted" >&2; return 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "dev: nothing accepts on $1 after $2s" >&2; return 1; fi
    sleep 0.1
  done
}

mkdir -p "$CACHE_DIR"
bin/edgeplane-control --dev --grpc-addr "$GRPC_ADDR" --http-addr "$HTTP_ADDR" &
pids+=($!)
wait_port "$GRPC_ADDR" 30 "${pids[0]}"

bin/edgeplane-agent --control-plane "$GRPC_ADDR" --node-id dev-agent \
  --http-addr "$AGENT_HTTP_ADDR" --https-addr "$AGENT_HTTPS_ADDR" \
  --metrics-addr "$AGENT_METRICS_ADDR" --cache-dir "$CACHE_DIR" &
pids+=($!)
wait_port "$AGENT_HTTP_ADDR" 30 "${pids[1]}"

# The example: a demo backend on $DEMO_ADDR (unless something already answers there) and a
# route hello.localhost -> it, applied with the CLI and served by the agent before we go on.
if (exec 3<>"/dev/tcp/${DEMO_ADDR%:*}/${DEMO_ADDR##*:}") 2>/dev/null; then
  echo "dev: $DEMO_ADDR is taken; the example route sends to whatever answers there" >&2
else
  bin/demo-backend "$DEMO_ADDR" &
  pids+=($!)
  wait_port "$DEMO_ADDR" 10 "${pids[2]}"
fi
bin/edgeplane --address "$GRPC_ADDR" --insecure apply --wait 10s -f - <<YAML
kind: Route
name: hello
hosts: [hello.localhost]
targets: [{url: "http://$DEMO_ADDR"}]
labels: {example: "make-run"}
YAML

cat <<MSG

edgeplane is running (Ctrl-C stops everything):
  dashboard      http://$HTTP_ADDR/ui/   <- open this in a browser
  control plane  gRPC $GRPC_ADDR  health/metrics http://$HTTP_ADDR   (pid ${pids[0]})
  agent          http://$AGENT_HTTP_ADDR  metrics http://$AGENT_METRICS_ADDR  (pid ${pids[1]})

The example route "hello" sends hello.localhost to a demo backend on $DEMO_ADDR. Try:
  curl -H 'Host: hello.localhost' http://$AGENT_HTTP_ADDR/
  for i in \$(seq 200); do curl -s -H 'Host: hello.localhost' http://$AGENT_HTTP_ADDR/ >/dev/null; done
  # then watch http://$HTTP_ADDR/ui/routes/hello while you curl: its charts move
  bin/edgeplane --address $GRPC_ADDR --insecure get routes
  grpcurl -plaintext $GRPC_ADDR list
  grpcurl -plaintext $GRPC_ADDR edgeplane.v1.RoutingService/ListRoutes
  grpcurl -plaintext $GRPC_ADDR edgeplane.v1.FleetService/ListAgents

MSG

# Either process exiting ends the session (and the trap stops the other).
status=0
wait -n "${pids[@]}" || status=$?
echo "dev: a process exited (status $status); stopping the other" >&2
exit "$status"
