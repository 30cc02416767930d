package controller

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sort"
	"time"

	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Nodes registers agents and keeps their liveness.
type Nodes struct {
	st     *store.Store
	caches *Caches
	// TTL is how long a node stays alive without a heartbeat.
	TTL time.Duration
	// Interval is how often agents are told to heartbeat.
	Interval time.Duration
}

// Liveness defaults. With the reconciler's default 2 s grace a dead node's
// service tasks are replaced within about 10 s: the lease runs out at most
// DefaultNodeTTL after the last heartbeat, the lifecycle loop notices within
// a second and waits out the grace, and placement takes the rest. Three
// heartbeats fit in one ttl, so two lost in a row do not lose the node.
const (
	DefaultNodeTTL           = 6 * time.Second
	DefaultHeartbeatInterval = 2 * time.Second
)

// NewNodes returns the nodes handler with the default ttl and interval.
func NewNodes(st *store.Store, caches *Caches) *Nodes {
	return &Nodes{st: st, caches: caches, TTL: DefaultNodeTTL, Interval: DefaultHeartbeatInterval}
}

// Registration bounds: a node's capacity within what any machine has
// (1024 CPUs, 16 TiB), and attributes, ports and strings small enough that
// a join-token holder cannot bloat etcd or the caches every server holds.
const (
	maxNodeCPU        = 1024 * 1024      // cpu units, 1024 per core
	maxNodeMemoryMiB  = 16 * 1024 * 1024 // 16 TiB
	maxNodeAttributes = 64
	maxAttrKeyLen     = 128
	maxAttrValueLen   = 256
	maxReservedPorts  = 1024
	maxNodeStringLen  = 256 // address, agentVersion, runtime, callbackToken, servingKey
	nodeNonceTTL      = time.Minute
)

// Nonce hands an agent a single-use value to sign for its next
// registration (see auth.NodeProofMessage).
func (s *Nodes) Nonce(ctx context.Context) (string, error) {
	var b [24]byte
	_, _ = rand.Read(b[:])
	n := base64.RawURLEncoding.EncodeToString(b[:])
	if err := s.st.PutNodeNonce(ctx, n, nodeNonceTTL); err != nil {
		return "", err
	}
	return n, nil
}

// validateRegistration bounds what an agent may register; errors name the
// field path.
func validateRegistration(req model.NodeRegistration) error {
	var errs model.FieldErrors
	if !model.ValidName(req.Name, 255) && !validHostname(req.Name) {
		errs.Add("name", "must be 1-255 letters, digits, dots, hyphens or underscores")
	}
	// Bounded so that sums over nodes cannot overflow (issue 12) and no
	// node claims more than a machine has (issue 11).
	if req.Capacity.CPU <= 0 || req.Capacity.CPU > maxNodeCPU {
		errs.Add("capacity.cpu", fmt.Sprintf("must be between 1 and %d (cpu units, 1024 per core: at most 1024 CPUs), got %d", maxNodeCPU, req.Capacity.CPU))
	}
	if req.Capacity.MemoryMiB <= 0 || req.Capacity.MemoryMiB > maxNodeMemoryMiB {
		errs.Add("capacity.memoryMiB", fmt.Sprintf("must be between 1 and %d (MiB: at most 16 TiB), got %d", maxNodeMemoryMiB, req.Capacity.MemoryMiB))
	}
	if len(req.Attributes) > maxNodeAttributes {
		errs.Add("attributes", fmt.Sprintf("at most %d attributes, got %d", maxNodeAttributes, len(req.Attributes)))
	} else {
		keys := make([]string, 0, len(req.Attributes))
		for k := range req.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch {
			case k == "" || len(k) > maxAttrKeyLen:
				errs.Add(fmt.Sprintf("attributes[%q]", truncate(k, 40)), fmt.Sprintf("name must be 1-%d bytes", maxAttrKeyLen))
			case len(req.Attributes[k]) > maxAttrValueLen:
				errs.Add(fmt.Sprintf("attributes[%q]", k), fmt.Sprintf("value must be at most %d bytes, got %d", maxAttrValueLen, len(req.Attributes[k])))
			}
		}
	}
	if len(req.ReservedPorts) > maxReservedPorts {
		errs.Add("reservedPorts", fmt.Sprintf("at most %d ports, got %d", maxReservedPorts, len(req.ReservedPorts)))
	} else {
		for i, p := range req.ReservedPorts {
			if len(p) > 16 {
				errs.Add(fmt.Sprintf("reservedPorts[%d]", i), "must look like tcp/22 or udp/53")
			}
		}
	}
	for _, f := range []struct{ path, v string }{
		{"address", req.Address}, {"agentVersion", req.AgentVersion}, {"runtime", req.Runtime},
		{"callbackToken", req.CallbackToken}, {"servingKey", req.ServingKey}, {"publicKey", req.PublicKey}, {"nonce", req.Nonce}, {"signature", req.Signature},
	} {
		if len(f.v) > maxNodeStringLen {
			errs.Add(f.path, fmt.Sprintf("must be at most %d bytes, got %d", maxNodeStringLen, len(f.v)))
		}
	}
	if req.PublicKey == "" || req.Nonce == "" || req.Signature == "" {
		errs.Add("publicKey", "a registration must prove the host's identity: publicKey, nonce (POST /v1/agent/nonce) and signature are required; upgrade orchlet")
	}
	return errs.Err()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// HeartbeatInterval is how often agents are told to heartbeat.
