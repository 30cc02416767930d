#!/usr/bin/env bash
# Warm invoke throughput at concurrency 16 (issue 13), this tree against a
# base revision, interleaved round by round on the same machine: the same
# benchmark code (this tree's test/functions) is built against both
# revisions' product code, each run keeps a CPU profile, and each profile is
# split by part (pprof labels: client, server, agent) so the CPU per invoke
# of each part can be compared as well as the totals.
#
#   BASE=main ROUNDS=4 N=6000 ./scripts/bench-functions-c16.sh
#
# Prints every run's line and its profile's split; logs and profiles stay
# in $OUT. Needs Docker and the orch-example/receipt image (make images).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-main}
ROUNDS=${ROUNDS:-4}
N=${N:-6000}
OUT=${OUT:-$(mktemp -d /tmp/bench-fn-c16.XXXXXX)}
. scripts/functions-ab-lib.sh
build_function_tests
cd test/functions
for r in $(seq "$ROUNDS"); do
	sides="base head"
	[ $((r % 2)) -eq 0 ] && sides="head base"
	for name in C16 C16Lean; do
		for side in $sides; do
			echo "round $r $side $name ($(date -u +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"
			prof="$OUT/$side-$name-$r.prof"
			"$OUT/$side.test" -test.run '^$' -test.bench "BenchmarkEndpoint$name\$" -test.benchtime "${N}x" -test.count 1 \
				-test.timeout 10m -test.cpuprofile "$prof" 2>&1 | grep -E '^Benchmark|FAIL|panic' | sed "s/^/  $side /"
			go tool pprof -tags "$OUT/$side.test" "$prof" 2>/dev/null | grep -E '^ +[0-9.]+m?s ' | sed "s/^ */    tags /"
			go tool pprof -top "$OUT/$side.test" "$prof" 2>/dev/null | grep -m1 'Total samples' | sed 's/^/    /'
		done
	done
done
echo "end $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg); logs and profiles in $OUT"
