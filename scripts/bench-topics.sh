#!/usr/bin/env bash
# Starts a real `orch server` (embedded etcd, durable) and runs orch-loadgen
# (the stock aws-sdk-go-v2 clients) against it: first the queue baselines
# (10-message batches, single messages at a steady 500/s), then the topic
# figures on the same server in the same run: publishes/s to a topic with
# 10 durable queue subscriptions, and the latency from Publish returning to
# the message having been received from all 10 queues at 200 publishes/s.
# BIN (default bin) holds orch and orch-loadgen.
set -euo pipefail
BIN=${BIN:-bin}
DURATION=${DURATION:-10s}
ADDR=${ADDR:-127.0.0.1:0}
if [ "$ADDR" = 127.0.0.1:0 ]; then
  ADDR=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fi
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
export ORCH_CONFIG="$DIR/config.yaml"
"$BIN/orch" server --listen "$ADDR" --data-dir "$DIR/data" --log-level warn >"$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -skf "https://$ADDR/healthz" >/dev/null && [ -s "$ORCH_CONFIG" ] && break; sleep 0.1; done
eval "$("$BIN/orch" aws-env)"
LG=("$BIN/orch-loadgen" --endpoint "https://$ADDR" --size 100)
echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# baseline: queues"
"${LG[@]}" --producers 4 --consumers 4 --batch 10 --duration "$DURATION"
"${LG[@]}" --producers 4 --consumers 4 --batch 1 --rate 500 --duration "$DURATION"
echo "# topics: 10 durable queue subscriptions"
"${LG[@]}" --mode topic --subscribers 10 --producers 8 --batch 10 --duration "$DURATION"
"${LG[@]}" --mode topic --subscribers 10 --producers 8 --batch 1 --duration "$DURATION"
"${LG[@]}" --mode topic-latency --subscribers 10 --producers 4 --rate 200 --duration "$DURATION"
echo "# isolation: the same latency run with one dead http subscriber added (never answers); compare with the line above"
"${LG[@]}" --mode topic-latency --subscribers 10 --producers 4 --rate 200 --duration "$DURATION" --dead-http
