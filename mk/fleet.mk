# Fleet figures and tests (issue 14; docs/benchmarks.md "A fleet that survives failures").
# bench-fleet: time to replacement over 20 node cuts (in-process, fake runtime) and
# 500 hollow agents heartbeating (server and etcd CPU, etcd writes/s; needs etcd-server).
# test-fleet: the node-loss and etcd HA tests on the multi-host harness (root, Docker, images).
.PHONY: bench-fleet test-fleet
bench-fleet:
	$(GO) test -run '^$$' -bench 'BenchmarkNodeLossReplacement|BenchmarkHeartbeats' -benchtime 1x -timeout 20m ./test/bench/

test-fleet: images
	$(GO) test -count=1 -run 'TestNodeLoss|TestShortCut|TestDrainAndRemoveNode' ./pkg/server/
	$(GO) test -count=1 -run 'TestFleetNodeLoss|TestThreeMemberEtcd' -timeout 10m ./test/e2e/