func (s *Nodes) HeartbeatInterval() time.Duration { return s.Interval }

// Register creates or refreshes the agent's node. The agent proves it holds
// the key it registers with (a signature over a single-use nonce); a name
// already bound to another key is refused, and nothing of that node (its
// token, lease, tasks) changes.
func (s *Nodes) Register(ctx context.Context, req model.NodeRegistration) (*model.Node, error) {
	if err := validateRegistration(req); err != nil {
		return nil, err
	}
	if err := auth.VerifyNodeProof(req.Nonce, req.Name, req.PublicKey, req.Signature); err != nil {
		return nil, err
	}
	ok, err := s.st.TakeNodeNonce(ctx, req.Nonce)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: nonce: unknown, expired or already used; fetch a fresh one (POST /v1/agent/nonce) and sign again", auth.ErrBadNodeProof)
	}
	attrs := map[string]string{}
	for k, v := range req.Attributes {
		attrs[k] = v
	}
	attrs[model.AttrNodeName] = req.Name
	n := &model.Node{
		Name: req.Name, Capacity: req.Capacity, Attributes: attrs, ReservedPorts: req.ReservedPorts,
		Address: req.Address, AgentVersion: req.AgentVersion, Runtime: req.Runtime,
		CallbackToken: req.CallbackToken, PublicKey: req.PublicKey, RegisteredAt: time.Now().UTC(),
	}
	return s.st.RegisterNode(ctx, n, s.TTL)
}

func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Heartbeat keeps a node alive; model.ErrNotFound means "register again".
// The lease id comes from the cache, so a heartbeat is normally a single
// lease keep-alive (see store.Heartbeat).
func (s *Nodes) Heartbeat(ctx context.Context, name string) error {
	var lease int64
	if n := s.caches.Nodes.Get(name); n != nil {
		lease = n.LeaseID
	}
	return s.st.Heartbeat(ctx, name, lease, s.TTL)
}

// List returns every node with its load, sorted by name.
func (s *Nodes) List() []model.NodeView {
	used := map[string]model.Resources{}
	running := map[string]int{}
	pending := map[string]int{}
	for _, t := range s.caches.Tasks.List() {
		if !t.Holds() {
			continue
		}
		used[t.NodeName] = used[t.NodeName].Add(t.Requirements)
		if t.LastStatus == model.StatusRunning {
			running[t.NodeName]++
		} else {
			pending[t.NodeName]++
		}
	}
	var out []model.NodeView
	for _, n := range s.caches.Nodes.List() {
		v := model.NodeView{Node: *n, Used: used[n.Name], RunningTasks: running[n.Name], PendingTasks: pending[n.Name]}
		v.Alive = s.caches.NodeAlive(n.Name)
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns one node's view.
func (s *Nodes) Get(name string) (*model.NodeView, error) {
	for _, v := range s.List() {
		if v.Name == name {
			return &v, nil
		}
	}
	return nil, fmt.Errorf("node %s: %w", name, model.ErrNotFound)
}

// Lookup returns the stored node (with its callback token) from the cache.
func (s *Nodes) Lookup(name string) (*model.Node, error) {
	n := s.caches.Nodes.Get(name)
	if n == nil {
		return nil, fmt.Errorf("node %s: %w", name, model.ErrNotFound)
	}
	return n, nil
}

// SetStatus drains (DRAINING) or activates (ACTIVE) a node. A draining node
// takes no new tasks; standalone tasks on it keep running (ECS semantics).
func (s *Nodes) SetStatus(ctx context.Context, name, status string) (*model.Node, error) {
	if status != model.NodeActive && status != model.NodeDraining {
		return nil, &model.FieldError{Path: "status", Message: "must be ACTIVE or DRAINING"}
	}
	return s.seen(ctx)(s.st.SetNodeStatus(ctx, name, status))
}

// Delete forgets a node. Its tasks are stopped by the lifecycle loop.
// Delete forgets a node and waits (briefly) until the node cache has seen
// it, so that a Get right after answers 404 instead of the cached node.
func (s *Nodes) Delete(ctx context.Context, name string) error {
	rev, err := s.st.DeleteNode(ctx, name)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = s.caches.Nodes.WaitRevision(wctx, rev) // late: the delete stands; the cache catches up
	return nil
}
