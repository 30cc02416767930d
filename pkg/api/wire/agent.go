// Package wire holds the JSON shapes exchanged over /v1 between the control
// plane, the CLI and agents. Both pkg/api (server) and pkg/api/client use it.
package wire

import (
	"errors"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// RegisterRequest is what an agent sends when it (re)joins:
// POST /v1/agent/register with the join token. Its JSON shape is the
// domain's registration.
type RegisterRequest = model.NodeRegistration

// NonceResponse is POST /v1/agent/nonce: a single-use value (valid for a
// minute) the agent signs, with its host key, to register.
type NonceResponse struct {
	Nonce string `json:"nonce"`
}

// RegisterResponse returns the node as stored and how often to heartbeat.
type RegisterResponse struct {
	Node              model.Node    `json:"node"`
	HeartbeatInterval time.Duration `json:"heartbeatInterval"`
	// Env is added to every container the agent starts (e.g. AWS_ENDPOINT_URL).
	Env map[string]string `json:"env,omitempty"`
	// NodeToken authenticates every later call for this node (heartbeats,
	// assignments, status); the join token only registers.
	NodeToken string `json:"nodeToken,omitempty"`
	// ClusterID is the cluster's id: the agent labels its containers
	// with it (orch.cluster) and never touches containers of another.
	ClusterID string `json:"clusterId,omitempty"`
	// NodeCert (PEM: the node's certificate, then the cluster CA) is what
	// the agent serves its log endpoint with, over TLS with its serving
	// key, in a TLS cluster; "" in a plain-HTTP one.
	NodeCert string `json:"nodeCert,omitempty"`
}

// NodeCertRequest asks for a new certificate for the node's log server
// (POST /v1/agent/nodes/{name}/certificate, with that node's token):
// ServingKey as in RegisterRequest.
type NodeCertRequest struct {
	ServingKey string `json:"servingKey"`
}

// NodeCertResponse is the renewed certificate (PEM: the node's
// certificate, then the cluster CA).
type NodeCertResponse struct {
	NodeCert string `json:"nodeCert"`
}

// Assignment is a task placed on the agent's node with the definition to run.
type Assignment struct {
	Task           model.Task           `json:"task"`
	TaskDefinition model.TaskDefinition `json:"taskDefinition"`
}

// Assignment stream event types.
const (
	EventSnapshot = "snapshot" // Assignments is the node's complete set
	EventPut      = "put"      // one assignment created or changed
	EventDelete   = "delete"   // TaskID is no longer assigned (deleted)
	EventPing     = "ping"     // keep-alive, no content
)

// AssignmentEvent is one line of GET /v1/agent/nodes/{name}/assignments,
// an NDJSON stream: first a snapshot, then puts and deletes as they happen.
type AssignmentEvent struct {
	Type        string       `json:"type"`
	Assignments []Assignment `json:"assignments,omitempty"`
	TaskID      string       `json:"taskId,omitempty"`
}

// TaskStatusReport is what an agent observed of one task (the domain's
// report, sent as is).
type TaskStatusReport = model.TaskStatusReport

// StatusBatch is POST /v1/agent/nodes/{name}/status.
type StatusBatch struct {
	Reports []TaskStatusReport `json:"reports"`
}

// Error is every /v1 error body.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrUnknownNode is returned to an agent whose node the control plane does
// not know (e.g. it was deleted); the agent registers again.
var ErrUnknownNode = errors.New("wire: unknown node; register again")

// ErrNodeNameTaken is returned when the node name is bound to another
// host's identity key (409 NodeNameTaken); retrying cannot help, so the
// agent exits with the server's explanation.
var ErrNodeNameTaken = errors.New("wire: the node name is taken by another host")

// ErrUnauthorized is returned when the control plane rejects the agent's
// token (401/403); retrying cannot help, so the agent exits.
var ErrUnauthorized = errors.New("wire: the control plane rejected the token")
