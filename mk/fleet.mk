# Fleet figures and tests (issue 14; docs/benchmarks.md "A fleet that survives failures").
# bench-fleet: time to replacement over 20 node cuts (in-process, fake runtime) and
# 500 hollow agents heartbeating (server and etcd CPU, etcd writes/s; needs etcd-server).
# bench-queue-failover: three orch servers on one etcd, 5 kill -9s of a queue shard owner under
# load: time until sends succeed again and messages lost (ORCH_FAILOVER_KILLS=N for more kills).
# test-fleet: the node-loss and etcd HA tests on the multi-host harness (root, Docker, images).
.PHONY: bench-fleet bench-queue-failover test-fleet
bench-fleet: bench-queue-failover
	$(GO) test -run '^$$' -bench 'BenchmarkNodeLossReplacement|BenchmarkHeartbeats' -benchtime 1x -timeout 20m ./test/bench/

bench-queue-failover:
	$(GO) test -run '^$$' -bench 'BenchmarkQueueOwnerFailover' -benchtime 1x -timeout 20m -v ./test/e2e/

test-fleet: images
	$(GO) test -count=1 -run 'TestNodeLoss|TestShortCut|TestDrainAndRemoveNode' ./pkg/server/
	$(GO) test -count=1 -run 'TestFleetNodeLoss|TestThreeMemberEtcd|TestQueueShardsSpreadAndSurviveOwnerKill' -timeout 10m ./test/e2e/
