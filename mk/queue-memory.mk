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
#                             QUEUE_MEMORY_MESSAGES=N sends exactly N messages per run
#                             instead of for QUEUE_MEMORY_DURATION (then drains);
#                             QUEUE_MEMORY_CLIENT=lean uses the lean SQS client.
#                             QUEUE_MEMORY_QUEUE_DIR_LIMIT=MiB fails the run if the drained
#                             queue store (DATA_DIR/queues) is bigger after the idle period.
#                             SERVER_FLAGS="--queue-store etcd" (environment) checks the etcd
#                             store; IDLE_EVERY=s samples every s seconds while idle.
#
#   Issue 18's ten million-message runs:
#   make bench-queue-memory QUEUE_MEMORY_RUNS=10 QUEUE_MEMORY_MESSAGES=1000000 \
#        QUEUE_MEMORY_CLIENT=lean QUEUE_MEMORY_IDLE=60 QUEUE_MEMORY_QUEUE_DIR_LIMIT=17

QUEUE_MEMORY_RUNS ?= 5
QUEUE_MEMORY_DURATION ?= 30s
QUEUE_MEMORY_MESSAGES ?= 0
QUEUE_MEMORY_CLIENT ?= sdk
QUEUE_MEMORY_IDLE ?= 120
QUEUE_MEMORY_QUEUE_DIR_LIMIT ?= 0
QUEUE_MEMORY_ENV = MESSAGES=$(QUEUE_MEMORY_MESSAGES) CLIENT=$(QUEUE_MEMORY_CLIENT) QUEUE_DIR_LIMIT=$(QUEUE_MEMORY_QUEUE_DIR_LIMIT)

.PHONY: bench-queue-memory

bench-queue-memory: build queue-tools
	@if [ -n "$(BASE_BIN)" ]; then BIN=$(BASE_BIN) RUNS=$(QUEUE_MEMORY_RUNS) DURATION=$(QUEUE_MEMORY_DURATION) IDLE=$(QUEUE_MEMORY_IDLE) GROWTH=1000 $(QUEUE_MEMORY_ENV) QUEUE_DIR_LIMIT=0 ./scripts/bench-queue-memory.sh; fi
	BIN=$(BIN) RUNS=$(QUEUE_MEMORY_RUNS) DURATION=$(QUEUE_MEMORY_DURATION) IDLE=$(QUEUE_MEMORY_IDLE) $(QUEUE_MEMORY_ENV) ./scripts/bench-queue-memory.sh
