# Security figures (docs/benchmarks.md): what the audit log costs the write
# path, RunTask under 100 concurrent clients against a server with the
# audit log and one without, interleaved round by round.
.PHONY: bench-audit
bench-audit:
	$(GO) test -run '^$$' -bench 'BenchmarkAuditCost' -benchtime 5x -timeout 20m ./test/bench/
