package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/store"
)

// storeHealth probes etcd once a second, so the API can tell the truth
// (/readyz) and refuse writes at once while etcd is away instead of
// letting each one wait out its timeout (issue 12 item 5).
type storeHealth struct {
	st       *store.Store
	err      atomic.Pointer[error] // nil: etcd answers
	failures int                   // consecutive failed probes (run's goroutine only)
}

// etcd counts as away after healthFailures probes in a row failed, each
// given healthTimeout: a server busy enough to delay one probe is not
// an outage, and writes it would refuse are likely to succeed.
const (
	healthEvery    = time.Second
	healthTimeout  = 3 * time.Second
	healthFailures = 2
)

func (h *storeHealth) run(ctx context.Context) {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, healthTimeout)
		err := h.st.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			h.failures++
			if h.failures >= healthFailures {
				err = errors.New("etcd (the cluster store) is unavailable: " + err.Error())
				h.err.Store(&err)
			}
		} else {
			h.failures = 0
			h.err.Store(nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Writable is nil while etcd answers, else why it does not.
func (h *storeHealth) Writable() error {
	if p := h.err.Load(); p != nil {
		return *p
	}
	return nil
}
