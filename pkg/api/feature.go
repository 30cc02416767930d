package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
)

// A Feature is one part of the API (task definitions, tasks and nodes;
// services; queues ...): the endpoints it serves and the manifest kinds it
// applies. Features are listed once, in order, in Config.Features, so the
// Server does not grow a field per feature.
type Feature interface {
	// Routes adds the feature's endpoints.
	Routes(r Routes)
	// Kinds are the manifest kinds POST /v1/apply hands to the feature.
	Kinds() []Kind
}

// Routes is where a Feature adds endpoints.
type Routes interface {
	// Handle serves pattern (net/http.ServeMux syntax) to callers whose
	// token auth.Permit allows for role.
	Handle(pattern string, role auth.Role, h http.HandlerFunc)
	// Protocol serves the requests outside /v1/ that match: an AWS
	// protocol adapter authenticates them itself (SigV4).
	Protocol(match func(*http.Request) bool, h http.Handler)
}

// A Kind is one manifest kind POST /v1/apply accepts.
type Kind struct {
	// Name is the document's kind ("TaskDefinition", "Queue").
	Name    string
	Applier Applier
}

// Applier applies one manifest kind for POST /v1/apply.
type Applier interface {
	// Decode parses and validates spec without applying it.
	Decode(spec json.RawMessage) (any, error)
	// Apply creates or updates the decoded object.
	Apply(ctx context.Context, obj any) (wire.ApplyResult, error)
}

// BatchChecker is an optional Applier extension: after every document of
// an apply decoded, Check validates obj against the server's state and the
// other objects of the same apply (e.g. a Service naming a task definition
// registered by an earlier document). An error applies nothing.
type BatchChecker interface {
	Check(ctx context.Context, obj any, batch []wire.ApplyDocument, objs []any) error
}

// ApplyForwarder is an optional Applier extension for kinds whose objects
// one replica owns (queues by shard, topics): when Apply failed because
// another replica owns obj, ForwardApply sends r with body (POST
// /v1/apply of that one document, the caller's credentials) to the owner
// and writes its answer to w; it reports whether it did. Without it, an
// apply through any replica but the owner would fail.
type ApplyForwarder interface {
	ForwardApply(w http.ResponseWriter, r *http.Request, body []byte, err error) bool
}
