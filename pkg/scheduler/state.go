package scheduler

import (
	"strings"

	"github.com/orch-project/orch/pkg/model"
)

// pass is the mutable view of the cluster during one Schedule call. Nodes
// are addressed by their index in Snapshot.Nodes, which keeps every tie
// and iteration order deterministic.
type pass struct {
	seed  int64
	nodes []nodeState
	// eligible lists the nodes that may take tasks at all (alive, not
	// draining); random sampling draws from it.
	eligible []int32
	// groupNodes lists, per task group, the nodes running at least one task
	// of it. Placements only add, so it is append-only during a pass.
	groupNodes map[string][]int32
	// attrs indexes node attribute values for spread-by-attribute, built on
	// first use.
	attrs map[string]*attrIndex
	// memberOf caches parsed expressions (and their per-node results for
	// expressions that do not depend on placements).
	memberOf map[string]*memberOf
	draws    uint64 // counter feeding the seeded random keys
}

// nodeState is one node and what is left on it.
type nodeState struct {
	info *NodeInfo
	// down is the failure that makes the node take nothing (not
	// heartbeating, draining); failNone otherwise.
	down failure
	free model.Resources
	// ports holds reserved and in-use host ports ("tcp/80"); nil when none.
	ports map[string]struct{}
	// groups counts the node's tasks per task group; nil when it has none.
	groups map[string]int32
}

// attrIndex maps each node to the id of its value of one attribute. A
// missing attribute is the value "" (a bucket of its own when spreading).
type attrIndex struct {
	valueOf []int32
	values  []string
}

func newPass(snap Snapshot, seed int64) *pass {
	p := &pass{
		seed:       seed,
		nodes:      make([]nodeState, len(snap.Nodes)),
		groupNodes: map[string][]int32{},
		attrs:      map[string]*attrIndex{},
		memberOf:   map[string]*memberOf{},
	}
	for i := range snap.Nodes {
		info := &snap.Nodes[i]
		n := &p.nodes[i]
		n.info = info
		n.free = info.Capacity
		switch {
		case !info.Alive:
			n.down = failure{kind: failDead}
		case info.Status != "" && info.Status != model.NodeActive:
			n.down = failure{kind: failStatus}
		default:
			p.eligible = append(p.eligible, int32(i))
		}
		for _, port := range info.ReservedPorts {
			n.addPort(normalizePort(port))
		}
		for _, t := range info.Tasks {
			n.free = n.free.Sub(t.Requirements)
			for _, port := range t.StaticPorts {
				n.addPort(normalizePort(port))
			}
			p.addGroup(int32(i), t.Group)
		}
	}
	return p
}

func (n *nodeState) addPort(port string) {
	if n.ports == nil {
		n.ports = map[string]struct{}{}
	}
	n.ports[port] = struct{}{}
}

func (p *pass) addGroup(i int32, group string) {
	n := &p.nodes[i]
	if n.groups == nil {
		n.groups = map[string]int32{}
	}
	if n.groups[group] == 0 {
		p.groupNodes[group] = append(p.groupNodes[group], i)
	}
	n.groups[group]++
}

// place commits a task of shape sh to node i within the pass.
func (p *pass) place(sh *shape, i int32) {
	n := &p.nodes[i]
	n.free = n.free.Sub(sh.need)
	for _, port := range sh.ports {
		n.addPort(port)
	}
	p.addGroup(i, sh.group)
}

// attrIndex returns the value index of attribute name, building it once.
func (p *pass) attrIndex(name string) *attrIndex {
	if ix := p.attrs[name]; ix != nil {
		return ix
	}
	ix := &attrIndex{valueOf: make([]int32, len(p.nodes))}
	ids := map[string]int32{}
	for i := range p.nodes {
		v, _ := p.nodes[i].attr(name)
		id, ok := ids[v]
		if !ok {
			id = int32(len(ix.values))
			ids[v] = id
			ix.values = append(ix.values, v)
		}
		ix.valueOf[i] = id
	}
	p.attrs[name] = ix
	return ix
}

// attrAliases maps ECS attribute names to Orch's short built-in ones.
var attrAliases = map[string]string{
	"ecs.os-type":          model.AttrOS,
	"ecs.cpu-architecture": model.AttrArch,
}

// attr returns a node attribute. Built-ins: "node" is always the node name;
// "hostname" falls back to the node name when the agent did not report one.
func (n *nodeState) attr(name string) (string, bool) {
	if name == model.AttrNodeName {
		return n.info.Name, true
	}
	if v, ok := n.info.Attributes[name]; ok {
		return v, true
	}
	if alias, ok := attrAliases[name]; ok {
		if v, ok := n.info.Attributes[alias]; ok {
			return v, true
		}
	}
	if name == model.AttrHostname {
		return n.info.Name, true
	}
	return "", false
}

func (n *nodeState) anyGroup(f func(string) bool) bool {
	for g, c := range n.groups {
		if c > 0 && f(g) {
			return true
		}
	}
	return false
}

// normalizePort turns "TCP/80", "80" or " tcp/80 " into "tcp/80".
func normalizePort(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.Contains(s, "/") {
		s = "tcp/" + s
	}
	return s
}
