#!/usr/bin/env bash
# Starts real `orch server`s (embedded etcd, durable) and runs orch-loadgen
# (the stock aws-sdk-go-v2 client) against them with the credentials from
# `orch aws-env`: 4 producers, 4 consumers, 100-byte messages, every message
# accounted for. Two servers run side by side: one with TLS (the default)
# and one with --plain-http; each load runs on both, interleaved, so the
# cost of TLS is measured on the same (noisy) machine in the same minute.
# Each line ends with the server's CPU time per 1,000 messages (from
# /proc), a figure less at the mercy of other processes on a busy machine
# than throughput. Prints one line per run; exits non-zero if a message was lost. BIN
# (default bin) holds orch and orch-loadgen. MODES="tls plain" picks them.
set -euo pipefail
BIN=${BIN:-bin}
DURATION=${DURATION:-20s}
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

run() { # args...: one load on every mode, interleaved
  for m in $MODES; do
    local pid before out sent
    pid=$(cat "$DIR/$m/pid")
    before=$(cpu_ticks "$pid")
    out=$( set -a; . "$DIR/$m/env"; set +a
      "$BIN/orch-loadgen" --endpoint "$AWS_ENDPOINT_URL" --producers 4 --consumers 4 --size 100 "$@" )
    sent=$(sed -n 's/.*sent \([0-9]*\).*/\1/p' <<<"$out")
    printf '%-5s %s' "$m" "$out"
    if [ -n "$sent" ] && [ "$sent" -gt 0 ]; then
      awk -v t=$(( $(cpu_ticks "$pid") - before )) -v hz="$(getconf CLK_TCK)" -v n="$sent" \
        'BEGIN { printf "; server cpu %.1f ms per 1000 msgs", t * 1000 / hz * 1000 / n }'
    fi
    echo
  done
}

echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
run --batch 10 --duration "$DURATION"
run --batch 1 --duration "$DURATION"
run --batch 1 --rate 500 --duration "$DURATION"
run --mode wake --rounds 100
