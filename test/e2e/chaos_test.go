package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/test/internal/hosts"
)

// TestChaos runs a fleet the way issue 14 describes it: a 3-member etcd
// (separate processes), 3 orch servers on it, 3 hosts of the multi-host
// harness with orchlets on their own dockerds, a service that deploys and
// scales, and a queue with a producer and a consumer recording every
// acknowledged send and delete. For CHAOS_DURATION (default 60 s; `make
// chaos` runs longer) it kills agents, servers and etcd members, cuts and
// heals host networks and drains hosts, at random from a seed it prints
// (CHAOS_SEED replays the same choices; the timing of a real cluster still
// differs between runs). It never takes etcd's quorum, never kills more than
// one server at a time, and keeps at least one host healthy and active.
//
// Then it heals everything and checks the invariants: the desired count is
// met; every container in every host's dockerd (counted by its orch labels)
// belongs to a live task on that host and no task has two; no task was
// placed on a node while the API said the node was lost or after it was
// drained; every acknowledged send is received; no message comes back after
// its delete was acknowledged. On failure it prints the event log.
func TestChaos(t *testing.T) {
	needFleet(t)
	dur := 60 * time.Second
	if v := os.Getenv("CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CHAOS_DURATION=%q: %v (want a Go duration such as 5m)", v, err)
		}
		dur = d
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v (want an unsigned integer)", v, err)
		}
		seed = s
	}
	t.Logf("chaos seed %d (CHAOS_SEED=%d replays these choices), duration %v", seed, seed, dur)
	ch := &chaos{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), eventLog: newEventLog(), lost: map[string][]*interval{}, drained: map[string][]*interval{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos seed %d; event log:\n%s", seed, ch.log())
		}
	})
	ch.setUp()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := startQueueTraffic(ctx, ch.eventLog, ch.c, "chaos-"+ch.fleet.ID)
	go ch.watchNodes(ctx)

	ch.event("chaos starts for %v", dur)
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		ch.healDue(false)
		ch.act()
		time.Sleep(time.Duration(1500+ch.rng.IntN(2500)) * time.Millisecond)
	}
	ch.event("chaos ends; healing everything")
	ch.healDue(true)
	ch.waitHealed()
	q.stop()
	ch.checkService()
	ch.checkPlacements()
	q.check()
	if v := ch.violations(); len(v) > 0 {
		t.Fatalf("%d invariant(s) broken:\n%s", len(v), strings.Join(v, "\n"))
	}
	t.Logf("chaos summary: %s; %s", ch.summary(), q.summary())
}

// interval is a span in which a node was lost or draining; to is zero
// while it lasts.
type interval struct{ from, to time.Time }

// fault is something broken that healDue repairs at until.
type fault struct {
	kind   string // agent, cut, server, etcd, drain
	target int
	until  time.Time
}

type chaos struct {
	t   *testing.T
	rng *rand.Rand

	etcd    []*etcdMember
	eps     string
	c       *cluster
	addrs   []string // servers' listen addresses, in c.urls order
	servers []*proc
	fleet   *hosts.Fleet

	desired int
	rev     int
	faults  []fault
	counts  map[string]int

	*eventLog
	mu      sync.Mutex             // guards lost and drained
	lost    map[string][]*interval // node → spans the API showed it not alive
	drained map[string][]*interval // node → spans between drain and activate
}

const chaosService = "chaosweb"

func (ch *chaos) summary() string {
	var parts []string
	for _, k := range []string{"agent", "cut", "server", "etcd", "drain", "scale", "deploy"} {
		parts = append(parts, fmt.Sprintf("%s %d", k, ch.counts[k]))
	}
	return "faults and changes: " + strings.Join(parts, ", ")
}

func (ch *chaos) setUp() {
	t := ch.t
	ch.counts = map[string]int{}
	ch.etcd, ch.eps = startEtcd3(t)
	ch.fleet = newHostFleet(t)
	ch.c = newCluster(t)
	for range 3 {
		addr := ch.fleet.ServerAddr(t)
		ch.addrs = append(ch.addrs, addr)
		ch.servers = append(ch.servers, startServer(t, ch.c, "--etcd-endpoints", ch.eps, "--listen", addr))
	}
	for range 3 {
		startHostAgent(t, ch.fleet.AddHost(t), ch.c)
	}
	waitNodes(t, ch.c, 3)
	ch.desired = 3
	ch.deploy()
	ch.waitSteady(120 * time.Second)
	ch.event("set up: 3 etcd members, 3 servers, 3 hosts, %s at %d", chaosService, ch.desired)
}

