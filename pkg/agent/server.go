package agent

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// handler is the agent's own HTTP API:
//
//	GET /healthz
//	GET /logs/{taskId}?container=NAME&follow=1&since=RFC3339|DURATION&tail=N&timestamps=1
//
// In a TLS cluster every connection is mutual TLS (logtls.go): the caller
// proved at the handshake that it is a server of the cluster. In a
// plain-HTTP cluster /logs requires "Authorization: Bearer <CallbackToken>".
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /logs/{taskId}", a.handleLogs)
	return mux
}

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, format+"\n", args...)
}

func (a *Agent) authorized(r *http.Request) bool {
	if r.TLS != nil {
		// The handshake verified the client certificate (a server's of
		// this cluster): NodeServerTLS requires one.
		return len(r.TLS.PeerCertificates) > 0
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) == 1
}

func (a *Agent) handleLogs(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="orchlet"`)
		httpError(w, http.StatusUnauthorized, "missing or wrong bearer token: the agent accepts only the callback token it registered with")
		return
	}
	taskID := r.PathValue("taskId")
	q := r.URL.Query()
	opts := runtime.LogOptions{Tail: -1}
	switch v := q.Get("follow"); v {
	case "", "0", "false":
	case "1", "true":
		opts.Follow = true
	default:
		httpError(w, http.StatusBadRequest, "follow=%q: want 1 or 0", v)
		return
	}
	opts.Timestamps = q.Get("timestamps") == "1" || q.Get("timestamps") == "true"
	if v := q.Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			httpError(w, http.StatusBadRequest, "tail=%q: want a number of lines (or -1 for all)", v)
			return
		}
		opts.Tail = n
	}
	if v := q.Get("since"); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			opts.Since = t
		} else if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			opts.Since = time.Now().Add(-d)
		} else {
			httpError(w, http.StatusBadRequest, "since=%q: want an RFC 3339 time (2024-05-01T12:00:00Z) or a duration (10m)", v)
			return
		}
	}
	states, err := a.rt.List(r.Context(), a.selector(runtime.LabelTask, taskID))
	if err != nil {
		httpError(w, http.StatusBadGateway, "listing the task's containers: %v", err)
		return
	}
	if len(states) == 0 {
		httpError(w, http.StatusNotFound, "task %s has no containers on node %s (stopped containers are removed %s after the task stops)", taskID, a.node, a.cfg.StoppedRetention)
		return
	}
	var names []string
	for _, st := range states {
		if n := st.Labels[runtime.LabelContainer]; !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	name := q.Get("container")
	if name == "" {
		if len(names) > 1 {
			httpError(w, http.StatusBadRequest, "task %s has several containers; choose one with container=NAME (one of: %s)", taskID, strings.Join(names, ", "))
			return
		}
		name = names[0]
	}
	var target *runtime.State
	for i := range states {
		st := &states[i]
		if st.Labels[runtime.LabelContainer] != name {
			continue
		}
		if target == nil || st.Status == runtime.StatusRunning {
			target = st
		}
	}
	if target == nil {
		httpError(w, http.StatusNotFound, "task %s has no container %q on node %s (containers: %s)", taskID, name, a.node, strings.Join(names, ", "))
		return
	}
	rc, err := a.rt.Logs(r.Context(), target.ID, opts)
	if err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, runtime.ErrNotFound) {
			code = http.StatusNotFound
		}
		httpError(w, code, "reading logs of container %s: %v", name, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil && opts.Follow {
				flusher.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}
