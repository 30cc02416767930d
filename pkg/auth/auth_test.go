package auth

import "testing"

func TestPermit(t *testing.T) {
	admin := Identity{Role: RoleAdmin, Name: "admin"}
	join := Identity{Role: RoleJoin, Name: "join"}
	node1 := Identity{Role: RoleNode, Name: "node-1"}
	deployer := Identity{Role: RoleDeployer, Name: "ci"}
	for _, tc := range []struct {
		name     string
		required Role
		id       Identity
		node     string
		want     string // "" means permitted
	}{
		{"admin calls admin endpoints", RoleAdmin, admin, "", ""},
		{"admin calls node endpoints", RoleNode, admin, "node-1", ""},
		{"join registers", RoleJoin, join, "", ""},
		{"node calls its own endpoints", RoleNode, node1, "node-1", ""},
		{"node calls another node's endpoints", RoleNode, node1, "node-2", `this token belongs to node "node-1" and may not act for node "node-2"`},
		{"join calls node endpoints", RoleNode, join, "node-1", "a join token may only register a node; use the node token the registration returned"},
		{"node calls admin endpoints", RoleAdmin, node1, "", "this token may only call agent endpoints; use an admin token (orch server prints it and writes it to the client config)"},
		{"viewer reads", RoleViewer, Identity{Role: RoleViewer, Name: "v"}, "", ""},
		{"admin reads", RoleViewer, admin, "", ""},
		{"viewer writes", RoleAdmin, Identity{Role: RoleViewer, Name: "v"}, "", "a viewer token may only read; use an admin token to change the cluster"},
		{"node reads", RoleViewer, node1, "", "this token may only call agent endpoints; use a viewer, deployer or admin token (orch token create --role viewer)"},
		{"viewer calls node endpoints", RoleNode, Identity{Role: RoleViewer, Name: "v"}, "node-1", "a viewer token may only read; use an admin token to change the cluster"},
		{"deployer deploys", RoleDeployer, deployer, "", ""},
		{"deployer reads", RoleViewer, deployer, "", ""},
		{"admin deploys", RoleDeployer, admin, "", ""},
		{"viewer deploys", RoleDeployer, Identity{Role: RoleViewer, Name: "v"}, "", "a viewer token may only read; use a deployer or admin token to change the cluster (orch token create --role deployer)"},
		{"deployer mints tokens", RoleAdmin, deployer, "", "a deployer token may deploy (task definitions, services, tasks, queues, topics, functions) but not manage tokens, nodes, the cluster policy or the audit log; use an admin token"},
		{"deployer calls node endpoints", RoleNode, deployer, "node-1", "a deployer token may deploy (task definitions, services, tasks, queues, topics, functions) but not manage tokens, nodes, the cluster policy or the audit log; use an admin token"},
		{"join deploys", RoleDeployer, join, "", "this token may only call agent endpoints; use a viewer, deployer or admin token (orch token create --role viewer)"},
		{"node registers", RoleJoin, node1, "", `this token belongs to node "node-1" and may not act for node ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := Permit(tc.required, tc.id, tc.node); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Permit(%s, %+v, %q):\ngot  %q\nwant %q", tc.required, tc.id, tc.node, got, tc.want)
			}
		})
	}
}
