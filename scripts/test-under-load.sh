#!/usr/bin/env bash
# Runs `make test` RUNS times in a row (default 3) while stress-ng keeps
# every core busy, the way a developer's machine is busy with other work,
# and prints one line per run. This is how docs/testing.md's "green on a
# loaded machine" is checked. Logs go to LOGDIR (default a temp dir).
#
# Usage: scripts/test-under-load.sh        (needs stress-ng: apt-get install -y stress-ng)
# Env:   RUNS=3  LOAD_WORKERS=$(nproc)  LOGDIR=...
set -uo pipefail
cd "$(dirname "$0")/.."

command -v stress-ng >/dev/null || {
	echo "test-under-load: stress-ng not found: apt-get install -y stress-ng" >&2
	exit 1
}
runs="${RUNS:-3}"
workers="${LOAD_WORKERS:-$(nproc)}"
logdir="${LOGDIR:-$(mktemp -d /tmp/orch-test-under-load.XXXXXX)}"
mkdir -p "$logdir"

stress-ng --cpu "$workers" --timeout 4h --quiet &
stress_pid=$!
trap 'kill "$stress_pid" 2>/dev/null; wait "$stress_pid" 2>/dev/null' EXIT
echo "test-under-load: stress-ng --cpu $workers running (pid $stress_pid); $runs runs of make test; logs in $logdir"

failed=0
for i in $(seq 1 "$runs"); do
	start=$(date +%s)
	if make test >"$logdir/run$i.log" 2>&1; then
		result=PASS
	else
		result=FAIL
		failed=$((failed + 1))
	fi
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "run $i: $result in $(($(date +%s) - start)) s (load average at the end: $load) $logdir/run$i.log"
	if [ "$result" = FAIL ]; then
		grep -E '^(--- FAIL|FAIL|panic:)|_test.go:[0-9]+:' "$logdir/run$i.log" | head -20
	fi
done
echo "test-under-load: $((runs - failed)) of $runs runs passed"
[ "$failed" = 0 ]
