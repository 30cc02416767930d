package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

func openTest(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func td(family, image string) *model.TaskDefinition {
	m := 64
	return &model.TaskDefinition{Family: family, ContainerDefinitions: []model.ContainerDefinition{{Name: "app", Image: image, Memory: &m}}}
}

func TestRegisterTaskDefinitionRevisions(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	a, created, err := st.RegisterTaskDefinition(ctx, td("web", "img:1"))
	if err != nil || !created || a.Revision != 1 {
		t.Fatalf("first register: rev=%v created=%v err=%v, want rev 1 created", a, created, err)
	}
	b, created, err := st.RegisterTaskDefinition(ctx, td("web", "img:1"))
	if err != nil || created || b.Revision != 1 {
		t.Fatalf("same content: rev=%d created=%v err=%v, want rev 1 unchanged", b.Revision, created, err)
	}
	c, created, err := st.RegisterTaskDefinition(ctx, td("web", "img:2"))
	if err != nil || !created || c.Revision != 2 {
		t.Fatalf("changed content: rev=%d created=%v err=%v, want rev 2 created", c.Revision, created, err)
	}
	latest, err := st.GetTaskDefinition(ctx, "web", 0)
	if err != nil || latest.Revision != 2 || latest.ContainerDefinitions[0].Image != "img:2" {
		t.Fatalf("latest = %+v, %v; want revision 2", latest, err)
	}
	if _, err := st.GetTaskDefinition(ctx, "web", 9); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("missing revision: err=%v, want ErrNotFound", err)
	}
}

func TestConcurrentRegistrationsGetDistinctRevisions(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	revs := make([]int, 8)
	for i := range revs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, err := st.RegisterTaskDefinition(ctx, td("job", "img:"+string(rune('a'+i))))
			if err != nil {
				t.Error(err)
				return
			}
			revs[i] = d.Revision
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, r := range revs {
		if seen[r] {
			t.Fatalf("revision %d handed out twice: %v", r, revs)
		}
		seen[r] = true
	}
}

func TestCommitTasksDetectsConflicts(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	tasks := []*model.Task{{TaskID: "a", DesiredStatus: "RUNNING", LastStatus: "PROVISIONING"}, {TaskID: "b", DesiredStatus: "RUNNING", LastStatus: "PROVISIONING"}}
	if err := st.CreateTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	// Someone else changes b after we read it.
	if _, err := st.UpdateTask(ctx, "b", func(t *model.Task) (bool, error) { t.DesiredStatus = "STOPPED"; return true, nil }); err != nil {
		t.Fatal(err)
	}
	tasks[0].NodeName, tasks[1].NodeName = "n1", "n1"
	conflicts, err := st.CommitTasks(ctx, tasks, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicts) != 1 || conflicts[0] != "b" {
		t.Fatalf("conflicts = %v, want [b]", conflicts)
	}
	a, _ := st.GetTask(ctx, "a")
	b, _ := st.GetTask(ctx, "b")
	if a.NodeName != "n1" || b.NodeName != "" || b.DesiredStatus != "STOPPED" {
		t.Fatalf("a.node=%q b.node=%q b.desired=%q; want n1, empty, STOPPED", a.NodeName, b.NodeName, b.DesiredStatus)
	}
}

func TestGuardedCommitFailsAfterLosingElection(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	l, err := st.Campaign(ctx, "controller", "me", 5)
	if err != nil {
		t.Fatal(err)
	}
	tasks := []*model.Task{{TaskID: "x", DesiredStatus: "RUNNING"}}
	if err := st.CreateTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	if id, _ := st.LeaderID(ctx, "controller"); id != "me" {
		t.Fatalf("leader = %q, want me", id)
	}
	if err := l.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	tasks[0].NodeName = "n1"
	if _, err := st.CommitTasks(ctx, tasks, l.Guard()); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("err = %v, want ErrNotLeader", err)
	}
}

func TestNodeLivenessFollowsHeartbeats(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	if _, err := st.RegisterNode(ctx, &model.Node{Name: "n1", Capacity: model.Resources{CPU: 1024, MemoryMiB: 512}}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	n, _ := st.GetNode(ctx, "n1")
	if !n.Alive || n.Status != model.NodeActive {
		t.Fatalf("after register: alive=%v status=%s, want alive ACTIVE", n.Alive, n.Status)
	}
	deadline := time.Now().Add(15 * time.Second)
	for n.Alive && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		n, _ = st.GetNode(ctx, "n1")
	}
	if n.Alive {
		t.Fatal("node still alive 15s after its 2s lease stopped being renewed")
	}
	if err := st.Heartbeat(ctx, "n1", 0, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if n, _ = st.GetNode(ctx, "n1"); !n.Alive {
		t.Fatal("heartbeat after expiry did not revive the node")
	}
}

func TestCacheSeesChanges(t *testing.T) {
	st := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := st.TaskCache()
	go c.Run(ctx)
	<-c.Ready()
	sub := c.Subscribe()
	defer sub.Close()
	if err := st.CreateTasks(ctx, []*model.Task{{TaskID: "t1"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.C():
	case <-time.After(5 * time.Second):
		t.Fatal("no change notification within 5s")
	}
	ch := sub.Drain()
	if len(ch) != 1 || ch[0].Key != "t1" || ch[0].Obj == nil {
		t.Fatalf("changes = %+v, want one creation of t1", ch)
	}
	if got := c.Get("t1"); got == nil || got.ModRevision == 0 {
		t.Fatalf("cache.Get(t1) = %+v, want the task with its revision", got)
	}
}
