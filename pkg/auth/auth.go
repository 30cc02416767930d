// Package auth names who may call the control plane and decides what each
// may do. It is pure: pkg/store keeps tokens and keys with these roles, and
// pkg/api asks Permit before it serves a request.
//
// Example:
//
//	id := auth.Identity{Role: auth.RoleNode, Name: "node-1"}
//	err := auth.Permit(auth.RoleNode, id, "node-2") // *auth.DeniedError: node-1 may not act for node-2
package auth

import (
	"fmt"
	"time"
)

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
	// RoleDeployer may deploy: register task definitions, create, update
	// and delete services, run and stop tasks, manage queues, topics,
	// functions and scaling policies (and read everything). It may not
	// mint or revoke tokens, set the cluster policy, read the audit log or
	// drain and remove nodes: a token for CI.
	RoleDeployer Role = "deployer"
)

// ParseUserRole checks a role a user may mint a token for (`orch token
// create --role R`); agent roles are minted by the join flow instead.
func ParseUserRole(s string) (Role, error) {
	switch Role(s) {
	case RoleAdmin, RoleDeployer, RoleViewer:
		return Role(s), nil
	}
	return "", fmt.Errorf("role %q: a user token's role is admin, deployer or viewer", s)
}

// IsUserRole reports whether r is a person's role (admin, deployer,
// viewer) rather than an agent's or a task's.
func IsUserRole(r Role) bool { _, err := ParseUserRole(string(r)); return err == nil }

// CanWrite reports whether a role may change workloads (scale, rollback,
// run, apply): admins and deployers; viewers read.
func CanWrite(r Role) bool { return r == RoleAdmin || r == RoleDeployer }

// Identity is who presented a token: its role and, for a node token, the
// node's name; for a person's token its name, id (a prefix of its hash,
// shown by orch token ls and in the audit log) and expiry.
type Identity struct {
	Role Role
	Name string
	// ID names the token without revealing it; "" for AWS keys.
	ID string
	// ExpiresAt is when the token stops working; zero: never.
	ExpiresAt time.Time
}

// Expired reports whether the token has expired at now.
func (id Identity) Expired(now time.Time) bool {
	return !id.ExpiresAt.IsZero() && !now.Before(id.ExpiresAt)
}

// A DeniedError says why an identity may not call an endpoint and what
// credential would do.
type DeniedError struct{ Reason string }

func (e *DeniedError) Error() string { return e.Reason }

// Permit decides whether id may call an endpoint that requires role; node is
// the endpoint's node name, if any. Admins may call everything; a deployer
// what requires deployer or viewer; a viewer what requires viewer.
func Permit(required Role, id Identity, node string) error {
	if id.Role == RoleAdmin {
		return nil
	}
	switch id.Role {
	case RoleViewer:
		if required == RoleViewer {
			return nil
		}
		if required == RoleDeployer {
			return &DeniedError{"a viewer token may only read; use a deployer or admin token to change the cluster (orch token create --role deployer)"}
		}
		return &DeniedError{"a viewer token may only read; use an admin token to change the cluster"}
	case RoleDeployer:
		if required == RoleViewer || required == RoleDeployer {
			return nil
		}
		return &DeniedError{"a deployer token may deploy (task definitions, services, tasks, queues, topics, functions) but not manage tokens, nodes, the cluster policy or the audit log; use an admin token"}
	}
	switch required {
	case RoleViewer, RoleDeployer:
		return &DeniedError{"this token may only call agent endpoints; use a viewer, deployer or admin token (orch token create --role viewer)"}
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
