package scheduler

import (
	"fmt"
	"maps"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/placement"
)

// Property tests: random fleets and requests, checked against a small,
// deliberately naive reference model that replays the result in the
// documented processing order (shapes by first request, tasks of a shape in
// request order) and checks every single decision:
//
//   - a placed task passed every filter on its node at that moment (so no
//     node is over-committed, no port is taken twice, constraints hold);
//   - no feasible node was better by the strategy chain (ties are random);
//   - an unplaced task had no feasible node, and its reasons are exactly the
//     first failing filter of every node;
//   - every task is placed or explained exactly once; the result is
//     deterministic for a seed.

var (
	propGroups  = []string{"service:a", "service:b", "service:c", "family:x"}
	propPorts   = []string{"tcp/80", "tcp/8080", "udp/53", "TCP/22"}
	propCPU     = []int{0, 128, 256, 512, 1024, 3000}
	propMem     = []int{0, 128, 512, 1024, 2048, 6000}
	propNodeCPU = []int{0, 512, 1024, 2048, 4096, 8192}
	propNodeMem = []int{0, 512, 1024, 4096, 8192, 16384}
	propChains  = [][]model.PlacementStrategy{
		nil,
		{{Type: "binpack", Field: "memory"}},
		{{Type: "binpack", Field: "cpu"}},
		{{Type: "spread", Field: "instanceId"}},
		{{Type: "spread", Field: "host"}},
		{{Type: "spread", Field: "attribute:zone"}},
		{{Type: "spread", Field: "attribute:zone"}, {Type: "spread", Field: "instanceId"}},
		{{Type: "spread", Field: "attribute:zone"}, {Type: "binpack", Field: "memory"}},
		{{Type: "spread", Field: "attribute:zone"}, {Type: "spread", Field: "attribute:os"}, {Type: "binpack", Field: "cpu"}},
		{{Type: "random"}},
		{{Type: "binpack", Field: "cpu"}, {Type: "random"}},
		{{Type: "binpack", Field: "memory"}, {Type: "spread", Field: "attribute:zone"}},
		{{Type: "spread", Field: "instanceId"}, {Type: "binpack", Field: "memory"}},
	}
	propExprs = []string{
		"attribute:os == linux",
		"attribute:zone in (z1, z2)",
		"attribute:gen >= 5",
		"attribute:zone exists",
		"not attribute:os == windows || attribute:gen < 3",
		"task:group != service:a",
		"task:group == service:legacy",
		"task:group == service:b || attribute:gen > 10",
		"SELF", // replaced by task:group != <own group>
	}
)

