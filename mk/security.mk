# Security figures (docs/benchmarks.md): what the audit log costs the write
# path, RunTask under 100 concurrent clients against a server with the
# audit log and one without, interleaved round by round.
.PHONY: bench-audit
bench-audit:
	$(GO) test -run '^$$' -bench 'BenchmarkAuditCost' -benchtime 5x -timeout 20m ./test/bench/

# The same for writes through the AWS protocols (CreateQueue recorded,
# SendMessage not), stock SQS SDK, audit on vs off interleaved.
.PHONY: bench-audit-aws
bench-audit-aws:
	$(GO) test -run '^$$' -bench 'BenchmarkAWSAuditCost' -benchtime 10x -timeout 20m ./test/bench/
