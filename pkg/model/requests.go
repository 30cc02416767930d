package model

import "time"

// What callers ask of the control plane and what agents tell it. pkg/api
// decodes these from its wire format (pkg/api/wire names them for the JSON
// contract) and hands them to pkg/controller, which never sees HTTP.

// RunTaskInput asks for tasks of a task definition: ECS RunTask's input
// (the parts Orch acts on).
type RunTaskInput struct {
	TaskDefinition       string                `json:"taskDefinition"`
	Count                int                   `json:"count,omitempty"`
	Group                string                `json:"group,omitempty"`
	StartedBy            string                `json:"startedBy,omitempty"`
	Overrides            []ContainerOverride   `json:"overrides,omitempty"`
	PlacementStrategy    []PlacementStrategy   `json:"placementStrategy,omitempty"`
	PlacementConstraints []PlacementConstraint `json:"placementConstraints,omitempty"`
	Tags                 []Tag                 `json:"tags,omitempty"`
	// ClientToken makes the request idempotent (ECS RunTask clientToken).
	ClientToken string `json:"clientToken,omitempty"`
}

// TaskFilter selects tasks; empty fields match everything.
type TaskFilter struct {
	Family        string
	Group         string
	Node          string
	DesiredStatus string
	LastStatus    string
	StartedBy     string
}

// Match reports whether t passes every set field of f.
func (f TaskFilter) Match(t *Task) bool {
	return (f.Family == "" || t.Family == f.Family) && (f.Group == "" || t.Group == f.Group) &&
		(f.Node == "" || t.NodeName == f.Node) && (f.DesiredStatus == "" || t.DesiredStatus == f.DesiredStatus) &&
		(f.LastStatus == "" || t.LastStatus == f.LastStatus) && (f.StartedBy == "" || t.StartedBy == f.StartedBy)
}

// TaskStatusReport is what an agent observed of one task. Fields left empty
// are not changed; LastStatus only moves forward on the server.
type TaskStatusReport struct {
	TaskID        string      `json:"taskId"`
	LastStatus    string      `json:"lastStatus"`
	StopCode      string      `json:"stopCode,omitempty"`
	StoppedReason string      `json:"stoppedReason,omitempty"`
	HealthStatus  string      `json:"healthStatus,omitempty"`
	Containers    []Container `json:"containers,omitempty"`
	Usage         *Usage      `json:"usage,omitempty"`
	PullStartedAt *time.Time  `json:"pullStartedAt,omitempty"`
	StartedAt     *time.Time  `json:"startedAt,omitempty"`
	StoppedAt     *time.Time  `json:"stoppedAt,omitempty"`
	// Event, when set, is appended to the task's history.
	Event string `json:"event,omitempty"`
	// Protection, when set, is the task's scale-in protection as the task
	// last set it through its agent.
	Protection *ScaleInProtection `json:"protection,omitempty"`
}

// ScaleInProtection is a task's scale-in protection (ECS
// UpdateTaskProtection): enabled until ExpiresAt.
type ScaleInProtection struct {
	Enabled   bool       `json:"enabled"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// NodeRegistration is what an agent tells the control plane when it
// (re)joins.
type NodeRegistration struct {
	Name          string            `json:"name"`
	Capacity      Resources         `json:"capacity"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	ReservedPorts []string          `json:"reservedPorts,omitempty"`
	// Address is host:port of the agent's own HTTP server (logs).
	Address      string `json:"address,omitempty"`
	AgentVersion string `json:"agentVersion,omitempty"`
	Runtime      string `json:"runtime,omitempty"`
	// CallbackToken is a secret the control plane presents when it calls
	// the agent (log streaming) in a plain-HTTP cluster. The agent
	// generates it at start; a TLS cluster ignores it (mutual TLS instead).
	CallbackToken string `json:"callbackToken,omitempty"`
	// ServingKey (base64 PKIX DER) is the public key of the agent's log
	// server; a TLS cluster issues the node a certificate for it (see
	// pkg/pki.IssueNode) in RegisterResponse.NodeCert.
	ServingKey string `json:"servingKey,omitempty"`
	// PublicKey (base64 ed25519) is the host's identity; Signature signs
	// auth.NodeProofMessage(Nonce, Name, PublicKey) with its private key,
	// Nonce coming from POST /v1/agent/nonce. A node name belongs to the
	// first key that registers it.
	PublicKey string `json:"publicKey,omitempty"`
	Nonce     string `json:"nonce,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// NodeView is a node with what runs on it.
type NodeView struct {
	Node
	Used         Resources `json:"used"`
	RunningTasks int       `json:"runningTasks"`
	PendingTasks int       `json:"pendingTasks"`
}
