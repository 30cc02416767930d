# ECS API figures (docs/benchmarks.md): RunTask through the ECS API vs
# POST /v1/tasks, 100 concurrent clients, the two doors interleaved.
.PHONY: bench-ecs
bench-ecs:
	$(GO) test -run '^$$' -bench 'BenchmarkECSRunTaskVsV1' -benchtime 5x -timeout 15m ./test/bench/
