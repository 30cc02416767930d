#!/usr/bin/env bash
# Starts real `orch server`s (embedded etcd, durable) and runs orch-loadgen
# (the stock aws-sdk-go-v2 client) against them with the credentials from
# `orch aws-env`: 4 producers, 4 consumers, 100-byte messages, every message
# accounted for. Two servers run side by side: one with TLS (the default)
# and one with --plain-http; each load runs on both, interleaved, so the
# cost of TLS is measured on the same (noisy) machine in the same minute.
# Each line ends with the server's CPU time per 1,000 messages (from
# /proc), a figure less at the mercy of other processes on a busy machine
# than throughput, and per request (orch-loadgen counts its calls: the
# calls per message move with how full each receive comes back). Prints
# one line per run, then (with both modes) a table of medians [min-max]
# over ROUNDS rounds and the per-round TLS/plain ratios;
# exits non-zero if a message was lost. BIN (default bin) holds orch and
# orch-loadgen. MODES="tls plain" picks them; ROUNDS (default 1).
set -euo pipefail
BIN=${BIN:-bin}
DURATION=${DURATION:-20s}
ROUNDS=${ROUNDS:-1}
here=$(cd "$(dirname "$0")" && pwd)
ADDR=${ADDR:-127.0.0.1:19324}
PLAIN_ADDR=${PLAIN_ADDR:-127.0.0.1:19325}
MODES=${MODES:-tls plain}
DIR=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "$DIR"' EXIT

start() { # mode addr
  local mode=$1 addr=$2 extra=() scheme=https
  if [ "$mode" = plain ]; then extra=(--plain-http); scheme=http; fi
  mkdir -p "$DIR/$mode"
  ORCH_CONFIG="$DIR/$mode/config.yaml" "$BIN/orch" server --listen "$addr" --data-dir "$DIR/$mode/data" \
    --log-level warn "${extra[@]}" >"$DIR/$mode/server.log" 2>&1 &
  PIDS+=($!)
  echo $! >"$DIR/$mode/pid"
  for _ in $(seq 600); do curl -skf "$scheme://$addr/healthz" >/dev/null && [ -s "$DIR/$mode/config.yaml" ] && break; sleep 0.1; done
  ORCH_CONFIG="$DIR/$mode/config.yaml" "$BIN/orch" aws-env >"$DIR/$mode/env"
}

for m in $MODES; do
  if [ "$m" = plain ]; then start plain "$PLAIN_ADDR"; else start tls "$ADDR"; fi
done

cpu_ticks() { # pid: user+system clock ticks so far
  awk '{print $14+$15}' "/proc/$1/stat"
}

run() { # args...: one load on every mode, interleaved (in ORDER)
  for m in $ORDER; do
    local pid before out sent
    pid=$(cat "$DIR/$m/pid")
    before=$(cpu_ticks "$pid")
    out=$( set -a; . "$DIR/$m/env"; set +a
      "$BIN/orch-loadgen" --endpoint "$AWS_ENDPOINT_URL" --producers 4 --consumers 4 --size 100 "$@" )
    sent=$(sed -n 's/.*sent \([0-9]*\).*/\1/p' <<<"$out")
    printf '%-5s %s' "$m" "$out"
    calls=$(sed -n 's/.*; \([0-9]*\) calls;.*/\1/p' <<<"$out")
    if [ -n "$sent" ] && [ "$sent" -gt 0 ]; then
      awk -v t=$(( $(cpu_ticks "$pid") - before )) -v hz="$(getconf CLK_TCK)" -v n="$sent" -v c="${calls:-0}" \
        'BEGIN { printf "; server cpu %.1f ms per 1000 msgs", t * 1000 / hz * 1000 / n
                 if (c > 0) printf ", %.1f us per call", t * 1e6 / hz / c }'
    fi
    echo
  done
}

echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1 /proc/loadavg); $ROUNDS round(s) of $DURATION"
for r in $(seq "$ROUNDS"); do
  # Odd rounds run the modes in MODES order, even rounds reversed, so that
  # neither mode always runs right after the other's heavier load.
  ORDER=$MODES
  if [ $((r % 2)) = 0 ]; then ORDER=$(tr ' ' '\n' <<<"$MODES" | tac | tr '\n' ' '); fi
  echo "round $r ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg)), order $ORDER"
  run --batch 10 --duration "$DURATION"
  run --batch 1 --duration "$DURATION"
  run --batch 1 --rate 500 --duration "$DURATION"
  run --mode wake --rounds 100
done | tee "$DIR/runs.log"
if grep -q 'missing [1-9]' "$DIR/runs.log"; then echo "a message was lost" >&2; exit 1; fi
[ "$MODES" = "tls plain" ] && python3 "$here/bench-queue-tls-summary.py" "$DIR/runs.log"
exit 0
