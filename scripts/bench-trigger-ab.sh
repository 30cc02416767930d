#!/usr/bin/env bash
# The queue trigger's ratio to raw receive+delete (issue 13), this tree
# against a base revision, interleaved run by run on the same machine: the
# same benchmark code (this tree's test/functions) is built against both
# revisions' product code; each run is BenchmarkEndpointQueueTrigger's
# quiet handler (ROUNDS interleaved rounds of raw and trigger, N messages a
# side). At the end, per side: every metric's median [min-max] over the
# runs, and the median of every round's ratio.
#
#   BASE=main PAIRS=4 N=10000 ROUNDS=5 ./scripts/bench-trigger-ab.sh
#
# Read the ratio beside raw-others-cores / trigger-others-cores (the cores
# other work kept busy during the drains): on a shared machine the ratio
# follows them; the CPU per message of each side is what the code sets.
# Logs stay in $OUT. Needs Docker and the orch-example/receipt image
# (make images).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-main}
PAIRS=${PAIRS:-4}
N=${N:-10000}
ROUNDS=${ROUNDS:-5}
OUT=${OUT:-$(mktemp -d /tmp/bench-trigger-ab.XXXXXX)}
. scripts/functions-ab-lib.sh
build_function_tests
cd test/functions
for p in $(seq "$PAIRS"); do
	sides="base head"
	[ $((p % 2)) -eq 0 ] && sides="head base"
	for side in $sides; do
		echo "== $side pair $p ($(date -u +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"
		ORCH_BENCH_TRIGGER_ROUNDS=$ROUNDS "$OUT/$side.test" -test.run '^$' -test.bench 'BenchmarkEndpointQueueTrigger/handler=quiet' \
			-test.benchtime "${N}x" -test.count 1 -test.timeout 15m 2>&1 | grep -E '^Benchmark|rounds:|FAIL|panic' | tee -a "$OUT/$side.log"
	done
done
echo "end $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg); logs in $OUT"
python3 - "$OUT" <<'PY'
import re, statistics, sys
for side in ("base", "head"):
    metrics, rounds = {}, []
    for line in open(f"{sys.argv[1]}/{side}.log"):
        if line.startswith("Benchmark"):
            for v, k in re.findall(r"([\d.]+) (\S+)", line.split("\t", 2)[-1]):
                metrics.setdefault(k, []).append(float(v))
        m = re.search(r"ratio \[([^\]]*)\]", line)
        if m:
            rounds += [float(x) for x in m.group(1).split()]
    print(side)
    for k, v in sorted(metrics.items()):
        if k != "ns/op":
            print(f"  {k:22} {statistics.median(v):10.3f} [{min(v):.3f}-{max(v):.3f}] of {len(v)}")
    if rounds:
        print(f"  {'round ratios':22} {statistics.median(rounds):10.3f} [{min(rounds):.2f}-{max(rounds):.2f}] of {len(rounds)}")
PY
