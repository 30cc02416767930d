# Functions (issue 13) on real Docker with the aws-lambda-go image
# (orch-example/receipt). The Endpoint benchmarks go through the server's
# endpoint with the stock aws-sdk-go-v2 clients (Lambda and SQS APIs,
# SigV4) to an in-process agent; the others measure the agent's pool alone.
# Figures and their baselines go to docs/benchmarks.md.
.PHONY: bench-functions bench-functions-agent
# Everything docs/benchmarks.md needs is printed: revision, machine, time,
# the load average before and after each step, every run's line, and each
# metric's median [min-max] over the runs (scripts/bench-summary.py; the
# logs stay in FN_BENCH_OUT). Baselines (docker run, raw queue consumers)
# are measured inside the same benchmarks. To compare with another revision
# interleaved: BASE=<rev> TARGETS=bench-functions ./scripts/bench-compare.sh
# The first step's pattern also runs BenchmarkEndpointC16Lean (the C16 run with
# a minimal SigV4 client: the second column). C16 split by part against a base
# revision, with CPU profiles: BASE=<rev> ./scripts/bench-functions-c16.sh
FN_BENCH_OUT ?= /tmp/orch-bench-functions
fn_bench = echo "== $(1) ($$(date -u +%H:%M:%S), load $$(cut -d' ' -f1-3 /proc/loadavg))"; \
	$(GO) test -run '^$$' -bench '$(1)' -benchtime $(2) -count 3 -timeout 15m ./test/functions/ >>$(FN_BENCH_OUT)/head-1.log 2>&1; rc=$$?; \
	grep -E '^(Benchmark|--- FAIL|FAIL|panic)' $(FN_BENCH_OUT)/head-1.log | tail -n +$$(($$(cat $(FN_BENCH_OUT)/.seen 2>/dev/null || echo 0)+1)); \
	grep -cE '^(Benchmark|--- FAIL|FAIL|panic)' $(FN_BENCH_OUT)/head-1.log >$(FN_BENCH_OUT)/.seen; \
	echo "   (ended $$(date -u +%H:%M:%S), load $$(cut -d' ' -f1-3 /proc/loadavg))"; [ $$rc -eq 0 ] || { tail -30 $(FN_BENCH_OUT)/head-1.log; exit $$rc; }
bench-functions: images
	@mkdir -p $(FN_BENCH_OUT) && rm -f $(FN_BENCH_OUT)/head-1.log $(FN_BENCH_OUT)/.seen
	@echo "bench-functions: $$(git describe --always --dirty 2>/dev/null), $$(nproc) cores ($$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $$(docker version -f 'Docker {{.Server.Version}}' 2>/dev/null), $$(date -u +%Y-%m-%dT%H:%MZ)"
	@$(call fn_bench,BenchmarkEndpointWarmInvoke|BenchmarkEndpointC16,5000x)
	@$(call fn_bench,BenchmarkEndpointColdStart,20x)
	@$(call fn_bench,BenchmarkEndpointQueueTrigger,10000x)
	@$(call fn_bench,BenchmarkEndpointQueueLatency,5000x)
	@echo "medians over the 3 runs (targets: docs/benchmarks.md; logs: $(FN_BENCH_OUT)):"
	@python3 scripts/bench-summary.py $(FN_BENCH_OUT) | sed 's/| base median \[min-max\] //; s/| - | \(.*\) | - |$$/| \1 |/; s/^| --- | --- | --- | --- |$$/| --- | --- |/; s/ | head\/base |$$/ |/'

# The agent's share alone (lambdart.Pool through the Runtime API).
bench-functions-agent: images
	$(GO) test -run '^$$' -bench 'BenchmarkWarmInvoke|BenchmarkThroughputC16' -benchtime 5000x -count 3 -timeout 10m ./test/functions/
	$(GO) test -run '^$$' -bench 'BenchmarkColdStart' -benchtime 20x -count 3 -timeout 10m ./test/functions/
	$(GO) test -run '^$$' -bench 'BenchmarkQueueTrigger' -benchtime 5000x -count 3 -timeout 10m ./test/functions/
