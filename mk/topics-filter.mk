# SNS filter policies (pkg/topic/filter): one message against 200
# subscriptions with a 5-key policy each, compiled policies against the
# naive baseline that re-parses every policy per message, both scopes.
#
#   make bench-filter         the benchmark, 3 runs (docs/benchmarks.md)
#   make fuzz-filter          fuzz Parse and Match, the in-place JSON reader against
#                             encoding/json, the validator against json.Valid
#                             (FUZZTIME each, default 30s)

FILTER_BENCH_COUNT ?= 3
FUZZTIME ?= 30s

.PHONY: bench-filter fuzz-filter

bench-filter:
	$(GO) test -run '^$$' -bench 'BenchmarkMatch200x5' -benchtime 2s -count $(FILTER_BENCH_COUNT) ./pkg/topic/filter/

fuzz-filter:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/topic/filter/
	$(GO) test -run '^$$' -fuzz '^FuzzWalk$$' -fuzztime $(FUZZTIME) ./pkg/topic/filter/
	$(GO) test -run '^$$' -fuzz '^FuzzValidJSON$$' -fuzztime $(FUZZTIME) ./pkg/topic/filter/
