# Before/after benchmark comparison on the same machine, interleaved:
#   make bench-compare BASE=<rev> [ROUNDS=3] [TARGETS="bench-placement bench-queue bench-agent"]
.PHONY: bench-compare
BASE ?= HEAD~1
ROUNDS ?= 3
bench-compare:
	BASE=$(BASE) ROUNDS=$(ROUNDS) $(if $(TARGETS),TARGETS="$(TARGETS)") ./scripts/bench-compare.sh
