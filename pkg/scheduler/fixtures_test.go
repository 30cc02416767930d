package scheduler

import (
	"fmt"
	"sort"
	"strings"

	"github.com/orch-project/orch/pkg/model"
)

// Fluent fixtures: n("a", 1024, 2048).attr("zone", "z1").task("service:web", 256, 512)

type nodeB struct{ NodeInfo }

func n(name string, cpu, mem int) *nodeB {
	return &nodeB{NodeInfo{Name: name, Status: model.NodeActive, Alive: true, Capacity: model.Resources{CPU: cpu, MemoryMiB: mem}}}
}

func (b *nodeB) attr(k, v string) *nodeB {
	if b.Attributes == nil {
		b.Attributes = map[string]string{}
	}
	b.Attributes[k] = v
	return b
}

func (b *nodeB) draining() *nodeB { b.Status = model.NodeDraining; return b }
func (b *nodeB) dead() *nodeB     { b.Alive = false; return b }
func (b *nodeB) reserve(ports ...string) *nodeB {
	b.ReservedPorts = append(b.ReservedPorts, ports...)
	return b
}

func (b *nodeB) task(group string, cpu, mem int, ports ...string) *nodeB {
	b.Tasks = append(b.Tasks, PlacedTask{
		TaskID: fmt.Sprintf("%s-old-%d", b.Name, len(b.Tasks)), Group: group,
		Requirements: model.Resources{CPU: cpu, MemoryMiB: mem}, StaticPorts: ports,
	})
	return b
}

func nodes(bs ...*nodeB) Snapshot {
	var s Snapshot
	for _, b := range bs {
		s.Nodes = append(s.Nodes, b.NodeInfo)
	}
	return s
}

type reqB struct{ Request }

func r(id, group string, cpu, mem int) *reqB {
	return &reqB{Request{TaskID: id, Group: group, Requirements: model.Resources{CPU: cpu, MemoryMiB: mem}}}
}

func (b *reqB) ports(p ...string) *reqB { b.StaticPorts = append(b.StaticPorts, p...); return b }
func (b *reqB) strategy(typ, field string) *reqB {
	b.Strategy = append(b.Strategy, model.PlacementStrategy{Type: typ, Field: field})
	return b
}
func (b *reqB) distinct() *reqB {
	b.Constraints = append(b.Constraints, model.PlacementConstraint{Type: model.ConstraintDistinctInstance})
	return b
}
func (b *reqB) memberOf(expr string) *reqB {
	b.Constraints = append(b.Constraints, model.PlacementConstraint{Type: model.ConstraintMemberOf, Expression: expr})
	return b
}

// times returns count copies of the request with ids PREFIX-0, PREFIX-1, ...
func (b *reqB) times(count int) []Request {
	out := make([]Request, count)
	for i := range out {
		out[i] = b.Request
		out[i].TaskID = fmt.Sprintf("%s-%d", b.TaskID, i)
	}
	return out
}

func reqs(parts ...any) []Request {
	var out []Request
	for _, p := range parts {
		switch v := p.(type) {
		case *reqB:
			out = append(out, v.Request)
		case []Request:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("reqs: %T", p))
		}
	}
	return out
}

// placed maps task → node.
func placed(res Result) map[string]string {
	m := map[string]string{}
	for _, p := range res.Placements {
		m[p.TaskID] = p.Node
	}
	return m
}

// perNode renders how many tasks went to each node: "a=2 b=1".
func perNode(res Result) string {
	c := map[string]int{}
	for _, p := range res.Placements {
		c[p.Node]++
	}
	var parts []string
	for k, v := range c {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func messages(res Result) map[string]string {
	m := map[string]string{}
	for _, u := range res.Unplaced {
		m[u.TaskID] = u.Message
	}
	return m
}
