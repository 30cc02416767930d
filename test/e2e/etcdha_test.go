package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// etcdMember is one member of a 3-member etcd cluster run as its own
// process (Debian's etcd-server), restartable on its data dir and ports.
type etcdMember struct {
	name, client, dir string
	args              []string
	proc              *proc
}

func (m *etcdMember) start(t *testing.T) {
	t.Helper()
	m.proc = start(t, nil, "etcd", m.args...)
}

func (m *etcdMember) healthy() bool {
	hc := http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + m.client + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// startEtcd3 starts three etcd members on free loopback ports and waits
// until all are healthy; it returns them and the endpoints flag value.
func startEtcd3(t *testing.T) ([]*etcdMember, string) {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Fatalf("etcd is not installed: apt-get install -y etcd-server (.ci/run does it)")
	}
	var ms []*etcdMember
	var initial, eps []string
	peers := map[string]string{}
	token := fmt.Sprintf("orch-e2e-%d", time.Now().UnixNano())
	for i := range 3 {
		m := &etcdMember{name: fmt.Sprintf("m%d", i), client: freeAddr(t), dir: filepath.Join(t.TempDir(), "etcd")}
		peers[m.name] = freeAddr(t)
		initial = append(initial, m.name+"=http://"+peers[m.name])
		eps = append(eps, "http://"+m.client)
		ms = append(ms, m)
	}
	for _, m := range ms {
		m.args = []string{"--name", m.name, "--data-dir", m.dir,
			"--listen-client-urls", "http://" + m.client, "--advertise-client-urls", "http://" + m.client,
			"--listen-peer-urls", "http://" + peers[m.name], "--initial-advertise-peer-urls", "http://" + peers[m.name],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", token, "--log-level", "warn"}
		m.start(t)
	}
	testutil.WaitFor(t, 60*time.Second, "3 etcd members healthy", func() (bool, string) {
		n := 0
		for _, m := range ms {
			if m.healthy() {
				n++
			}
		}
		return n == 3, fmt.Sprintf("%d healthy", n)
	})
	return ms, strings.Join(eps, ",")
}

// TestThreeMemberEtcd runs two orch servers on a 3-member etcd cluster with
// a fake-runtime orchlet that knows both servers. Losing one member changes
// nothing for users; losing quorum makes writes fail fast with 503 and a
// message naming etcd (no hang); when the members come back everything
// recovers by itself, and no task was lost.
func TestThreeMemberEtcd(t *testing.T) {
	ms, eps := startEtcd3(t)
	c := newCluster(t)
	startServer(t, c, "--etcd-endpoints", eps)
	startServer(t, c, "--etcd-endpoints", eps)
	c.startAgent(t, "ha-node", "--runtime", "fake")
	waitNodes(t, c, 1)
	applyJSON(t, c, `{"family":"ha","containerDefinitions":[{"name":"a","image":"fake","memory":16}]}`)
	first := runOne(t, c, "ha")
	waitTask(t, c, first, 30*time.Second, running)

	// One member down: nothing changes for users.
	ms[0].proc.kill(syscall.SIGKILL)
	t0 := time.Now()
	second := runOne(t, c, "ha")
	waitTask(t, c, second, 20*time.Second, running)
	t.Logf("with 1 of 3 members down a task was RUNNING %s after run", time.Since(t0).Round(time.Millisecond))

	// Quorum lost: a write fails with 503 naming etcd, within a bound.
	ms[1].proc.kill(syscall.SIGKILL)
	one := c.clientFor([]string{c.urls[0]}, c.cfg.Token)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 = time.Now()
	_, err := one.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "ha"})
	took := time.Since(t0)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 503 || !strings.Contains(err.Error(), "etcd") {
		t.Fatalf("run without etcd quorum after %s: %v, want 503 naming etcd", took, err)
	}
	if took > 30*time.Second {
		t.Fatalf("run without etcd quorum took %s to fail, want a prompt 503", took)
	}
	t.Logf("without quorum: %s after %s", err, took.Round(time.Millisecond))

	// The members come back: everything recovers without a restart.
	ms[0].start(t)
	ms[1].start(t)
	t0 = time.Now()
	var third string
	testutil.WaitFor(t, 90*time.Second, "a task run after quorum returned", func() (bool, string) {
		tasks, err := c.admin.RunTask(context.Background(), wire.RunTaskInput{TaskDefinition: "ha"})
		if err != nil {
			return false, err.Error()
		}
		third = tasks[0].TaskID
		return true, ""
	})
	waitTask(t, c, third, 60*time.Second, running)
	t.Logf("after quorum returned a task was RUNNING %s later", time.Since(t0).Round(time.Millisecond))
	for _, id := range []string{first, second} {
		if got := waitTask(t, c, id, 5*time.Second, func(*model.Task) bool { return true }); got.LastStatus != model.StatusRunning || got.IsStopped() {
			t.Fatalf("task %s after the outage: %s (%s %q), want still RUNNING", id, got.LastStatus, got.StopCode, got.StoppedReason)
		}
	}
}

// TestLeaderFailover kills -9 the leading orch server of two on a 3-member
// etcd and measures what users see: the API on the survivor keeps
// answering, and the controllers act again (a new task is placed and
// RUNNING) within the election session ttl plus a pass.
func TestLeaderFailover(t *testing.T) {
	_, eps := startEtcd3(t)
	c := newCluster(t)
	startServer(t, c, "--etcd-endpoints", eps)
	startServer(t, c, "--etcd-endpoints", eps)
	c.startAgent(t, "fo-node", "--runtime", "fake")
	waitNodes(t, c, 1)
	applyJSON(t, c, `{"family":"fo","containerDefinitions":[{"name":"a","image":"fake","memory":16}]}`)
	waitTask(t, c, runOne(t, c, "fo"), 30*time.Second, running)
	leader := -1
	testutil.WaitFor(t, 20*time.Second, "a leader", func() (bool, string) {
		for i, u := range c.urls {
			if isLeader(u) {
				leader = i
				return true, ""
			}
		}
		return false, "none leads"
	})
	survivor := c.clientFor([]string{c.urls[1-leader]}, c.cfg.Token)
	t0 := time.Now()
	c.procs[leader].kill(syscall.SIGKILL)
	tasks, err := survivor.RunTask(context.Background(), wire.RunTaskInput{TaskDefinition: "fo"})
	if err != nil {
		t.Fatalf("the survivor refused a run right after the leader died: %v", err)
	}
	apiGap := time.Since(t0)
	testutil.WaitTask(t, survivor, tasks[0].TaskID, 30*time.Second, running)
	acted := time.Since(t0)
	testutil.WaitFor(t, 5*time.Second, "the survivor leads", func() (bool, string) { return isLeader(c.urls[1-leader]), "" })
	t.Logf("leader killed: the survivor answered a run in %v; the task was RUNNING (controllers acting again) %v after the kill",
		apiGap.Round(time.Millisecond), acted.Round(time.Millisecond))
	if acted > 15*time.Second {
		t.Fatalf("controllers acted again %v after the leader died, want within 15 s", acted)
	}
}
