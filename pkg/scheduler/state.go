package scheduler

import (
	"math/rand/v2"
	"strings"

	"github.com/orch-project/orch/pkg/model"
)

// pass is the mutable view of the cluster during one Schedule call. Nodes
// are addressed by their index in Snapshot.Nodes, which keeps every tie
// and iteration order deterministic.
type pass struct {
	seed int64
	rng  *rand.Rand // seeded; the only source of randomness
	// What every filter run reads sits in hot, a dense array (24 bytes a
	// node, so 10,000 nodes stay in cache); the rest in nodes.
	hot   []nodeHot
	nodes []nodeState
	// eligible lists the nodes that may take tasks at all (alive, not
	// draining); random sampling draws from it.
	eligible []int32
	// Task groups are interned: groupID maps a name to an id, groupNames
	// back. groupNodes[id] lists the nodes running at least one task of the
	// group; placements only add, so it is append-only during a pass.
	groupID    map[string]int32
	groupNames []string
	groupNodes [][]int32
	// Shapes are placed one at a time; hot[i].hostGen == gen marks the
	// nodes running a task of the current shape's group (see begin), so
	// spread and distinctInstance answer "does it run one?" without a lookup.
	gen uint32
	// placedLog lists the node of every placement of the pass, in order;
	// the binpack indexes catch up with it. mark/markGen is a scratch set.
	placedLog []int32
	res       [2]*resIndex // by free cpu, by free memory; built on first use
	mark      []uint32
	markGen   uint32
	// attrs indexes node attribute values for spread-by-attribute, built on
	// first use.
	attrs map[string]*attrIndex
	// memberOf caches parsed expressions (and their per-node results for
	// expressions that do not depend on placements).
	memberOf map[string]*memberOf
	// unplaceable remembers filter keys no node could take (see schedule).
	unplaceable map[string]*explained
	buf         buffers
}

type nodeHot struct {
	free    model.Resources
	hostGen uint32   // see pass.gen
	down    failKind // why the node takes nothing (not heartbeating, draining), or failNone
	ports   bool     // some host port is reserved or in use
}

// nodeState is the colder part of a node. Small slices rather than maps: a
// node runs few groups and has few ports, a linear scan is faster than
// hashing, and 10,000 nodes would otherwise mean 20,000 maps per pass.
type nodeState struct {
	p    *pass
	info *NodeInfo
	// ports holds reserved and in-use host ports ("tcp/80").
	ports []string
	// groups counts the node's tasks per task group.
	groups []groupCount
}

type groupCount struct{ group, n int32 }

// attrIndex maps each node to the id of its value of one attribute. A
// missing attribute is the value "" (a bucket of its own when spreading).
type attrIndex struct {
	valueOf []int32
	values  []string
	// eligible lists, per value, the eligible nodes having it.
	eligible [][]int32
}

func newPass(snap Snapshot, seed int64, pending int) *pass {
	p := &pass{
		seed:        seed,
		rng:         rand.New(rand.NewPCG(uint64(seed), 0x6f72636873636864)),
		hot:         make([]nodeHot, len(snap.Nodes)),
		nodes:       make([]nodeState, len(snap.Nodes)),
		mark:        make([]uint32, len(snap.Nodes)),
		groupID:     map[string]int32{},
		attrs:       map[string]*attrIndex{},
		memberOf:    map[string]*memberOf{},
		unplaceable: map[string]*explained{},
		placedLog:   make([]int32, 0, pending),
	}
	// slack is the room each node's slices get for placements in the pass:
	// about its share of the pending tasks, within reason.
	slack := 2
	if len(snap.Nodes) > 0 {
		slack = min(max(pending/len(snap.Nodes)+1, 2), 16)
	}
	// Carve the nodes' slices out of two allocations instead of 2n.
	nTasks, nPorts := 0, 0
	for i := range snap.Nodes {
		nd := &snap.Nodes[i]
		nTasks += len(nd.Tasks) + slack
		nPorts += len(nd.ReservedPorts) + 2
		for _, t := range nd.Tasks {
			nPorts += len(t.StaticPorts)
		}
	}
	groupArena := make([]groupCount, 0, nTasks)
	portArena := make([]string, 0, nPorts)
	for i := range snap.Nodes {
		info := &snap.Nodes[i]
		n, h := &p.nodes[i], &p.hot[i]
		n.p, n.info, h.free = p, info, info.Capacity
		switch {
		case !info.Alive:
			h.down = failDead
		case info.Status != "" && info.Status != model.NodeActive:
			h.down = failStatus
		default:
			p.eligible = append(p.eligible, int32(i))
		}
		np := len(info.ReservedPorts) + 2
		for _, t := range info.Tasks {
			np += len(t.StaticPorts)
		}
		n.ports = portArena[len(portArena) : len(portArena) : len(portArena)+np]
		portArena = portArena[:len(portArena)+np]
		n.groups = groupArena[len(groupArena) : len(groupArena) : len(groupArena)+len(info.Tasks)+slack]
		groupArena = groupArena[:len(groupArena)+len(info.Tasks)+slack]
		for _, port := range info.ReservedPorts {
			p.addPort(int32(i), normalizePort(port))
		}
		for _, t := range info.Tasks {
			h.free = h.free.Sub(t.Requirements)
			for _, port := range t.StaticPorts {
				p.addPort(int32(i), normalizePort(port))
			}
			p.addGroup(int32(i), p.intern(t.Group))
		}
	}
	return p
}

