#!/usr/bin/env bash
# Starts orch-queue-dev (embedded etcd, durable) and runs orch-loadgen
# against it: 4 producers, 4 consumers, 100-byte messages, every message
# accounted for. Prints one line per run; exits non-zero if a message was
# lost. BIN (default bin) holds orch-queue-dev and orch-loadgen.
set -euo pipefail
BIN=${BIN:-bin}
DURATION=${DURATION:-20s}
ADDR=${ADDR:-127.0.0.1:19324}
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
"$BIN/orch-queue-dev" --listen "$ADDR" --data-dir "$DIR" >"$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://$ADDR/healthz" >/dev/null && break; sleep 0.1; done
LG=("$BIN/orch-loadgen" --endpoint "http://$ADDR" --producers 4 --consumers 4 --size 100)
echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
"${LG[@]}" --batch 10 --duration "$DURATION"
"${LG[@]}" --batch 1 --duration "$DURATION"
"${LG[@]}" --batch 1 --rate 500 --duration "$DURATION"
"${LG[@]}" --mode wake --rounds 100
