package scheduler

import "github.com/orch-project/orch/pkg/model"

// Snapshot is the cluster as the scheduler sees it: every registered node
// with what is already placed on it.
type Snapshot struct {
	Nodes []NodeInfo
}

// NodeInfo is one node and its current load.
type NodeInfo struct {
	Name       string
	Status     string // model.NodeActive or model.NodeDraining
	Alive      bool   // heartbeating
	Capacity   model.Resources
	Attributes map[string]string
	// ReservedPorts are never handed out ("tcp/22").
	ReservedPorts []string
	// Tasks are the tasks holding resources on the node (placed, not stopped).
	Tasks []PlacedTask
}

// PlacedTask is what the scheduler needs to know of a task already on a node.
type PlacedTask struct {
	TaskID       string
	Group        string
	Family       string
	Requirements model.Resources
	StaticPorts  []string
}

// Request is a task waiting for a node.
type Request struct {
	TaskID       string
	Group        string
	Family       string
	Requirements model.Resources
	StaticPorts  []string
	Strategy     []model.PlacementStrategy
	Constraints  []model.PlacementConstraint
}

// Placement assigns a task to a node.
type Placement struct {
	TaskID string
	Node   string
}

// Unplaced explains why a task found no node.
type Unplaced struct {
	TaskID       string
	NodesChecked int
	// Reasons counts rejected nodes per reason, e.g.
	// {"lack 4096 MiB memory": 2, "is draining": 1}.
	Reasons map[string]int
	// Message is the one-line summary shown to users: "no node can take it:
	// 3 nodes checked, 2 lack 4096 MiB memory, 1 is draining".
	Message string
}

// Result is the outcome of one scheduling pass.
type Result struct {
	Placements []Placement
	Unplaced   []Unplaced
}
