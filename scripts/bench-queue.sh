#!/usr/bin/env bash
# Starts a real `orch server` (embedded etcd, durable) and runs orch-loadgen
# (the stock aws-sdk-go-v2 client) against it with the credentials from
# `orch aws-env`: 4 producers, 4 consumers, 100-byte messages, every message
# accounted for. Prints one line per run; exits non-zero if a message was
# lost. BIN (default bin) holds orch and orch-loadgen.
set -euo pipefail
BIN=${BIN:-bin}
DURATION=${DURATION:-20s}
ADDR=${ADDR:-127.0.0.1:19324}
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
export ORCH_CONFIG="$DIR/config.yaml"
"$BIN/orch" server --listen "$ADDR" --data-dir "$DIR/data" --log-level warn >"$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://$ADDR/healthz" >/dev/null && [ -s "$ORCH_CONFIG" ] && break; sleep 0.1; done
eval "$("$BIN/orch" aws-env)"
LG=("$BIN/orch-loadgen" --endpoint "http://$ADDR" --producers 4 --consumers 4 --size 100)
echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
"${LG[@]}" --batch 10 --duration "$DURATION"
"${LG[@]}" --batch 1 --duration "$DURATION"
"${LG[@]}" --batch 1 --rate 500 --duration "$DURATION"
"${LG[@]}" --mode wake --rounds 100
