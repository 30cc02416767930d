# Functions (issue 13): the agent's function path on real Docker with the
# aws-lambda-go image. Figures go to docs/benchmarks.md.
.PHONY: bench-functions
bench-functions: images
	$(GO) test -run '^$$' -bench 'BenchmarkWarmInvoke|BenchmarkThroughputC16' -benchtime 5000x -count 3 -timeout 10m ./test/functions/
	$(GO) test -run '^$$' -bench 'BenchmarkColdStart' -benchtime 20x -count 3 -timeout 10m ./test/functions/
	$(GO) test -run '^$$' -bench 'BenchmarkQueueTrigger' -benchtime 5000x -count 3 -timeout 10m ./test/functions/
