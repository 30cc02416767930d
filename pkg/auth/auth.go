// Package auth names who may call the control plane and decides what each
// may do. It is pure: pkg/store keeps tokens and keys with these roles, and
// pkg/api asks Permit before it serves a request.
//
// Example:
//
//	id := auth.Identity{Role: auth.RoleNode, Name: "node-1"}
//	err := auth.Permit(auth.RoleNode, id, "node-2") // *auth.DeniedError: node-1 may not act for node-2
package auth

import "fmt"

// A Role is what a token or an AWS access key stands for.
type Role string

// Roles. The strings are stored in etcd with every token and key, so they
// never change (a join token is stored as "agent" for that reason).
const (
	// RoleAdmin may call everything: users, the CLI, the dashboard.
	RoleAdmin Role = "admin"
	// RoleJoin is a join token: it may only register a node. The
	// registration hands the agent a node token.
	RoleJoin Role = "agent"
	// RoleNode is a node token, named after its node: it may call that
	// node's agent endpoints (heartbeat, assignments, status) alone.
	RoleNode Role = "node"
	// RoleTask is the AWS access key agents inject into containers, for
	// the AWS protocol APIs (queues).
	RoleTask Role = "task"
	// RoleViewer may read (the dashboard, GET endpoints) and change
	// nothing: a token to hand to people who should look, not touch.
	RoleViewer Role = "viewer"
)

// ParseUserRole checks a role a user may mint a token for (`orch token
// create --role R`); agent roles are minted by the join flow instead.
func ParseUserRole(s string) (Role, error) {
	switch Role(s) {
	case RoleAdmin, RoleViewer:
		return Role(s), nil
	}
	return "", fmt.Errorf("role %q: a user token's role is admin or viewer", s)
}

// CanWrite reports whether a role may change the cluster (scale, rollback,
// run, apply). Only admins may; viewers read.
func CanWrite(r Role) bool { return r == RoleAdmin }

// Identity is who presented a token: its role and, for a node token, the
// node's name.
type Identity struct {
	Role Role
	Name string
}

// A DeniedError says why an identity may not call an endpoint and what
// credential would do.
type DeniedError struct{ Reason string }

func (e *DeniedError) Error() string { return e.Reason }

// Permit decides whether id may call an endpoint that requires role; node is
// the endpoint's node name, if any. Admins may call everything.
func Permit(required Role, id Identity, node string) error {
	if id.Role == RoleAdmin {
		return nil
	}
	if id.Role == RoleViewer && required != RoleViewer {
		return &DeniedError{"a viewer token may only read; use an admin token to change the cluster"}
	}
	switch required {
	case RoleViewer:
		if id.Role == RoleViewer {
			return nil
		}
		return &DeniedError{"this token may only call agent endpoints; use a viewer or admin token (orch token create --role viewer)"}
	case RoleAdmin:
		return &DeniedError{"this token may only call agent endpoints; use an admin token (orch server prints it and writes it to the client config)"}
	case RoleJoin:
		if id.Role == RoleJoin {
			return nil
		}
	case RoleNode:
		if id.Role == RoleNode && id.Name == node {
			return nil
		}
		if id.Role == RoleJoin {
			return &DeniedError{"a join token may only register a node; use the node token the registration returned"}
		}
	}
	return &DeniedError{fmt.Sprintf("this token belongs to node %q and may not act for node %q", id.Name, node)}
}
