package scheduler_test

import (
	"fmt"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/scheduler"
)

func ExampleSchedule() {
	snap := scheduler.Snapshot{Nodes: []scheduler.NodeInfo{
		{Name: "a", Status: model.NodeActive, Alive: true,
			Capacity: model.Resources{CPU: 2048, MemoryMiB: 4096}, Attributes: map[string]string{"os": "linux"}},
		{Name: "b", Status: model.NodeActive, Alive: true,
			Capacity: model.Resources{CPU: 2048, MemoryMiB: 2048}, Attributes: map[string]string{"os": "linux"}},
		{Name: "c", Status: model.NodeDraining, Alive: true,
			Capacity: model.Resources{CPU: 4096, MemoryMiB: 8192}},
	}}
	web := scheduler.Request{
		Group:        "service:web",
		Requirements: model.Resources{CPU: 512, MemoryMiB: 1024},
		StaticPorts:  []string{"tcp/80"},
		Strategy:     []model.PlacementStrategy{{Type: "binpack", Field: "memory"}},
		Constraints:  []model.PlacementConstraint{{Type: "memberOf", Expression: "attribute:os == linux"}},
	}
	var pending []scheduler.Request
	for _, id := range []string{"web-1", "web-2", "web-3"} {
		r := web
		r.TaskID = id
		pending = append(pending, r)
	}
	res := scheduler.Schedule(snap, pending, 42)
	for _, p := range res.Placements {
		fmt.Printf("%s → %s\n", p.TaskID, p.Node)
	}
	for _, u := range res.Unplaced {
		fmt.Printf("%s: %s\n", u.TaskID, u.Message)
	}
	// Output:
	// web-1 → b
	// web-2 → a
	// web-3: no node can take it: 3 nodes checked, 2 have port tcp/80 in use, 1 is draining
}