// deploy applies a new revision of the task definition with the service,
// which starts a rolling deployment (the first call creates both).
func (ch *chaos) deploy() {
	ch.rev++
	td := fmt.Sprintf(`{"family":%q,"containerDefinitions":[{"name":"web","image":"orch-example/web:latest","imagePullPolicy":"never","memory":32,"stopTimeout":2,"environment":[{"name":"PORT","value":"8080"},{"name":"CHAOS_REV","value":"%d"}]}]}`, chaosService, ch.rev)
	svc := fmt.Sprintf(`{"serviceName":%q,"taskDefinition":%q,"desiredCount":%d,"deploymentConfiguration":{"minimumHealthyPercent":50,"maximumPercent":200}}`, chaosService, chaosService, ch.desired)
	ch.retry("deploy revision "+strconv.Itoa(ch.rev), func(ctx context.Context) error {
		_, err := ch.c.admin.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: json.RawMessage(td)}, {Kind: "Service", Spec: json.RawMessage(svc)}})
		return err
	})
}

// retry repeats a control-plane write for up to a minute: while a server or
// an etcd member dies the API may answer 503 for a moment, and these writes
// are idempotent.
func (ch *chaos) retry(what string, fn func(context.Context) error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := fn(ctx)
		cancel()
		if err == nil {
			ch.event("%s: done", what)
			return
		}
		if time.Now().After(deadline) {
			ch.violate("%s: the API refused it for a minute with every etcd quorum and a server up: %v", what, err)
			return
		}
		ch.event("%s: %v (retrying)", what, err)
		time.Sleep(500 * time.Millisecond)
	}
}

// live returns the service's live tasks and how many are RUNNING.
func (ch *chaos) live(ctx context.Context) (*model.Service, []*model.Task, int, error) {
	svc, tasks, err := ch.c.admin.GetService(ctx, chaosService)
	if err != nil {
		return nil, nil, 0, err
	}
	var live []*model.Task
	running := 0
	for _, tk := range tasks {
		if tk.IsStopped() {
			continue
		}
		live = append(live, tk)
		if tk.LastStatus == model.StatusRunning && tk.DesiredStatus == model.StatusRunning {
			running++
		}
	}
	return svc, live, running, nil
}

