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
	st  *store.Store
	err atomic.Pointer[error] // nil: the last probe succeeded
}

const (
	healthEvery   = time.Second
	healthTimeout = 2 * time.Second
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
			err = errors.New("etcd (the cluster store) is unavailable: " + err.Error())
			h.err.Store(&err)
		} else {
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