// intern returns the id of a task group, creating it if new.
func (p *pass) intern(group string) int32 {
	id, ok := p.groupID[group]
	if !ok {
		id = int32(len(p.groupNames))
		p.groupID[group] = id
		p.groupNames = append(p.groupNames, group)
		p.groupNodes = append(p.groupNodes, nil)
	}
	return id
}

func (n *nodeState) hasPort(port string) bool {
	for _, q := range n.ports {
		if q == port {
			return true
		}
	}
	return false
}

func (p *pass) addPort(i int32, port string) {
	if n := &p.nodes[i]; !n.hasPort(port) {
		n.ports = append(n.ports, port)
		p.hot[i].ports = true
	}
}

// count returns the node's number of tasks of group g.
func (n *nodeState) count(g int32) int32 {
	for _, gc := range n.groups {
		if gc.group == g {
			return gc.n
		}
	}
	return 0
}

func (p *pass) addGroup(i int32, g int32) {
	n := &p.nodes[i]
	for k := range n.groups {
		if n.groups[k].group == g {
			n.groups[k].n++
			return
		}
	}
	n.groups = append(n.groups, groupCount{g, 1})
	p.groupNodes[g] = append(p.groupNodes[g], i)
}

// begin makes sh the current shape: it marks the nodes running its group.
func (p *pass) begin(sh *shape) {
	p.gen++
	for _, i := range p.groupNodes[sh.group] {
		p.hot[i].hostGen = p.gen
	}
}

// hosts reports whether node i runs a task of the current shape's group.
func (p *pass) hosts(i int32) bool { return p.hot[i].hostGen == p.gen }

// place commits a task of shape sh, the current one, to node i.
func (p *pass) place(sh *shape, i int32) {
	p.hot[i].free = p.hot[i].free.Sub(sh.need)
	for _, port := range sh.ports {
		p.addPort(i, port)
	}
	p.addGroup(i, sh.group)
	p.hot[i].hostGen = p.gen
	p.placedLog = append(p.placedLog, i)
}

// attrIndex returns the value index of attribute name, building it once.
func (p *pass) attrIndex(name string) *attrIndex {
	if ix := p.attrs[name]; ix != nil {
		return ix
	}
	ix := &attrIndex{valueOf: make([]int32, len(p.nodes))}
	ids := map[string]int32{}
	for i := range p.nodes {
		v, _ := p.nodes[i].Attr(name)
		id, ok := ids[v]
		if !ok {
			id = int32(len(ix.values))
			ids[v] = id
			ix.values = append(ix.values, v)
			ix.eligible = append(ix.eligible, nil)
		}
		ix.valueOf[i] = id
	}
	for _, i := range p.eligible {
		v := ix.valueOf[i]
		ix.eligible[v] = append(ix.eligible[v], i)
	}
	p.attrs[name] = ix
	return ix
}

// attrAliases maps ECS attribute names to Orch's short built-in ones.
var attrAliases = map[string]string{
	"ecs.os-type":          model.AttrOS,
	"ecs.cpu-architecture": model.AttrArch,
}

// Attr returns a node attribute (for placement.Node). Built-ins: "node" is
// always the node name; "hostname" falls back to the node name when the
// agent did not report one.
func (n *nodeState) Attr(name string) (string, bool) {
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

// AnyGroup reports whether f holds for a task group on the node (for
// placement.Node).
func (n *nodeState) AnyGroup(f func(string) bool) bool {
	for _, gc := range n.groups {
		if gc.n > 0 && f(n.p.groupNames[gc.group]) {
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
