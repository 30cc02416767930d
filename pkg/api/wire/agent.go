// Package wire holds the JSON shapes exchanged over /v1 between the control
// plane, the CLI and agents. Both pkg/api (server) and pkg/api/client use it.
package wire

import (
	"errors"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// RegisterRequest is what an agent sends when it (re)joins:
// POST /v1/agent/register with the join token.
type RegisterRequest struct {
	Name          string            `json:"name"`
	Capacity      model.Resources   `json:"capacity"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	ReservedPorts []string          `json:"reservedPorts,omitempty"`
	// Address is host:port of the agent's own HTTP server (logs).
	Address      string `json:"address,omitempty"`
	AgentVersion string `json:"agentVersion,omitempty"`
	Runtime      string `json:"runtime,omitempty"`
	// CallbackToken is a secret the control plane presents when it calls
	// the agent (log streaming). The agent generates it at start.
	CallbackToken string `json:"callbackToken,omitempty"`
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

// TaskStatusReport is what an agent observed of one task. Fields left empty
// are not changed; LastStatus only moves forward on the server.
type TaskStatusReport struct {
	TaskID        string            `json:"taskId"`
	LastStatus    string            `json:"lastStatus"`
	StopCode      string            `json:"stopCode,omitempty"`
	StoppedReason string            `json:"stoppedReason,omitempty"`
	HealthStatus  string            `json:"healthStatus,omitempty"`
	Containers    []model.Container `json:"containers,omitempty"`
	Usage         *model.Usage      `json:"usage,omitempty"`
	PullStartedAt *time.Time        `json:"pullStartedAt,omitempty"`
	StartedAt     *time.Time        `json:"startedAt,omitempty"`
	StoppedAt     *time.Time        `json:"stoppedAt,omitempty"`
	// Event, when set, is appended to the task's history.
	Event string `json:"event,omitempty"`
}

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

// ErrUnauthorized is returned when the control plane rejects the agent's
// token (401/403); retrying cannot help, so the agent exits.
var ErrUnauthorized = errors.New("wire: the control plane rejected the token")
