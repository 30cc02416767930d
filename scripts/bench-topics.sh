#!/usr/bin/env bash
# Starts a real `orch server` (embedded etcd, durable) and runs orch-loadgen
# (the stock aws-sdk-go-v2 clients) against it: first the queue baselines
# (10-message batches, single messages at a steady 500/s), then the topic
# figures on the same server in the same run: publishes/s to a topic with
# 10 durable queue subscriptions, and the latency from Publish returning to
# the message having been received from all 10 queues at 200 publishes/s,
# ROUNDS (default 3) rounds interleaved with as many that add one dead
# http subscriber (medians [min–max], the p99 ratio), between two runs of
# the raw etcd commit latency (pkg/store BenchmarkRawCommitLatency) as the
# disk's floor. The latency rounds run twice: with the stock SDK as the
# consumers (the headline), then with the lean SQS client as the consumers
# (orch-loadgen --client lean; the publisher stays the stock SNS client),
# which shows how much of the tail is the measuring client's own CPU on a
# machine it shares with the server. BIN (default bin) holds orch,
# orch-loadgen and store.test.
set -euo pipefail
BIN=${BIN:-bin}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
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
echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# baseline: queues"
"${LG[@]}" --producers 4 --consumers 4 --batch 10 --duration "$DURATION"
"${LG[@]}" --producers 4 --consumers 4 --batch 1 --rate 500 --duration "$DURATION"
echo "# topics: 10 durable queue subscriptions"
"${LG[@]}" --mode topic --subscribers 10 --producers 8 --batch 10 --duration "$DURATION"
"${LG[@]}" --mode topic --subscribers 10 --producers 8 --batch 1 --duration "$DURATION"
# The floor under the latency figure: the disk's own commit latency, with
# nothing above etcd, measured right before and after the latency rounds.
rawcommit() {
  echo "# baseline: raw etcd commit latency, one key per txn, one goroutine ($1; load: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN/store.test" -test.run '^$' -test.bench RawCommitLatency -test.benchtime 2000x | grep Benchmark
}
rawcommit before
echo "# latency and isolation at 200 publishes/s: $ROUNDS rounds without and $ROUNDS with one dead http subscriber (never answers), interleaved (load: $(cut -d' ' -f1-3 /proc/loadavg))"
"${LG[@]}" --mode topic-isolation --rounds "$ROUNDS" --subscribers 10 --producers 4 --rate 200 --duration "$DURATION"
echo "# the same with lean consumers (--client lean: the same SQS calls with a fraction of the SDK's CPU) (load: $(cut -d' ' -f1-3 /proc/loadavg))"
"${LG[@]}" --mode topic-isolation --client lean --rounds "$ROUNDS" --subscribers 10 --producers 4 --rate 200 --duration "$DURATION"
rawcommit after
