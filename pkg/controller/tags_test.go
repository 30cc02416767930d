package controller_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/auth"
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
	_, key, _ := ed25519.GenerateKey(nil)
	reg := model.NodeRegistration{Name: "n1", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}, Attributes: map[string]string{"os": "linux"}}
	if _, err := nodes.Register(ctx, signedRegistration(t, ctx, nodes, key, reg)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the node in the cache", func() (bool, string) { _, err := nodes.Get("n1"); return err == nil, "not yet" })
	ssd := "ssd"
	if _, err := nodes.PutAttributes(ctx, "n1", map[string]*string{"disk": &ssd}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.UpdateTags(ctx, "n1", []model.Tag{{Key: "team", Value: "infra"}}, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := nodes.Get("n1"); v.Attributes["disk"] != "ssd" || len(v.Tags) != 1 {
		t.Fatalf("right after the writes the view has attributes %v, tags %v; want disk=ssd and one tag", v.Attributes, v.Tags)
	}
	reg.Attributes = map[string]string{"os": "linux", "arch": "arm64"}
	if _, err := nodes.Register(ctx, signedRegistration(t, ctx, nodes, key, reg)); err != nil {
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

// ForceNewDeployment replaces every task of the same revision with a new
// one, within the deployment configuration's bounds, and completes.
func TestForceNewDeploymentReplacesTasks(t *testing.T) {
	c := startSvcCluster(t, 2)
	const desired = 4
	c.apply(t, taskDef("fw", "health=healthy_after:100ms", true), service("fw", "fw", desired, 50, 100, ""))
	c.waitSteady(t, "fw", "fw:1", desired, 20*time.Second)
	_, before := c.get(t, "fw")
	old := map[string]bool{}
	for _, tk := range liveTasks(before) {
		old[tk.TaskID] = true
	}
	s := sample(c, "fw")
	svc, err := controller.NewServices(c.Store, c.Caches).ForceNewDeployment(context.Background(), "fw")
	if err != nil {
		t.Fatal(err)
	}
	if p := svc.Primary(); p.TaskDefinition != "fw:1" || len(p.ReplaceTasks) != desired {
		t.Fatalf("forced primary %+v: want fw:1 replacing the %d tasks", p, desired)
	}
	c.waitSteady(t, "fw", "fw:1", desired, 30*time.Second)
	s.finish()
	var after *model.Service
	var tasks []*model.Task
	testutil.WaitFor(t, 10*time.Second, "only new tasks live", func() (bool, string) {
		after, tasks = c.get(t, "fw")
		live := liveTasks(tasks)
		for _, tk := range live {
			if old[tk.TaskID] {
				return false, "old task " + tk.TaskID + " still live"
			}
		}
		return len(live) == desired, fmt.Sprintf("%d live", len(live))
	})
	if s.minHealthy.Load() < desired/2 || s.maxLive.Load() > desired {
		t.Fatalf("during the forced deployment healthy went down to %d (floor %d) and live up to %d (ceiling %d)", s.minHealthy.Load(), desired/2, s.maxLive.Load(), desired)
	}
	if p := after.Primary(); len(p.ReplaceTasks) != 0 {
		t.Fatalf("completed deployment still lists %d tasks to replace", len(p.ReplaceTasks))
	}
	if _, err := controller.NewServices(c.Store, c.Caches).ForceNewDeployment(context.Background(), "ghost"); err == nil {
		t.Fatal("forcing a deployment of a missing service succeeded")
	}
}

// Concurrent TagResource calls on one object lose none of each other's
// tags: each merges inside the object's conditional update.
func TestConcurrentTagUpdatesKeepEveryTag(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	cluster := controller.NewCluster(cp.Store)
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := cluster.UpdateTags(ctx, []model.Tag{{Key: fmt.Sprintf("k%02d", i), Value: "v"}}, nil)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	tags, err := cluster.Tags(ctx)
	if err != nil || len(tags) != n {
		t.Fatalf("after %d concurrent tag calls: %d tags (%v), want %d", n, len(tags), err, n)
	}
	if _, err := cluster.UpdateTags(ctx, []model.Tag{{Key: "", Value: "x"}}, nil); err == nil {
		t.Fatal("an empty tag key was accepted")
	}
	if tags, _ := cluster.Tags(ctx); len(tags) != n {
		t.Fatalf("a rejected update changed the tags: %d", len(tags))
	}
}

// signedRegistration proves reg with key, as the agent's client does.
func signedRegistration(t *testing.T, ctx context.Context, nodes *controller.Nodes, key ed25519.PrivateKey, reg model.NodeRegistration) model.NodeRegistration {
	t.Helper()
	nonce, err := nodes.Nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reg.Nonce = nonce
	reg.PublicKey, reg.Signature = auth.SignNodeProof(key, nonce, reg.Name)
	return reg
}
