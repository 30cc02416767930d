package model

import "time"

// Node statuses (ECS container instance statuses).
const (
	NodeActive   = "ACTIVE"
	NodeDraining = "DRAINING"
)

// Resources are amounts of cpu units (1024 = 1 vCPU) and memory in MiB.
type Resources struct {
	CPU       int `json:"cpu"`
	MemoryMiB int `json:"memoryMiB"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{CPU: r.CPU + o.CPU, MemoryMiB: r.MemoryMiB + o.MemoryMiB}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{CPU: r.CPU - o.CPU, MemoryMiB: r.MemoryMiB - o.MemoryMiB}
}

// Fits reports whether need fits in r.
func (r Resources) Fits(need Resources) bool {
	return need.CPU <= r.CPU && need.MemoryMiB <= r.MemoryMiB
}

// Node is a host running an agent (an ECS container instance).
type Node struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ACTIVE or DRAINING
	// Capacity is what the agent registered; the scheduler subtracts the
	// requirements of the tasks placed on the node.
	Capacity Resources `json:"capacity"`
	// ReservedPorts are host ports the node never hands out ("tcp/22").
	ReservedPorts []string          `json:"reservedPorts,omitempty"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	// UserAttributes are the attributes users set (ECS PutAttributes); they
	// are also in Attributes, and survive the agent registering again.
	UserAttributes map[string]string `json:"userAttributes,omitempty"`
	// Tags are the user's tags on the node (ECS container instance tags).
	Tags []Tag `json:"tags,omitempty"`
	// Address is where the control plane reaches the agent (logs).
	Address string `json:"address,omitempty"`
	// CallbackToken authenticates the control plane to the agent in a
	// plain-HTTP cluster (sealed in etcd; a TLS cluster uses mutual TLS and
	// keeps none); the API never returns it.
	CallbackToken string `json:"callbackToken,omitempty"`
	AgentVersion  string `json:"agentVersion,omitempty"`
	Runtime       string `json:"runtime,omitempty"` // docker or fake
	// PublicKey is the host's identity key (base64 ed25519): only the
	// holder of its private key may register this name again.
	PublicKey    string    `json:"publicKey,omitempty"`
	RegisteredAt time.Time `json:"registeredAt"`
	// LeaseID is the etcd lease behind the node's liveness key; heartbeats
	// keep it alive.
	LeaseID int64 `json:"leaseId,omitempty"`

	// Alive is derived from the liveness key when reading; not stored.
	Alive       bool  `json:"alive"`
	ModRevision int64 `json:"-"`
}

// Built-in node attribute names (ECS uses ecs.os-type etc.; Orch keeps them short).
const (
	AttrOS       = "os"
	AttrArch     = "arch"
	AttrHostname = "hostname"
	AttrNodeName = "node"
)
