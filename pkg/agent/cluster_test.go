package agent

import (
	"context"
	"errors"
	"testing"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/model"
)

// Issue 12 item 6: two clusters whose agents share a Docker host and a
// node name (the hostname, by default) swept each other's containers,
// which were selected by orch.managed and the node name only. Containers
// now carry orch.cluster and an agent touches only its own cluster's.
func TestAgentsOfTwoClustersOnOneHostLeaveEachOthersContainers(t *testing.T) {
	rt := newRuntime()
	ctx := context.Background()
	cpA, cpB := newFakeCP(), newFakeCP()
	cpA.clusterID, cpB.clusterID = "cluster-a", "cluster-b"

	startAgent(t, rt, cpA)
	web, webDef := newTask("node-1", ctrDef("web", ""))
	cpA.run(web, webDef)
	cpA.waitStatus(t, web.TaskID, model.StatusRunning)
	before, _ := containerIDs(t, rt)
	webCtr := before[web.TaskID+"/web"]
	if st, err := rt.Inspect(ctx, webCtr); err != nil || st.Labels[runtime.LabelCluster] != "cluster-a" {
		t.Fatalf("cluster A's container: labels %v, %v; want orch.cluster=cluster-a", st.Labels, err)
	}

	// A container from before clusters had ids, and a stray of cluster B
	// (which B's sweep must remove, showing that the sweep ran).
	legacy, _ := rt.Create(ctx, runtime.ContainerSpec{Name: "orch-legacy", Image: "fake/app:1", Labels: map[string]string{
		runtime.LabelManaged: "true", runtime.LabelNode: "node-1", runtime.LabelTask: "legacy", runtime.LabelContainer: "app",
	}})
	_ = rt.Start(ctx, legacy)
	strayB, _ := rt.Create(ctx, runtime.ContainerSpec{Name: "orch-stray-b", Image: "fake/app:1", Labels: map[string]string{
		runtime.LabelManaged: "true", runtime.LabelNode: "node-1", runtime.LabelTask: "gone", runtime.LabelContainer: "app",
		runtime.LabelCluster: "cluster-b",
	}})
	_ = rt.Start(ctx, strayB)

	startAgent(t, rt, cpB) // same runtime, same node name, another cluster
	eventually(t, "cluster B's stray removed by B's sweep", func() bool {
		_, err := rt.Inspect(ctx, strayB)
		return errors.Is(err, runtime.ErrNotFound)
	})
	for name, id := range map[string]string{"cluster A's task container": webCtr, "the unlabeled container": legacy} {
		st, err := rt.Inspect(ctx, id)
		if err != nil || st.Status != runtime.StatusRunning {
			t.Errorf("%s after cluster B's agent swept: %+v, %v; want it running, untouched", name, st.Status, err)
		}
	}
	if got := cpA.task(web.TaskID); got.LastStatus != model.StatusRunning {
		t.Errorf("cluster A's task: %s, want RUNNING", got.LastStatus)
	}
}
