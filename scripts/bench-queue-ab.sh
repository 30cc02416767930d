#!/usr/bin/env bash
# Two orch builds side by side on one load, alternating run by run: the
# server CPU per message of each (utime+stime from /proc/<pid>/stat over
# messages received), for comparisons finer than bench-queue.sh's full
# table (issue 18). Each build runs its own `orch server` (TLS, local
# store, data dir in a temp dir); orch-loadgen comes from A's directory.
#
#   scripts/bench-queue-ab.sh DIR_A DIR_B ROUNDS DURATION CLIENT [orch-loadgen flags...]
#   e.g. scripts/bench-queue-ab.sh /tmp/main-bin bin 5 10s lean --batch 1 --receive-max 1
#
# CLIENT is sdk or lean. Prints one line per run: msgs/s, server µs per
# message, messages missing (a lost message fails the run), and, where
# `perf` can count the fdatasync tracepoint (root), the server's
# fdatasyncs per message (FSYNCS=0 skips it). PLAIN=1 runs both servers
# with --plain-http (the like-for-like comparison with plain AMQP);
# ENV_A and ENV_B are extra environment settings for each server (e.g.
# ENV_B="GOMAXPROCS=4"), so one build can be compared with itself.
# SYSCALLS=1 also counts, per message, the server's context switches and
# its futex, nanosleep (mostly Go's sysmon), epoll_pwait, read and write
# calls (goroutine hand-offs and thread wake-ups show there, not in pprof).
set -euo pipefail
[ $# -ge 5 ] || { sed -n 2,12p "$0"; exit 2; }
BA=$1 BB=$2 ROUNDS=$3 DUR=$4 CLIENT=$5
shift 5
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
DIR=$(mktemp -d /tmp/bench-queue-ab.XXXXXX)
pids=()
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" && wait "$p"; done 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
declare -A PID ADDR BIN=([A]=$BA [B]=$BB) XENV=([A]=${ENV_A:-} [B]=${ENV_B:-})
SCHEME=https PLAINFLAG=()
if [ "${PLAIN:-0}" = 1 ]; then SCHEME=http PLAINFLAG=(--plain-http); fi
for s in A B; do
	a=127.0.0.1:$(freeport)
	mkdir -p "$DIR/$s"
	# shellcheck disable=SC2086 # XENV is a list of NAME=value words
	env ${XENV[$s]} ORCH_CONFIG="$DIR/$s/config.yaml" "${BIN[$s]}/orch" server --listen "$a" "${PLAINFLAG[@]}" --data-dir "$DIR/$s/data" --log-level warn >"$DIR/$s/log" 2>&1 &
	pids+=($!)
	PID[$s]=$! ADDR[$s]=$a
	for _ in $(seq 300); do curl -skf "$SCHEME://$a/healthz" >/dev/null && [ -s "$DIR/$s/config.yaml" ] && break; sleep 0.1; done
done
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
FSYNCS=${FSYNCS:-1}
EVENTS=syscalls:sys_enter_fdatasync
if [ "${SYSCALLS:-0}" = 1 ]; then
	EVENTS=$EVENTS,context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_read,syscalls:sys_enter_write
fi
if [ "$FSYNCS" = 1 ] && ! perf stat -x, -e syscalls:sys_enter_fdatasync true >/dev/null 2>&1; then FSYNCS=0; fi
echo "A=$BA ${ENV_A:-} B=$BB ${ENV_B:-} client=$CLIENT $SCHEME $*; $(nproc) cores"
for r in $(seq "$ROUNDS"); do
	for s in A B; do
		eval "$(ORCH_CONFIG="$DIR/$s/config.yaml" "${BIN[$s]}/orch" aws-env)"
		if [ "$FSYNCS" = 1 ]; then
			perf stat -x, -e "$EVENTS" -p "${PID[$s]}" -o "$DIR/perf" &
			perf=$!
		fi
		t0=$(ticks "${PID[$s]}")
		out=$("$BA/orch-loadgen" --client "$CLIENT" --producers 4 --consumers 4 --size 100 --duration "$DUR" --endpoint "$SCHEME://${ADDR[$s]}" "$@") || { echo "$out"; exit 1; }
		t1=$(ticks "${PID[$s]}")
		n=$(sed -n 's/.* received \([0-9]*\) unique.*/\1/p' <<<"$out" | head -1)
		fs=
		if [ "$FSYNCS" = 1 ]; then
			kill -INT "$perf" && wait "$perf" || true
			fs=", fdatasyncs/msg $(awk -F, -v n="$n" '/fdatasync/ {printf "%.3f", $1/n}' "$DIR/perf")"
			if [ "${SYSCALLS:-0}" = 1 ]; then
				fs="$fs; per msg:$(awk -F, -v n="$n" '/^[0-9]/ && !/fdatasync/ {e=$3; sub(/.*sys_enter_/, "", e); printf " %s %.2f", e, $1/n}' "$DIR/perf")"
			fi
		fi
		rate=$(sed -n 's/.*: \([0-9]*\) msgs\/s.*/\1/p' <<<"$out")
		miss=$(sed -n 's/.*missing \([0-9]*\).*/\1/p' <<<"$out")
		p99=$(sed -n 's/.* p99 \([0-9.]*\) .*/\1/p' <<<"$out" | head -1)
		echo "round $r $s load $(cut -d' ' -f1 /proc/loadavg): $rate msgs/s, server $(((t1 - t0) * 1000000 / HZ / n)) us/msg, p99 $p99 ms, missing $miss$fs"
	done
done
