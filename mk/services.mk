# Service figures (docs/benchmarks-services.txt): a 100-task rolling update
# on the fake runtime, and rolling 5 tasks on real Docker (needs the images).
.PHONY: bench-services
bench-services: images
	$(GO) test -run '^$$' -bench 'BenchmarkServiceRolling' -benchtime 3x -timeout 20m ./test/bench/
