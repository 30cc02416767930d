package fake

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// appendLog adds a line and wakes followers. Caller holds rt.mu.
func (rt *Runtime) appendLog(c *container, at time.Time, text string) {
	c.logs = append(c.logs, logLine{at: at, text: text})
	rt.wakeLogs(c)
}

func (rt *Runtime) wakeLogs(c *container) {
	if c.gone {
		return
	}
	close(c.logSig)
	c.logSig = make(chan struct{})
}

// Logs implements runtime.Runtime. Lines are written at start (see the
// log_lines, log_every and log script keys) and when the container exits.
// With Follow the reader ends when the container stops or is removed, or
// when ctx ends or the reader is closed.
func (rt *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.down != nil {
		return nil, rt.down
	}
	c := rt.lookup(id)
	if c == nil {
		return nil, notFound(id)
	}
	start := 0
	if !opts.Since.IsZero() {
		for start < len(c.logs) && c.logs[start].at.Before(opts.Since) {
			start++
		}
	}
	if opts.Tail >= 0 && len(c.logs)-start > opts.Tail {
		start = len(c.logs) - opts.Tail
	}
	return &logReader{rt: rt, c: c, pos: start, opts: opts, ctx: ctx, closed: make(chan struct{})}, nil
}

type logReader struct {
	rt   *Runtime
	c    *container
	pos  int
	opts runtime.LogOptions
	ctx  context.Context
	buf  []byte

	closeOnce sync.Once
	closed    chan struct{}
}

func (r *logReader) Read(p []byte) (int, error) {
	for {
		if len(r.buf) > 0 {
			n := copy(p, r.buf)
			r.buf = r.buf[n:]
			return n, nil
		}
		select {
		case <-r.closed:
			return 0, io.EOF
		default:
		}
		r.rt.mu.Lock()
		c := r.c
		if r.pos < len(c.logs) {
			for _, l := range c.logs[r.pos:] {
				if r.opts.Timestamps {
					r.buf = append(r.buf, l.at.UTC().Format(time.RFC3339Nano)...)
					r.buf = append(r.buf, ' ')
				}
				r.buf = append(r.buf, l.text...)
				r.buf = append(r.buf, '\n')
			}
			r.pos = len(c.logs)
			r.rt.mu.Unlock()
			continue
		}
		if !r.opts.Follow || c.gone || c.state.Status != runtime.StatusRunning {
			r.rt.mu.Unlock()
			return 0, io.EOF
		}
		sig := c.logSig
		r.rt.mu.Unlock()
		select {
		case <-sig:
		case <-r.closed:
			return 0, io.EOF
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

func (r *logReader) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	return nil
}