func randomCase(rng *rand.Rand, maxNodes, maxReqs int) (Snapshot, []Request) {
	pick := func(xs []int) int { return xs[rng.Intn(len(xs))] }
	var snap Snapshot
	for i := range rng.Intn(maxNodes + 1) {
		nd := NodeInfo{
			Name:     fmt.Sprintf("n%d", i),
			Status:   model.NodeActive,
			Alive:    rng.Intn(10) > 0,
			Capacity: model.Resources{CPU: pick(propNodeCPU), MemoryMiB: pick(propNodeMem)},
			Attributes: map[string]string{
				"os":  []string{"linux", "windows"}[rng.Intn(2)],
				"gen": fmt.Sprint(1 + rng.Intn(12)),
			},
		}
		switch rng.Intn(20) {
		case 0, 1:
			nd.Status = model.NodeDraining
		case 2:
			nd.Status = ""
		}
		if rng.Intn(10) > 0 {
			nd.Attributes["zone"] = fmt.Sprintf("z%d", 1+rng.Intn(3))
		}
		if rng.Intn(4) == 0 {
			nd.ReservedPorts = []string{propPorts[rng.Intn(len(propPorts))]}
		}
		for range rng.Intn(5) {
			t := PlacedTask{
				TaskID:       fmt.Sprintf("old-%d-%d", i, len(nd.Tasks)),
				Group:        append(propGroups, "service:legacy")[rng.Intn(len(propGroups)+1)],
				Requirements: model.Resources{CPU: rng.Intn(1500), MemoryMiB: rng.Intn(3000)},
			}
			if rng.Intn(6) == 0 {
				t.StaticPorts = []string{propPorts[rng.Intn(len(propPorts))]}
			}
			nd.Tasks = append(nd.Tasks, t)
		}
		snap.Nodes = append(snap.Nodes, nd)
	}
	var rs []Request
	for i := range rng.Intn(maxReqs + 1) {
		if len(rs) > 0 && rng.Intn(30) == 0 {
			rs = append(rs, rs[rng.Intn(len(rs))]) // duplicate task id
			continue
		}
		if len(rs) > 0 && rng.Intn(3) == 0 {
			// Same shape as an earlier request.
			c := rs[rng.Intn(len(rs))]
			c.TaskID = fmt.Sprintf("t%d", i)
			rs = append(rs, c)
			continue
		}
		q := Request{
			TaskID:       fmt.Sprintf("t%d", i),
			Group:        propGroups[rng.Intn(len(propGroups))],
			Requirements: model.Resources{CPU: pick(propCPU), MemoryMiB: pick(propMem)},
			Strategy:     propChains[rng.Intn(len(propChains))],
		}
		for range rng.Intn(3) {
			if rng.Intn(4) == 0 {
				q.StaticPorts = append(q.StaticPorts, propPorts[rng.Intn(len(propPorts))])
			}
		}
		if rng.Intn(4) == 0 {
			q.Constraints = append(q.Constraints, model.PlacementConstraint{Type: "distinctInstance"})
		}
		for range rng.Intn(3) {
			if rng.Intn(3) == 0 {
				e := propExprs[rng.Intn(len(propExprs))]
				if e == "SELF" {
					e = "task:group != " + q.Group
				}
				if rng.Intn(50) == 0 {
					e = "attribute:os ==" // invalid
				}
				q.Constraints = append(q.Constraints, model.PlacementConstraint{Type: "memberOf", Expression: e})
			}
		}
		rs = append(rs, q)
	}
	return snap, rs
}

// refNode is the reference model's node.
type refNode struct {
	info      *NodeInfo
	cpu, mem  int // used
	ports     map[string]bool
	groups    map[string]int
	overStart [2]bool // over-committed in the snapshot (cpu, memory)
}

func (r *refNode) Attr(name string) (string, bool) {
	switch name {
	case "node":
		return r.info.Name, true
	case "ecs.os-type":
		name = "os"
	}
	v, ok := r.info.Attributes[name]
	if !ok && name == "hostname" {
		return r.info.Name, true
	}
	return v, ok
}

func (r *refNode) AnyGroup(f func(string) bool) bool {
	for g, c := range r.groups {
		if c > 0 && f(g) {
			return true
		}
	}
	return false
}

func refPort(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if !strings.Contains(p, "/") {
		p = "tcp/" + p
	}
	return p
}

func newRef(snap Snapshot) []*refNode {
	var out []*refNode
	for i := range snap.Nodes {
		nd := &snap.Nodes[i]
		r := &refNode{info: nd, ports: map[string]bool{}, groups: map[string]int{}}
		for _, p := range nd.ReservedPorts {
			r.ports[refPort(p)] = true
		}
		for _, t := range nd.Tasks {
			r.cpu += t.Requirements.CPU
			r.mem += t.Requirements.MemoryMiB
			for _, p := range t.StaticPorts {
				r.ports[refPort(p)] = true
			}
			r.groups[t.Group]++
		}
		r.overStart = [2]bool{r.cpu > nd.Capacity.CPU, r.mem > nd.Capacity.MemoryMiB}
		out = append(out, r)
	}
	return out
}

