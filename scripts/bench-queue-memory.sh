#!/usr/bin/env bash
# Memory under sustained queue load: starts a real `orch server` (embedded
# etcd, durable), runs RUNS back-to-back orch-loadgen runs (10-message
# batches, 4 producers, 4 consumers) and after each run, and again after
# IDLE seconds of idleness, prints the server's RSS, Go heap in use (from
# --debug-listen's pprof) and data dir size. The embedded etcd keeps a
# minute of history, so memory rises while the first runs fill it; after
# that it must stay flat: exits non-zero if RSS after the last run is more
# than GROWTH times RSS after the middle run plus 64 MiB (memory that keeps
# growing run after run is a leak or an unbounded cache), or if a message
# was lost (orch-loadgen fails). Use RUNS >= 4 and DURATION >= 30s. BIN holds orch and
# orch-loadgen.
#
# MESSAGES=N makes each run send exactly N messages (then drain) instead of
# sending for DURATION; CLIENT=lean uses orch-loadgen's lean SQS client (less
# client CPU on a shared machine, so a million messages fit in minutes).
# The queue store's own directory (DATA_DIR/queues) is sampled apart from the
# whole data dir: it must fall back to its drained bound (QUEUE_DIR_LIMIT MiB,
# see docs/queues.md, "Space") once the runs are over, or the script fails.
# SERVER_FLAGS adds flags to `orch server` (e.g. --queue-store etcd);
# IDLE_EVERY=s also samples every s seconds of the idle period.
set -euo pipefail
BIN=${BIN:-bin}
RUNS=${RUNS:-3}
DURATION=${DURATION:-20s}
MESSAGES=${MESSAGES:-0}
CLIENT=${CLIENT:-sdk}
IDLE=${IDLE:-60}
GROWTH=${GROWTH:-1.25}
QUEUE_DIR_LIMIT=${QUEUE_DIR_LIMIT:-0}
SERVER_FLAGS=${SERVER_FLAGS:-}
IDLE_EVERY=${IDLE_EVERY:-$IDLE}
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
ADDR=127.0.0.1:$(freeport)
DBG=127.0.0.1:$(freeport)
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
export ORCH_CONFIG="$DIR/config.yaml"
"$BIN/orch" server --listen "$ADDR" --data-dir "$DIR/data" --debug-listen "$DBG" --log-level warn $SERVER_FLAGS >"$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 300); do curl -skf "https://$ADDR/healthz" >/dev/null && [ -s "$ORCH_CONFIG" ] && break; sleep 0.1; done
eval "$("$BIN/orch" aws-env)"
rss() { awk '/^VmRSS/{printf "%d", $2/1024}' /proc/$PID/status; }
heap() { curl -sf "http://$DBG/debug/pprof/heap?debug=1" | awk '/^# HeapInuse = /{printf "%d", $4/1048576}'; }
disk() { du -sm "$DIR/data" | cut -f1; }
qdisk() { if [ -d "$DIR/data/queues" ]; then du -sm "$DIR/data/queues" | cut -f1; else echo 0; fi; }
sample() { printf '%-14s rss %5d MiB  heap-inuse %5d MiB  data-dir %5d MiB  queue-store %5d MiB  load %s\n' "$1" "$(rss)" "$(heap)" "$(disk)" "$(qdisk)" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
if [ "$MESSAGES" != 0 ]; then what="$MESSAGES messages"; runarg=(--messages "$MESSAGES"); else what=$DURATION; runarg=(--duration "$DURATION"); fi
echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ); binary $BIN/orch $SERVER_FLAGS; $RUNS runs of $what, client $CLIENT"
sample start
mid=0
for i in $(seq "$RUNS"); do
  "$BIN/orch-loadgen" --endpoint "https://$ADDR" --producers 4 --consumers 4 --size 100 --batch 10 --client "$CLIENT" "${runarg[@]}" | sed 's/^/  /'
  sample "after run $i"
  [ "$i" = $(( (RUNS + 1) / 2 )) ] && mid=$(rss)
done
last=$(rss)
# HEAP_PROFILE=file keeps the heap profile taken after the last run.
[ -n "${HEAP_PROFILE:-}" ] && curl -sf "http://$DBG/debug/pprof/heap" -o "$HEAP_PROFILE"
idled=0
while [ "$idled" -lt "$IDLE" ]; do
  step=$(( IDLE - idled < IDLE_EVERY ? IDLE - idled : IDLE_EVERY ))
  sleep "$step"
  idled=$(( idled + step ))
  sample "idle ${idled}s"
done
limit=$(awk -v f="$mid" -v g="$GROWTH" 'BEGIN{printf "%d", f*g+64}')
if [ "$last" -gt "$limit" ]; then
  echo "FAIL: RSS grew from $mid MiB after run $(( (RUNS + 1) / 2 )) to $last MiB after run $RUNS (limit $limit MiB)"
  exit 1
fi
echo "ok: RSS after run $RUNS is $last MiB, within $limit MiB ($GROWTH x run $(( (RUNS + 1) / 2 )) + 64 MiB)"
if [ "$QUEUE_DIR_LIMIT" != 0 ]; then
  q=$(qdisk)
  if [ "$q" -gt "$QUEUE_DIR_LIMIT" ]; then
    echo "FAIL: the drained queue store holds $q MiB after ${IDLE}s idle, over its bound of $QUEUE_DIR_LIMIT MiB"
    exit 1
  fi
  echo "ok: the drained queue store holds $q MiB, within $QUEUE_DIR_LIMIT MiB"
fi
