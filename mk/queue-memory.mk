# Queue server memory under sustained load (issue 12 item 8, issue 18).
#
#   make bench-queue-memory   QUEUE_MEMORY_RUNS back-to-back orch-loadgen runs of
#                             QUEUE_MEMORY_DURATION (10-message batches) against one
#                             real `orch server`; prints RSS, Go heap in use and data
#                             dir size after each run and after QUEUE_MEMORY_IDLE s idle;
#                             fails if RSS after the last run exceeds 1.25 x RSS after
#                             the middle one + 64 MiB, or a message is lost.
#                             BASE_BIN=dir also runs the binaries in dir first, as a
#                             baseline (e.g. an older build of orch and orch-loadgen).

QUEUE_MEMORY_RUNS ?= 5
QUEUE_MEMORY_DURATION ?= 30s
QUEUE_MEMORY_IDLE ?= 120

.PHONY: bench-queue-memory

bench-queue-memory: build queue-tools
	@if [ -n "$(BASE_BIN)" ]; then BIN=$(BASE_BIN) RUNS=$(QUEUE_MEMORY_RUNS) DURATION=$(QUEUE_MEMORY_DURATION) IDLE=$(QUEUE_MEMORY_IDLE) GROWTH=1000 ./scripts/bench-queue-memory.sh; fi
	BIN=$(BIN) RUNS=$(QUEUE_MEMORY_RUNS) DURATION=$(QUEUE_MEMORY_DURATION) IDLE=$(QUEUE_MEMORY_IDLE) ./scripts/bench-queue-memory.sh