// refReason is the first failing filter's Reasons key, or "" if none fails.
func refReason(r *refNode, q *Request) string {
	switch {
	case !r.info.Alive:
		return "is not heartbeating"
	case r.info.Status == model.NodeDraining:
		return "is draining"
	}
	for _, c := range q.Constraints {
		if c.Type == "memberOf" {
			e, err := placement.ParseExpression(c.Expression)
			if err != nil {
				panic(err)
			}
			if !e.Eval(r) {
				return "does not match memberOf(" + c.Expression + ")"
			}
		}
	}
	for _, c := range q.Constraints {
		if c.Type == "distinctInstance" && r.groups[q.Group] > 0 {
			return "already runs a task of group " + q.Group + " (distinctInstance)"
		}
	}
	ports := make([]string, len(q.StaticPorts))
	for i, p := range q.StaticPorts {
		ports[i] = refPort(p)
	}
	slices.Sort(ports)
	for _, p := range ports {
		if r.ports[p] {
			return "has port " + p + " in use"
		}
	}
	need := q.Requirements
	if need.CPU > 0 && r.info.Capacity.CPU-r.cpu < need.CPU {
		return fmt.Sprintf("lack %d cpu units", need.CPU)
	}
	if need.MemoryMiB > 0 && r.info.Capacity.MemoryMiB-r.mem < need.MemoryMiB {
		return fmt.Sprintf("lack %d MiB memory", need.MemoryMiB)
	}
	return ""
}

// refKeys returns every node's key under the request's strategy chain, up
// to the first random strategy (after which anything goes).
func refKeys(ref []*refNode, q *Request) [][]int {
	chain := q.Strategy
	if len(chain) == 0 {
		chain = []model.PlacementStrategy{{Type: "spread", Field: "instanceId"}}
	}
	keys := make([][]int, len(ref))
	for _, s := range chain {
		if s.Type == "random" {
			break
		}
		var perValue map[string]int
		name := strings.TrimPrefix(s.Field, "attribute:")
		if strings.HasPrefix(s.Field, "attribute:") {
			perValue = map[string]int{}
			for _, r := range ref {
				v, _ := r.Attr(name)
				perValue[v] += r.groups[q.Group]
			}
		}
		for i, r := range ref {
			var k int
			switch {
			case s.Type == "binpack" && s.Field == "cpu":
				k = r.info.Capacity.CPU - r.cpu
			case s.Type == "binpack" && s.Field == "memory":
				k = r.info.Capacity.MemoryMiB - r.mem
			case s.Field == "instanceId" || s.Field == "host":
				k = r.groups[q.Group]
			case perValue != nil:
				v, _ := r.Attr(name)
				k = perValue[v]
			default:
				panic("unknown strategy in test")
			}
			keys[i] = append(keys[i], k)
		}
	}
	return keys
}

func refShapeKey(q *Request) string {
	return fmt.Sprintf("%q %v %q %v %v", q.Group, q.Requirements, q.StaticPorts, q.Strategy, q.Constraints)
}

func refInvalid(q *Request) bool {
	for _, c := range q.Constraints {
		if _, err := placement.ParseExpression(c.Expression); c.Type == "memberOf" && err != nil {
			return true
		}
	}
	seen := map[string]bool{}
	for _, p := range q.StaticPorts {
		if seen[refPort(p)] {
			return true
		}
		seen[refPort(p)] = true
	}
	return false
}

