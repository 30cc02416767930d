# Topic service: the SNS load benchmark and the client conformance tests.
#
#   make bench-topics         queue baselines, then publishes/s to a topic with 10
#                             durable queue subscriptions and the latency from Publish
#                             returning to receivable in all 10 queues at 200/s, on one
#                             real `orch server` in the same run (scripts/bench-topics.sh):
#                             TOPICS_BENCH_ROUNDS rounds interleaved with as many with one
#                             dead http subscriber added (medians [min-max], p99 ratio),
#                             with stock-SDK consumers, then again with lean consumers
#                             (orch-loadgen --client lean: the measuring client's share),
#                             between two runs of the raw etcd commit latency
#   make bench-topic-filter   filter cost through the real Publish path: 200 subscriptions
#                             with 5-key policies vs none, same run (pkg/topic BenchmarkPublishFilter)
#   make bench-topic-fanout   the same two latency figures in process (a real broker and
#                             topic service on embedded etcd, no HTTP): Publish returned ->
#                             received from 10 queues at 200/s, then 3 interleaved rounds
#                             of topics without, with a live and with a dead http
#                             subscriber: median p99s [min-max], ratios and differences
#                             (pkg/topic BenchmarkFanoutLatency, BenchmarkFanoutDeadSubscriber)
#   make test-topics          pkg/topic (injected clock, goleak), the SNS adapter and
#                             test/topic: aws-sdk-go-v2, boto3, Debian awscli 2.9,
#                             filtered subscriptions, kill -9 durability

TOPICS_BENCH_DURATION ?= 10s
TOPICS_BENCH_ROUNDS ?= 3

.PHONY: bench-topics bench-topic-filter bench-topic-fanout test-topics

bench-topic-fanout:
	$(GO) test -run '^$$' -bench FanoutLatency -benchtime 2000x -count 3 ./pkg/topic/
	$(GO) test -run '^$$' -bench FanoutDeadSubscriber -benchtime 1000x -count 1 ./pkg/topic/

bench-topic-filter:
	$(GO) test -run '^$$' -bench PublishFilter -benchtime 2000x -count 5 ./pkg/topic/

bench-topics: build queue-tools
	$(GO) test -c -o $(BIN)/store.test ./pkg/store
	BIN=$(BIN) DURATION=$(TOPICS_BENCH_DURATION) ROUNDS=$(TOPICS_BENCH_ROUNDS) ./scripts/bench-topics.sh

test-topics:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./pkg/topic/... ./pkg/api/sns/
	$(GO) test -count=1 -timeout 10m ./test/topic/
