# Autoscaling figures (docs/benchmarks.md): first message at zero and backlog
# breach to a task RUNNING against `docker run -d`, a burst of 10,000 orders
# to the coffee shop's rush baristas (real Docker, the example images), and
# direction changes under an oscillating load (fake runtime, 3 minutes).
.PHONY: bench-autoscaling
bench-autoscaling: images
	$(GO) test -run '^$$' -bench 'BenchmarkAutoscaling' -benchtime 1x -timeout 40m -v ./test/bench/