// checkResult replays res against the reference model.
func checkResult(t *testing.T, snap Snapshot, rs []Request, res Result) {
	t.Helper()
	nodeIdx := map[string]int{}
	for i, nd := range snap.Nodes {
		nodeIdx[nd.Name] = i
	}
	where := map[string]string{}
	why := map[string]Unplaced{}
	for _, p := range res.Placements {
		if _, dup := where[p.TaskID]; dup {
			t.Fatalf("task %s placed twice", p.TaskID)
		}
		if _, ok := nodeIdx[p.Node]; !ok {
			t.Fatalf("task %s placed on unknown node %q", p.TaskID, p.Node)
		}
		where[p.TaskID] = p.Node
	}
	for _, u := range res.Unplaced {
		if _, dup := why[u.TaskID]; dup {
			t.Fatalf("task %s explained twice", u.TaskID)
		}
		if _, both := where[u.TaskID]; both {
			t.Fatalf("task %s both placed and unplaced", u.TaskID)
		}
		if u.Message == "" {
			t.Fatalf("task %s unplaced without a message", u.TaskID)
		}
		why[u.TaskID] = u
	}

	// Processing order: shapes by first request, then request order.
	var order []int
	shapeOf := map[string][]int{}
	var keys []string
	seen := map[string]bool{}
	for i := range rs {
		if seen[rs[i].TaskID] {
			continue
		}
		seen[rs[i].TaskID] = true
		k := refShapeKey(&rs[i])
		if _, ok := shapeOf[k]; !ok {
			keys = append(keys, k)
		}
		shapeOf[k] = append(shapeOf[k], i)
	}
	if len(where)+len(why) != len(seen) {
		t.Fatalf("%d tasks placed and %d explained, want %d in total", len(where), len(why), len(seen))
	}
	for _, k := range keys {
		order = append(order, shapeOf[k]...)
	}

	ref := newRef(snap)
	for _, qi := range order {
		q := &rs[qi]
		node, ok := where[q.TaskID]
		if !ok {
			u, explained := why[q.TaskID]
			if !explained {
				t.Fatalf("task %s neither placed nor explained", q.TaskID)
			}
			if refInvalid(q) {
				if !strings.HasPrefix(u.Message, "cannot be placed: ") {
					t.Fatalf("invalid task %s: message %q", q.TaskID, u.Message)
				}
				continue
			}
			want := map[string]int{}
			for _, r := range ref {
				reason := refReason(r, q)
				if reason == "" {
					t.Fatalf("task %s unplaced (%s) but node %s could take it", q.TaskID, u.Message, r.info.Name)
				}
				want[reason]++
			}
			if u.NodesChecked != len(ref) || !maps.Equal(u.Reasons, want) {
				t.Fatalf("task %s: %d nodes checked, reasons %v; want %d, %v", q.TaskID, u.NodesChecked, u.Reasons, len(ref), want)
			}
			continue
		}
		i := nodeIdx[node]
		if reason := refReason(ref[i], q); reason != "" {
			t.Fatalf("task %s placed on %s, which %s", q.TaskID, node, reason)
		}
		keys := refKeys(ref, q)
		for j, r := range ref {
			if slices.Compare(keys[j], keys[i]) < 0 && refReason(r, q) == "" {
				t.Fatalf("task %s (strategy %v) placed on %s with key %v, but %s has better key %v",
					q.TaskID, q.Strategy, node, keys[i], r.info.Name, keys[j])
			}
		}
		r := ref[i]
		r.cpu += q.Requirements.CPU
		r.mem += q.Requirements.MemoryMiB
		for _, p := range q.StaticPorts {
			r.ports[refPort(p)] = true
		}
		r.groups[q.Group]++
	}

	// The invariants once more, on the final state, in their plain form.
	for _, r := range ref {
		c := r.info.Capacity
		if r.cpu > c.CPU && !r.overStart[0] || r.mem > c.MemoryMiB && !r.overStart[1] {
			t.Fatalf("node %s over-committed: %d/%d cpu, %d/%d MiB", r.info.Name, r.cpu, c.CPU, r.mem, c.MemoryMiB)
		}
	}
}

func TestPropertiesRandomFleets(t *testing.T) {
	iterations := 3000
	if testing.Short() || raceEnabled {
		iterations = 800
	}
	for it := range iterations {
		rng := rand.New(rand.NewSource(int64(it)))
		snap, rs := randomCase(rng, 25, 60)
		seed := rng.Int63()
		res := Schedule(snap, rs, seed)
		checkResult(t, snap, rs, res)
		if again := Schedule(snap, rs, seed); !reflect.DeepEqual(res, again) {
			t.Fatalf("iteration %d: not deterministic for seed %d", it, seed)
		}
		if t.Failed() {
			t.Fatalf("iteration %d failed", it)
		}
	}
}

// Larger fleets exercise random probing and its fallback to the placer.
func TestPropertiesLargerFleets(t *testing.T) {
	iterations := 40
	if testing.Short() || raceEnabled {
		iterations = 10
	}
	for it := range iterations {
		rng := rand.New(rand.NewSource(int64(1000 + it)))
		snap, rs := randomCase(rng, 300, 600)
		res := Schedule(snap, rs, int64(it))
		checkResult(t, snap, rs, res)
	}
}
