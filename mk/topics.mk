# Topic service: the SNS load benchmark and the client conformance tests.
#
#   make bench-topics         queue baselines, then publishes/s to a topic with 10
#                             durable queue subscriptions and the latency from Publish
#                             returning to receivable in all 10 queues at 200/s, on one
#                             real `orch server` in the same run (scripts/bench-topics.sh),
#                             then the same latency run with one dead http subscriber added
#   make bench-topic-filter   filter cost through the real Publish path: 200 subscriptions
#                             with 5-key policies vs none, same run (pkg/topic BenchmarkPublishFilter)
#   make test-topics          pkg/topic (injected clock, goleak), the SNS adapter and
#                             test/topic: aws-sdk-go-v2, boto3, Debian awscli 2.9,
#                             filtered subscriptions, kill -9 durability

TOPICS_BENCH_DURATION ?= 10s

.PHONY: bench-topics bench-topic-filter test-topics

bench-topic-filter:
	$(GO) test -run '^$$' -bench PublishFilter -benchtime 2000x -count 5 ./pkg/topic/

bench-topics: build queue-tools
	BIN=$(BIN) DURATION=$(TOPICS_BENCH_DURATION) ./scripts/bench-topics.sh

test-topics:
	$(GO) test -race -count=1 ./pkg/topic/... ./pkg/api/sns/
	$(GO) test -count=1 -timeout 10m ./test/topic/
