# Fleet figures and tests (issue 14; docs/benchmarks.md "A fleet that survives failures").
# bench-fleet: time to replacement over 20 node cuts (in-process, fake runtime) and
# 500 hollow agents heartbeating (server and etcd CPU, etcd writes/s; needs etcd-server).
# bench-queue-failover: three orch servers on one etcd, 5 kill -9s of a queue shard owner under
# load: time until sends succeed again and messages lost (ORCH_FAILOVER_KILLS=N for more kills).
# test-fleet: the node-loss and etcd HA tests on the multi-host harness (root, Docker, images).
# chaos: TestChaos for CHAOS_DURATION (default 5m; `make test` runs it for 60 s) with a fresh
#   seed each run, or CHAOS_SEED=N to replay one (docs/operations.md, "Chaos").
# test-upgrade: TestUpgradeOneProcessAtATime from ORCH_UPGRADE_FROM (default HEAD~1): builds that
#   commit's orch and orchlet from `git archive`, runs a cluster on them and replaces servers, then
#   agents, one at a time with the current binaries. `make test` runs it too, from HEAD~1.
.PHONY: bench-fleet bench-queue-failover test-fleet chaos test-upgrade
ORCH_UPGRADE_FROM ?= HEAD~1
CHAOS_DURATION ?= 5m
CHAOS_SEED ?=
bench-fleet: bench-queue-failover
	$(GO) test -run '^$$' -bench 'BenchmarkNodeLossReplacement|BenchmarkHeartbeats' -benchtime 1x -timeout 20m ./test/bench/

bench-queue-failover:
	$(GO) test -run '^$$' -bench 'BenchmarkQueueOwnerFailover' -benchtime 1x -timeout 20m -v ./test/e2e/

test-fleet: images
	$(GO) test -count=1 -run 'TestNodeLoss|TestShortCut|TestDrainAndRemoveNode' ./pkg/server/
	$(GO) test -count=1 -run 'TestFleetNodeLoss|TestThreeMemberEtcd|TestPlacementAcrossHosts|TestQueueShardsSpreadAndSurviveOwnerKill' -timeout 10m ./test/e2e/

chaos: build images
	CHAOS_DURATION=$(CHAOS_DURATION) CHAOS_SEED=$(CHAOS_SEED) $(GO) test -count=1 -run '^TestChaos$$' -v -timeout 60m ./test/e2e/

test-upgrade: build images
	ORCH_UPGRADE_FROM=$(ORCH_UPGRADE_FROM) $(GO) test -count=1 -run '^TestUpgradeOneProcessAtATime$$' -v -timeout 20m ./test/e2e/
