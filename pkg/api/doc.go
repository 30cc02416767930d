// Package api serves Orch's one HTTP endpoint: the native REST API under
// /v1 (docs/api.md), the agent protocol under /v1/agent, /healthz, /metrics,
// and the protocols (AWS SQS, ...) its features add.
//
// The Server itself only authenticates (pkg/auth decides who may call what),
// applies manifests (POST /v1/apply) and dispatches; everything else comes
// from the Features in Config.Features, in order: Core (task definitions,
// tasks, nodes, join tokens, agents), ServicesFeature, and features defined
// elsewhere (pkg/server wires queues). Handlers talk to their backends
// through the narrow interfaces of backends.go, in model terms; they decode
// strictly (unknown fields, wrong types and oversized bodies are 4xx with a
// JSON {code, message}) and never let a panic reach a client.
//
// Example:
//
//	srv := api.New(api.Config{
//		Features: []api.Feature{
//			api.Core(api.CoreConfig{TaskDefinitions: tds, Tasks: tasks, Nodes: nodes, Source: source, Tokens: tokens}),
//			api.ServicesFeature(services),
//		},
//		Tokens: tokens,
//	})
//	http.ListenAndServe(":7474", srv.Handler())
package api
