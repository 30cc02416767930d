# Functions (issue 13) on real Docker with the aws-lambda-go image
# (orch-example/receipt). The Endpoint benchmarks go through the server's
# endpoint with the stock aws-sdk-go-v2 clients (Lambda and SQS APIs,
# SigV4) to an in-process agent; the others measure the agent's pool alone.
# Figures and their baselines go to docs/benchmarks.md.
.PHONY: bench-functions bench-functions-agent
bench-functions: images
	$(GO) test -run '^$$' -bench 'BenchmarkEndpointWarmInvoke|BenchmarkEndpointC16' -benchtime 5000x -count 3 -timeout 15m ./test/functions/
	$(GO) test -run '^$$' -bench 'BenchmarkEndpointColdStart' -benchtime 20x -count 3 -timeout 15m ./test/functions/
	$(GO) test -run '^$$' -bench 'BenchmarkEndpointQueueTrigger' -benchtime 5000x -count 3 -timeout 15m ./test/functions/
	$(GO) test -run '^$$' -bench 'BenchmarkEndpointQueueLatency' -benchtime 5000x -count 3 -timeout 15m ./test/functions/

# The agent's share alone (lambdart.Pool through the Runtime API).
bench-functions-agent: images
	$(GO) test -run '^$$' -bench 'BenchmarkWarmInvoke|BenchmarkThroughputC16' -benchtime 5000x -count 3 -timeout 10m ./test/functions/
	$(GO) test -run '^$$' -bench 'BenchmarkColdStart' -benchtime 20x -count 3 -timeout 10m ./test/functions/
	$(GO) test -run '^$$' -bench 'BenchmarkQueueTrigger' -benchtime 5000x -count 3 -timeout 10m ./test/functions/
