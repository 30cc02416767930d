// Package api serves Orch's one HTTP endpoint: the native REST API under
// /v1 (docs/api.md), the agent protocol under /v1/agent, /healthz, /metrics,
// and it routes AWS protocol requests (SQS, ...) to their adapters.
//
// Handlers talk to the controller through the narrow interfaces declared in
// services.go, decode strictly (unknown fields, wrong types and oversized
// bodies are 4xx with a JSON {code, message}), and never let a panic reach
// a client.
//
// Example:
//
//	srv := api.New(api.Config{TaskDefs: ..., Tasks: ..., Nodes: ..., Auth: ...})
//	http.ListenAndServe(":7474", srv.Handler())
package api
