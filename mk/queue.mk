# Queue service: the SQS load benchmark and the client conformance tests.
#
#   make bench-queue          Orch and RabbitMQ side by side (issue 18), interleaved
#                             for QUEUE_BENCH_ROUNDS rounds: throughput (10-message
#                             batches and single messages), latency at a steady
#                             500 msg/s, server CPU per message; the long-poll
#                             wake-up; a table of medians and ratios. A real
#                             `orch server`, a private RabbitMQ node and the load
#                             generator are separate processes on this machine.
#                             QUEUE_BENCH_BASE_BIN=dir adds an older orch build
#                             (before/after in the same run), started with
#                             QUEUE_BENCH_BASE_FLAGS (QUEUE_BENCH_BASE_BIN=bin
#                             QUEUE_BENCH_BASE_FLAGS="--queue-store etcd": the
#                             local store against etcd); QUEUE_BENCH_RABBITMQ=0
#                             runs Orch only. Transport security like for like:
#                             QUEUE_BENCH_TRANSPORT=both (default) measures Orch
#                             over HTTPS against RabbitMQ over AMQPS (TLS 1.3,
#                             the broker's certificate verified) and Orch
#                             --plain-http against plain AMQP, in the same rounds
#                             (~13 min for 3 rounds); tls or plain runs one pair.
#   make bench-queue-tls      the cost of TLS: two orch servers, TLS and
#                             --plain-http, the same loads interleaved over
#                             QUEUE_BENCH_ROUNDS rounds, medians and ratios (issue 11)
#   make test-queue           SQS conformance: aws-sdk-go-v2, boto3, Debian awscli
#                             2.9 (query), kill -9 durability, fuzz seeds
#   make fuzz-queue           fuzz both protocol decoders and the handler (FUZZTIME each)

FUZZTIME ?= 30s
QUEUE_BENCH_DURATION ?= 10s
QUEUE_BENCH_ROUNDS ?= 3
QUEUE_BENCH_RABBITMQ ?= 1
QUEUE_BENCH_BASE_BIN ?=
QUEUE_BENCH_BASE_FLAGS ?=
QUEUE_BENCH_TRANSPORT ?= both

.PHONY: bench-queue bench-queue-tls test-queue fuzz-queue queue-tools

queue-tools:
	$(GO) build -trimpath -o $(BIN)/orch-queue-dev ./cmd/orch-queue-dev
	$(GO) build -trimpath -o $(BIN)/orch-loadgen ./cmd/orch-loadgen

bench-queue: build queue-tools
	BIN=$(BIN) DURATION=$(QUEUE_BENCH_DURATION) ROUNDS=$(QUEUE_BENCH_ROUNDS) RABBITMQ=$(QUEUE_BENCH_RABBITMQ) \
		TRANSPORT=$(QUEUE_BENCH_TRANSPORT) BASE_BIN=$(QUEUE_BENCH_BASE_BIN) BASE_FLAGS="$(QUEUE_BENCH_BASE_FLAGS)" ./scripts/bench-queue.sh

bench-queue-tls: build queue-tools
	BIN=$(BIN) DURATION=$(QUEUE_BENCH_DURATION) ROUNDS=$(QUEUE_BENCH_ROUNDS) ./scripts/bench-queue-tls.sh

test-queue:
	$(GO) test -count=1 -timeout 10m ./pkg/queue/ ./pkg/api/sqs/ ./pkg/api/awsauth/ ./test/queue/

fuzz-queue:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeJSON$$' -fuzztime $(FUZZTIME) ./pkg/api/sqs/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeQuery$$' -fuzztime $(FUZZTIME) ./pkg/api/sqs/
	$(GO) test -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(FUZZTIME) ./pkg/api/sqs/
