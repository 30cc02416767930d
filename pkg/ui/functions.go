package ui

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// sampleFunctions notifies the Functions pages when any function's
// figures changed since the last sample (the metering is in memory, not
// in a watched cache, so it is sampled with the queues).
func (u *UI) sampleFunctions(ctx context.Context) {
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	fs, err := u.cfg.Backend.Functions(fctx)
	cancel()
	var b strings.Builder
	fmt.Fprint(&b, err)
	for _, f := range fs {
		fmt.Fprintf(&b, "|%s %s %d %d %d %+v", f.Name, f.LastModified, f.Warm, f.Inflight, f.MemoryMiB, f.Usage)
	}
	sig := b.String()
	u.qmu.Lock()
	changed := u.fsig != "" && sig != u.fsig // the first sample is no change
	u.fsig = sig
	u.qmu.Unlock()
	if changed {
		u.Notify(KindFunctions)
	}
}

func (u *UI) functions(w http.ResponseWriter, r *http.Request, ss *session) {
	fs, err := u.cfg.Backend.Functions(r.Context())
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	u.show(w, r, ss, "functions", "Functions", "/ui/functions", KindFunctions,
		map[string]any{"Functions": fs, "Err": msg, "Every": u.cfg.QueueSampleEvery})
}

func (u *UI) function(w http.ResponseWriter, r *http.Request, ss *session) {
	f, err := u.cfg.Backend.Function(r.Context(), r.PathValue("name"))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.show(w, r, ss, "function", "Function "+f.Name, "/ui/functions", KindFunctions+" "+KindQueues, f)
}
