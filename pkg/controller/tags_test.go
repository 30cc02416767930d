package controller_test

import (
	"context"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/model"
)

// User attributes (ECS PutAttributes) and tags survive the agent
// registering again, which rewrites its own attributes; the node cache
// shows a write to the caller who made it.
func TestNodeUserAttributesSurviveReregistration(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	nodes := controller.NewNodes(cp.Store, cp.Caches)
	reg := model.NodeRegistration{Name: "n1", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}, Attributes: map[string]string{"os": "linux"}}
	if _, err := nodes.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the node in the cache", func() (bool, string) { _, err := nodes.Get("n1"); return err == nil, "not yet" })
	ssd := "ssd"
	if _, err := nodes.PutAttributes(ctx, "n1", map[string]*string{"disk": &ssd}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.SetTags(ctx, "n1", []model.Tag{{Key: "team", Value: "infra"}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := nodes.Get("n1"); v.Attributes["disk"] != "ssd" || len(v.Tags) != 1 {
		t.Fatalf("right after the writes the view has attributes %v, tags %v; want disk=ssd and one tag", v.Attributes, v.Tags)
	}
	reg.Attributes = map[string]string{"os": "linux", "arch": "arm64"}
	if _, err := nodes.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	n, err := cp.Store.GetNode(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if n.Attributes["disk"] != "ssd" || n.Attributes["arch"] != "arm64" || len(n.Tags) != 1 {
		t.Fatalf("after re-registering: attributes %v, tags %v; want disk=ssd kept, arch=arm64 added, the tag kept", n.Attributes, n.Tags)
	}
	if _, err := nodes.PutAttributes(ctx, "n1", map[string]*string{"disk": nil, "os": nil}); err != nil {
		t.Fatal(err)
	}
	n, _ = cp.Store.GetNode(ctx, "n1")
	if _, ok := n.Attributes["disk"]; ok || n.Attributes["os"] != "linux" {
		t.Fatalf("after deleting disk and os: %v; want disk gone and the agent's os kept", n.Attributes)
	}
	if _, err := nodes.PutAttributes(ctx, "n1", map[string]*string{"bad name!": &ssd}); err == nil {
		t.Fatal("an attribute name with a space was accepted")
	}
}

// ForceNewDeployment starts a new PRIMARY deployment of the same revision;
// the old one leaves the live list.
func TestForceNewDeployment(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	if _, _, err := controller.NewTaskDefs(cp.Store).Register(ctx, testutil.TaskDef("fw", 32)); err != nil {
		t.Fatal(err)
	}
	svcs := controller.NewServices(cp.Store, cp.Caches)
	zero := 0
	svc, _, err := svcs.Apply(ctx, &model.Service{ServiceName: "fw", TaskDefinition: "fw", DesiredCount: &zero})
	if err != nil {
		t.Fatal(err)
	}
	first := svc.Primary().ID
	svc, err = svcs.ForceNewDeployment(ctx, "fw")
	if err != nil {
		t.Fatal(err)
	}
	p := svc.Primary()
	if p.ID == first || p.TaskDefinition != "fw:1" || p.RolloutState != model.RolloutInProgress {
		t.Fatalf("primary after forcing = %+v; want a new IN_PROGRESS deployment of fw:1", p)
	}
	if _, err := svcs.ForceNewDeployment(ctx, "ghost"); err == nil {
		t.Fatal("forcing a deployment of a missing service succeeded")
	}
}
