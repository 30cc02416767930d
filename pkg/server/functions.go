package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/lambda"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/manifest"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// functionsFeature serves functions: the Lambda API (REST-JSON, SigV4),
// /v1/functions and /v1/eventsourcemappings, the Function and
// EventSourceMapping kinds, and the agents' invocation streams. Its loop
// keeps the function cache and delivers stored Event invocations. This
// file is the one place that wires pkg/function and pkg/api/lambda into
// the server.
//
// A server routes invocations to the agents attached to it, and every
// agent attaches its invocation stream to each replica given in its
// --server list, so any replica can run any function without forwarding
// (documented in docs/functions.md).
//
// A function's reserved concurrency is counted once for the cluster, by
// the replica owning the queue shard its name falls in; the others take a
// slot there over the slot endpoints (pkg/function/slots.go).
type functionsFeature struct {
	svc   *function.Service
	aws   *lambda.Handler
	slots *lambda.SlotClient
	serve *lambda.SlotHandler
}

// setReplicaKey sets the key the replicas sign slot requests with, and
// tr, when not nil, how they reach each other (TLS with the cluster CA).
func (f functionsFeature) setReplicaKey(key []byte, tr http.RoundTripper) {
	f.slots.SetReplicaKey(key)
	f.serve.SetReplicaKey(key)
	if tr != nil {
		f.slots.SetTransport(tr)
	}
}

func newFunctionsFeature(st *store.Store, caches *controller.Caches, queues *queue.Broker, keys *awsKeys, retryBase time.Duration, log *slog.Logger) functionsFeature {
	hub := function.NewHub()
	hub.FreeMemory = (&freeMemory{caches: caches}).of
	slots := lambda.NewSlotClient()
	svc := function.New(function.Config{Store: st, Hub: hub, Queues: fnQueues{queues}, Logger: log, RetryBase: retryBase, Slots: slots})
	// Every Lambda action is authorized as lambda:<Action> on the
	// function's ARN: admin keys may do everything, a task's credentials
	// what its role's policy allows (often lambda:InvokeFunction only).
	authz := &lambdaAuthorized{v: keys.v.For("lambda"), keys: keys}
	return functionsFeature{svc: svc, aws: lambda.NewHandler(svc, authz, authz, log), slots: slots, serve: lambda.NewSlotHandler(svc)}
}

// fnQueues is the broker as the functions see it: a failed Event
// invocation's dead-letter queue may be served by another replica
// (Deliver forwards to its owner), while the pollers receive and delete
// in process on the replica owning their queue (the promoted methods).
type fnQueues struct{ *queue.Broker }

func (q fnQueues) SendMessage(ctx context.Context, name string, e queue.SendEntry) (*queue.SendResult, error) {
	return q.Deliver(ctx, name, e)
}

// lambdaAuthorized checks the signature, then the Lambda action the
// request's method and path name (Lambda is REST: there is no action
// header) against the caller's policy, as AccessDeniedException.
type lambdaAuthorized struct {
	v    awsproto.Verifier
	keys *awsKeys
}

func (a *lambdaAuthorized) Verify(r *http.Request, body []byte) error {
	if err := a.v.Verify(r, body); err != nil {
		return err
	}
	action, resource := lambdaAction(r.Method, r.URL.Path)
	err := a.keys.Authorize(r, "lambda:"+action, resource, nil)
	var denied *awsproto.AccessDenied
	if errors.As(err, &denied) {
		return &awsproto.Error{Code: "AccessDeniedException", Status: http.StatusForbidden, Message: denied.Message}
	}
	return err
}

// lambdaAction names the IAM action of a Lambda REST call and the
// resource it acts on (the function's ARN, or * for lists and mappings).
func lambdaAction(method, path string) (action, resource string) {
	parts := strings.Split(strings.Trim(path, "/"), "/") // 2015-03-31, functions, NAME, ...
	resource = "*"
	if len(parts) < 2 {
		return "Unknown", resource
	}
	if parts[1] == "event-source-mappings" {
		switch {
		case method == http.MethodPost:
			return "CreateEventSourceMapping", resource
		case len(parts) == 2 || parts[2] == "":
			return "ListEventSourceMappings", resource
		case method == http.MethodPut:
			return "UpdateEventSourceMapping", resource
		case method == http.MethodDelete:
			return "DeleteEventSourceMapping", resource
		}
		return "GetEventSourceMapping", resource
	}
	if len(parts) < 3 || parts[2] == "" {
		if method == http.MethodPost {
			return "CreateFunction", resource
		}
		return "ListFunctions", resource
	}
	resource = model.FunctionARN(parts[2])
	sub := ""
	if len(parts) > 3 {
		sub = parts[3]
	}
	switch sub {
	case "invocations":
		return "InvokeFunction", resource
	case "code":
		return "UpdateFunctionCode", resource
	case "configuration":
		if method == http.MethodPut {
			return "UpdateFunctionConfiguration", resource
		}
		return "GetFunctionConfiguration", resource
	case "concurrency":
		switch method {
		case http.MethodPut:
			return "PutFunctionConcurrency", resource
		case http.MethodDelete:
			return "DeleteFunctionConcurrency", resource
		}
		return "GetFunctionConcurrency", resource
	}
	if method == http.MethodDelete {
		return "DeleteFunction", resource
	}
	return "GetFunction", resource
}

func (f functionsFeature) Routes(r api.Routes) {
	r.Protocol(lambda.IsLambdaRequest, f.aws)
	r.Protocol(lambda.IsSlotRequest, f.serve) // replicas only: authenticated with the replica key
	for pattern, h := range lambda.NewREST(f.svc).Routes() {
		r.Handle(pattern, restRole(pattern), h)
	}
	for pattern, h := range f.aws.AgentRoutes() {
		r.Handle(pattern, auth.RoleNode, h)
	}
}

func (f functionsFeature) Kinds() []api.Kind {
	return []api.Kind{
		{Name: manifest.KindFunction, Applier: lambda.FunctionApplier{Functions: f.svc}},
		{Name: manifest.KindEventSourceMapping, Applier: lambda.MappingApplier{Functions: f.svc}},
	}
}

func (f functionsFeature) Run(ctx context.Context) error { return f.svc.Run(ctx) }

// freeMemory is each node's registered memory minus what its tasks
// reserve, recomputed at most every 2 seconds (placement of function
// environments needs a rough figure, not a scan of every task per call).
type freeMemory struct {
	caches *controller.Caches
	mu     sync.Mutex
	at     time.Time
	free   map[string]int
}

func (m *freeMemory) of(node string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.at) > 2*time.Second {
		free := map[string]int{}
		for _, n := range m.caches.Nodes.List() {
			free[n.Name] = n.Capacity.MemoryMiB
		}
		for _, t := range m.caches.Tasks.List() {
			if t.Holds() {
				free[t.NodeName] -= t.Requirements.MemoryMiB
			}
		}
		m.free, m.at = free, time.Now()
	}
	return m.free[node]
}

var _ http.Handler = (*lambda.Handler)(nil)
var _ function.Queue = (*queue.Broker)(nil)
