#!/usr/bin/env bash
# Runs the same benchmarks on a base revision and on this tree, interleaved
# round by round on the same machine, and prints each figure's median, min and
# max for both plus the ratio head/base. Machines of our kind are noisy and
# differ by 2x, so a change is judged by this ratio, not by absolute figures.
#
#   BASE=<git rev> ROUNDS=3 TARGETS="bench-placement bench-queue bench-agent" ./scripts/bench-compare.sh
#
# Logs stay in $OUT (default: a temp dir, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-HEAD~1}
ROUNDS=${ROUNDS:-3}
TARGETS=${TARGETS:-bench-placement bench-queue bench-agent}
OUT=${OUT:-$(mktemp -d /tmp/bench-compare.XXXXXX)}
export QUEUE_BENCH_DURATION=${QUEUE_BENCH_DURATION:-10s}
# bench-queue's own rounds and its RabbitMQ side are for issue 18's side by
# side table; here the rounds are ours and only Orch is compared, over TLS
# (the server's default; its lines start with "batch=").
export QUEUE_BENCH_ROUNDS=${QUEUE_BENCH_ROUNDS:-1} QUEUE_BENCH_RABBITMQ=${QUEUE_BENCH_RABBITMQ:-0} QUEUE_BENCH_TRANSPORT=${QUEUE_BENCH_TRANSPORT:-tls}

base_rev=$(git rev-parse --short "$BASE")
head_rev=$(git describe --always --dirty)
wt="$OUT/base-tree"
git worktree add -q --detach "$wt" "$BASE"
trap 'git worktree remove --force "$wt" >/dev/null 2>&1 || true' EXIT

# Both sides use the example images built once from this tree (make -o
# images): rebuilding them per side would measure the build, and would swap
# images under anything else using Docker on this machine.
make --no-print-directory images >"$OUT/images.log" 2>&1 || { echo "make images failed: see $OUT/images.log"; exit 1; }
echo "base $base_rev, head $head_rev, $ROUNDS rounds of: $TARGETS"
echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
for r in $(seq "$ROUNDS"); do
	for side in base head; do
		dir=.
		[ "$side" = base ] && dir="$wt"
		log="$OUT/$side-$r.log"
		echo "round $r: $side ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
		make -C "$dir" --no-print-directory -o images $TARGETS >"$log" 2>&1 || { echo "  failed: see $log"; tail -20 "$log"; exit 1; }
	done
done
python3 scripts/bench-summary.py "$OUT"
echo "logs: $OUT"
