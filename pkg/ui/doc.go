// Package ui is the web dashboard served at /ui on the server's one
// endpoint: server-rendered HTML (html/template) that works with scripting
// off, one small hand-written script for live updates over server-sent
// events, and a stylesheet, all embedded with go:embed (no JavaScript
// toolchain, no CDN; it works offline).
//
// It reads the cluster through Backend, a narrow interface in model terms
// that pkg/server implements over the same caches and domain objects the
// /v1 API uses, and it signs people in with the same tokens: a session
// cookie (HttpOnly, SameSite=Strict, Secure over TLS) holds a random
// session id, never the token. Every form POST carries the session's CSRF
// token; writes (scale, rollback) need a role that may write.
//
// Live updates: the server calls Notify(kind) from its cache subscriptions;
// one hub per server coalesces bursts (at most one event per
// CoalesceWindow) and fans out to every open page, which re-fetches only
// its own live region when a kind it shows changed.
//
// Example:
//
//	d := ui.New(ui.Config{Backend: b, Authenticate: auth})
//	go d.Run(ctx)
//	mux.Handle("/ui/", d)
//	d.Notify(ui.KindTasks) // from a cache subscription
package ui
