package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
)

// watchPing keeps a quiet watch stream alive through proxies and lets the
// client tell a silent server from a quiet task.
const watchPing = 5 * time.Second

// maxWatchIDs bounds one watch request (orch run starts at most 1000 tasks).
const maxWatchIDs = 1000

// watchTasks serves GET /v1/tasks/watch?ids=ID,ID,...: an NDJSON stream of
// wire.TaskEvent, each task's current state first, then every change, from
// the server's watch cache. Clients such as `orch run --wait` learn of
// RUNNING the moment the server does instead of polling.
//
// Like every non-streaming route the request has a deadline (requestTimeout):
// the stream then ends cleanly and the client opens it again, receiving
// the current states first, so nothing is missed.
func (s *core) watchTasks(w http.ResponseWriter, r *http.Request) {
	var ids []string
	for _, id := range strings.Split(r.URL.Query().Get("ids"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 || len(ids) > maxWatchIDs {
		writeError(w, &apiError{http.StatusBadRequest, "InvalidParameter",
			fmt.Sprintf("ids: give 1 to %d task ids (or unique prefixes, or ARNs), comma separated: /v1/tasks/watch?ids=ID,ID", maxWatchIDs)})
		return
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		full, err := s.cfg.Tasks.Resolve(id)
		if err != nil {
			writeError(w, err)
			return
		}
		want[full] = true
	}
	sub := s.cfg.Source.SubscribeTasks(func(ch TaskChange) bool { return want[ch.TaskID] })
	defer sub.Close()

	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	send := func(evs []wire.TaskEvent) bool {
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return false
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	// The subscription starts with the cached tasks as creations; a task
	// created a moment ago that the cache has not seen yet arrives as its
	// first change.
	events := func() []wire.TaskEvent {
		var evs []wire.TaskEvent
		for _, ch := range sub.Drain() {
			if ch.Task == nil {
				evs = append(evs, wire.TaskEvent{Type: wire.TaskEventDeleted, TaskID: ch.TaskID})
			} else {
				evs = append(evs, wire.TaskEvent{Type: wire.TaskEventState, Task: ch.Task})
			}
		}
		return evs
	}
	if !send(events()) {
		return
	}
	ping := time.NewTicker(watchPing)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			if !send([]wire.TaskEvent{{Type: wire.TaskEventPing}}) {
				return
			}
		case <-sub.C():
			if !send(events()) {
				return
			}
		}
	}
}