func (ch *chaos) waitSteady(timeout time.Duration) {
	testutil.WaitFor(ch.t, timeout, fmt.Sprintf("%s steady at %d RUNNING", chaosService, ch.desired), func() (bool, string) {
		_, live, running, err := ch.live(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return running == ch.desired && len(live) == ch.desired, fmt.Sprintf("%d running of %d live", running, len(live))
	})
}

func (ch *chaos) faulted(kind string) int {
	n := 0
	for _, f := range ch.faults {
		if f.kind == kind {
			n++
		}
	}
	return n
}

func (ch *chaos) hostFaulted(i int) bool {
	for _, f := range ch.faults {
		if (f.kind == "agent" || f.kind == "cut" || f.kind == "drain") && f.target == i {
			return true
		}
	}
	return false
}

// act picks one fault or change at random among those the limits allow.
func (ch *chaos) act() {
	t := ch.t
	hold := time.Duration(2000+ch.rng.IntN(12000)) * time.Millisecond // some shorter, some longer than node ttl + grace (8 s)
	var choices []func()
	hostsDown := ch.faulted("agent") + ch.faulted("cut") + ch.faulted("drain")
	for i, h := range ch.fleet.Hosts {
		if ch.hostFaulted(i) || hostsDown >= 2 {
			continue
		}
		choices = append(choices,
			func() {
				ch.event("kill -9 the orchlet of %s for %v", h.Name, hold)
				h.KillAgent(t)
				ch.faults = append(ch.faults, fault{"agent", i, time.Now().Add(hold)})
			},
			func() {
				ch.event("cut %s's network for %v", h.Name, hold)
				h.Cut(t)
				ch.faults = append(ch.faults, fault{"cut", i, time.Now().Add(hold)})
			})
		if ch.faulted("drain") == 0 {
			choices = append(choices, func() {
				ch.retry("drain "+h.Name, func(ctx context.Context) error {
					_, _, err := ch.c.admin.DrainNode(ctx, h.Name, false)
					return err
				})
				ch.markDrain(h.Name, true)
				ch.faults = append(ch.faults, fault{"drain", i, time.Now().Add(hold)})
			})
		}
	}
	// A restarted server or member must be healthy again before another
	// dies: two members down at once would be a lost quorum.
	if ch.faulted("server") == 0 && ch.allHealthy() {
		i := ch.rng.IntN(len(ch.servers))
		choices = append(choices, func() {
			ch.event("kill -9 server %d (%s, leader %v) for %v", i, ch.addrs[i], isLeader(ch.c.urls[i]), hold)
			ch.servers[i].kill(syscall.SIGKILL)
			ch.servers[i].wait(t, 10*time.Second)
			ch.faults = append(ch.faults, fault{"server", i, time.Now().Add(hold)})
		})
	}
	if ch.faulted("etcd") == 0 && ch.etcdHealthy() {
		i := ch.rng.IntN(len(ch.etcd))
		choices = append(choices, func() {
			ch.event("kill -9 etcd member %s for %v", ch.etcd[i].name, hold)
			ch.etcd[i].proc.kill(syscall.SIGKILL)
			ch.etcd[i].proc.wait(t, 10*time.Second)
			ch.faults = append(ch.faults, fault{"etcd", i, time.Now().Add(hold)})
		})
	}
	n := 2 + ch.rng.IntN(4)
	choices = append(choices,
		func() {
			ch.counts["scale"]++
			ch.desired = n
			ch.retry(fmt.Sprintf("scale %s to %d", chaosService, n), func(ctx context.Context) error {
				_, err := ch.c.admin.ScaleService(ctx, chaosService, n)
				return err
			})
		},
		func() {
			ch.counts["deploy"]++
			ch.deploy()
		})
	choices[ch.rng.IntN(len(choices))]()
}

func (ch *chaos) allHealthy() bool {
	hc := http.Client{Timeout: 2 * time.Second}
	for _, u := range ch.c.urls {
		resp, err := hc.Get(u + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}

func (ch *chaos) etcdHealthy() bool {
	for _, m := range ch.etcd {
		if !m.healthy() {
			return false
		}
	}
	return true
}

// healDue repairs the faults whose time has come (all of them if all).
func (ch *chaos) healDue(all bool) {
	t := ch.t
	var keep []fault
	for _, f := range ch.faults {
		if !all && time.Now().Before(f.until) {
			keep = append(keep, f)
			continue
		}
		ch.counts[f.kind]++
		switch f.kind {
		case "agent":
			h := ch.fleet.Hosts[f.target]
			ch.event("restart the orchlet of %s", h.Name)
			startHostAgent(t, h, ch.c)
		case "cut":
			h := ch.fleet.Hosts[f.target]
			ch.event("heal %s's network", h.Name)
			h.Heal(t)
		case "drain":
			h := ch.fleet.Hosts[f.target]
			ch.retry("activate "+h.Name, func(ctx context.Context) error {
				_, err := ch.c.admin.SetNodeStatus(ctx, h.Name, "activate")
				return err
			})
			ch.markDrain(h.Name, false)
		case "server":
			ch.event("restart server %d (%s)", f.target, ch.addrs[f.target])
			ch.servers[f.target] = start(t, ch.c.env, "orch", "server", "--etcd-endpoints", ch.eps, "--listen", ch.addrs[f.target])
		case "etcd":
			ch.event("restart etcd member %s", ch.etcd[f.target].name)
			ch.etcd[f.target].start(t)
		}
	}
	ch.faults = keep
}

func (ch *chaos) markDrain(node string, on bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if on {
		ch.drained[node] = append(ch.drained[node], &interval{from: time.Now()})
		return
	}
	if s := ch.drained[node]; len(s) > 0 && s[len(s)-1].to.IsZero() {
		s[len(s)-1].to = time.Now()
	}
}

// watchNodes records when the API shows each node not alive, so that
// checkPlacements can tell whether a task was placed on a lost node.
func (ch *chaos) watchNodes(ctx context.Context) {
	for ctx.Err() == nil {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		nodes, err := ch.c.admin.ListNodes(c)
		cancel()
		now := time.Now()
		if err == nil {
			var seen []string
			ch.mu.Lock()
			for _, n := range nodes {
				s := ch.lost[n.Name]
				open := len(s) > 0 && s[len(s)-1].to.IsZero()
				switch {
				case !n.Alive && !open:
					ch.lost[n.Name] = append(s, &interval{from: now})
					seen = append(seen, "the API shows "+n.Name+" not alive")
				case n.Alive && open:
					s[len(s)-1].to = now
					seen = append(seen, "the API shows "+n.Name+" alive again")
				}
			}
			ch.mu.Unlock()
			for _, e := range seen {
				ch.event("%s", e)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitHealed waits until every process runs again and every node is alive.
func (ch *chaos) waitHealed() {
	t := ch.t
	for i, p := range ch.servers {
		waitHealthy(t, ch.c.urls[i], p)
	}
	testutil.WaitFor(t, 60*time.Second, "3 etcd members healthy", func() (bool, string) {
		for _, m := range ch.etcd {
			if !m.healthy() {
				return false, m.name + " not healthy"
			}
		}
		return true, ""
	})
	testutil.WaitFor(t, 90*time.Second, "3 nodes alive and ACTIVE", func() (bool, string) {
		nodes, err := ch.c.admin.ListNodes(context.Background())
		if err != nil {
			return false, err.Error()
		}
		ok := 0
		var s []string
		for _, n := range nodes {
			if n.Alive && n.Status == model.NodeActive {
				ok++
			}
			s = append(s, fmt.Sprintf("%s alive=%v %s", n.Name, n.Alive, n.Status))
		}
		return ok == 3, strings.Join(s, ", ")
	})
	ch.event("healed: every process runs, 3 nodes alive and ACTIVE")
}

// checkService waits for the desired count and then compares the API with
// what every host's dockerd runs.
func (ch *chaos) checkService() {
	var last string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ok, why := ch.fleetMatches()
		if ok {
			ch.event("%s: %d RUNNING, the fleet's containers match the API one to one", chaosService, ch.desired)
			break
		}
		last = why
		if time.Now().After(deadline) {
			ch.violate("3 minutes after healing: %s", last)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// fleetMatches says whether the service runs its desired count and the
// hosts' dockerds run exactly one container per live task, on the task's node.
func (ch *chaos) fleetMatches() (bool, string) {
	_, live, running, err := ch.live(context.Background())
	if err != nil {
		return false, err.Error()
	}
	if running != ch.desired || len(live) != ch.desired {
		return false, fmt.Sprintf("%d RUNNING of %d live tasks, desired %d", running, len(live), ch.desired)
	}
	want := map[string]string{} // task → node
	for _, tk := range live {
		want[tk.TaskID] = tk.NodeName
	}
	seen := map[string]string{}
	var problems []string
	for _, h := range ch.fleet.Hosts {
		for _, c := range h.RunningContainers(ch.t) {
			if c.Family != chaosService {
				continue
			}
			if other, dup := seen[c.Task]; dup {
				problems = append(problems, fmt.Sprintf("task %s runs on %s and %s", c.Task, other, h.Name))
			}
			seen[c.Task] = h.Name
			if node, ok := want[c.Task]; !ok {
				problems = append(problems, fmt.Sprintf("%s runs container %s of task %s, which is not a live task", h.Name, c.ID, c.Task))
			} else if node != h.Name {
				problems = append(problems, fmt.Sprintf("task %s is placed on %s but runs on %s", c.Task, node, h.Name))
			}
		}
	}
	for id, node := range want {
		if _, ok := seen[id]; !ok {
			problems = append(problems, fmt.Sprintf("live task %s has no running container on %s", id, node))
		}
	}
	sort.Strings(problems)
	return len(problems) == 0, strings.Join(problems, "; ")
}

// checkPlacements reads every task of the run and fails any placed on a
// node while the API showed it lost, or after it was drained. A second of
// slack on each side covers the watch cache and the sampler's period.
func (ch *chaos) checkPlacements() {
	tasks, err := ch.c.admin.ListTasks(context.Background(), nil)
	if err != nil {
		ch.violate("list tasks: %v", err)
		return
	}
	const slack = 2 * time.Second
	var broken []string
	nodeLost := 0
	ch.mu.Lock()
	for _, tk := range tasks {
		if tk.StopCode == model.StopNodeLost {
			nodeLost++
		}
		if tk.PlacedAt == nil || tk.NodeName == "" {
			continue
		}
		at := *tk.PlacedAt
		for what, spans := range map[string][]*interval{"lost": ch.lost[tk.NodeName], "draining": ch.drained[tk.NodeName]} {
			for _, s := range spans {
				to := s.to
				if to.IsZero() {
					to = time.Now()
				}
				if at.After(s.from.Add(slack)) && at.Before(to.Add(-slack)) {
					msg := fmt.Sprintf("task %s was placed on %s at %.3fs while the node was %s (%.3fs to %.3fs)",
						tk.TaskID, tk.NodeName, at.Sub(ch.t0).Seconds(), what, s.from.Sub(ch.t0).Seconds(), to.Sub(ch.t0).Seconds())
					broken = append(broken, msg)
				}
			}
		}
	}
	ch.mu.Unlock()
	for _, b := range broken {
		ch.violate("%s", b)
	}
	ch.event("%d tasks in all, %d stopped as NodeLost (each replaced: the desired count is met)", len(tasks), nodeLost)
}
