package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// CoreConfig wires the core feature to its backends.
type CoreConfig struct {
	TaskDefinitions TaskDefinitions
	Tasks           Tasks
	Nodes           Nodes
	// Source feeds the agents' assignment streams.
	Source TaskSource
	// Tokens mints join tokens and node tokens.
	Tokens TokenStore
	// ContainerEnv is added to every container agents start (AWS_* etc.),
	// given the address the agent used to reach the server.
	ContainerEnv func(r *http.Request) map[string]string
	Logger       *slog.Logger
	// ClusterID is told to agents at registration (their containers'
	// orch.cluster label).
	ClusterID string
	// JoinTokenPrefix starts minted join tokens (default "orchjoin_"); a
	// TLS server's carries its CA pin (pkg/pki.JoinTokenPrefix).
	JoinTokenPrefix string
	// IssueNodeCert issues a registering node the certificate its log
	// server presents (PEM chain), for its serving key; AgentTLS is how
	// the server then reaches that agent (pkg/pki.NodeClientTLS). Both
	// nil in a plain-HTTP cluster (plain HTTP and the callback token).
	IssueNodeCert func(name, servingKey string) (string, error)
	AgentTLS      func(node string) *tls.Config
	// CallbackToken opens a node's callback token (plain HTTP: sealed in
	// etcd); nil uses the record's value.
	CallbackToken func(*model.Node) (string, error)
}

// core is the feature every server has: task definitions, tasks, nodes,
// join tokens and the agent protocol.
type core struct {
	cfg     CoreConfig
	log     *slog.Logger
	tdCache sync.Map // "family:rev" -> *model.TaskDefinition (immutable content)
}

// Core returns the feature serving task definitions, tasks, nodes, join
// tokens and the agent protocol (/v1/agent), and the TaskDefinition kind.
func Core(cfg CoreConfig) Feature {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &core{cfg: cfg, log: cfg.Logger.With("component", "api")}
}

func (s *core) Routes(r Routes) {
	admin := func(pattern string, h http.HandlerFunc) { r.Handle(pattern, auth.RoleAdmin, h) }
	deploy := func(pattern string, h http.HandlerFunc) { r.Handle(pattern, auth.RoleDeployer, h) }
	viewer := func(pattern string, h http.HandlerFunc) { r.Handle(pattern, auth.RoleViewer, h) }
	join := func(pattern string, h http.HandlerFunc) { r.Handle(pattern, auth.RoleJoin, h) }
	agent := func(pattern string, h http.HandlerFunc) { r.Handle(pattern, auth.RoleNode, h) }

	deploy("POST /v1/taskdefinitions", s.registerTaskDef)
	viewer("GET /v1/taskdefinitions", s.listTaskDefs)
	viewer("GET /v1/taskdefinitions/{ref}", s.getTaskDef)
	deploy("DELETE /v1/taskdefinitions/{ref}", s.deregisterTaskDef)

	deploy("POST /v1/tasks", s.runTasks)
	viewer("GET /v1/tasks", s.listTasks)
	viewer("GET /v1/tasks/watch", s.watchTasks)
	viewer("GET /v1/tasks/{id}", s.getTask)
	deploy("POST /v1/tasks/{id}/stop", s.stopTask)
	deploy("DELETE /v1/tasks/{id}", s.deleteTask)
	viewer("GET /v1/tasks/{id}/logs", s.taskLogs)

	viewer("GET /v1/nodes", s.listNodes)
	viewer("GET /v1/nodes/{name}", s.getNode)
	admin("POST /v1/nodes/{name}/drain", s.setNodeStatus(model.NodeDraining))
	admin("POST /v1/nodes/{name}/activate", s.setNodeStatus(model.NodeActive))
	admin("DELETE /v1/nodes/{name}", s.deleteNode)

	admin("POST /v1/join-tokens", s.newJoinToken)

	join("POST /v1/agent/nonce", s.agentNonce)
	join("POST /v1/agent/register", s.agentRegister)
	agent("POST /v1/agent/nodes/{name}/heartbeat", s.agentHeartbeat)
	agent("GET /v1/agent/nodes/{name}/assignments", s.agentAssignments)
	agent("POST /v1/agent/nodes/{name}/status", s.agentStatus)
	agent("POST /v1/agent/nodes/{name}/certificate", s.agentCertificate)
}

func (s *core) Kinds() []Kind {
	return []Kind{{Name: "TaskDefinition", Applier: taskDefApplier{s.cfg.TaskDefinitions}}}
}

// taskDefApplier is the TaskDefinition kind of POST /v1/apply.
type taskDefApplier struct{ svc TaskDefinitions }

func (a taskDefApplier) Decode(spec json.RawMessage) (any, error) {
	var td model.TaskDefinition
	if err := strictJSON(spec, &td); err != nil {
		return nil, err
	}
	if err := td.Validate(); err != nil {
		return nil, err
	}
	return &td, nil
}

func (a taskDefApplier) Apply(ctx context.Context, obj any) (wire.ApplyResult, error) {
	td := obj.(*model.TaskDefinition)
	stored, created, err := a.svc.Register(ctx, td)
	if err != nil {
		return wire.ApplyResult{}, err
	}
	action := "unchanged"
	if created {
		action = "created"
		if stored.Revision > 1 {
			action = "configured"
		}
	}
	return wire.ApplyResult{Kind: "TaskDefinition", Name: td.Family, Action: action, Ref: stored.Ref()}, nil
}
