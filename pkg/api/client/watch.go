package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// ErrTaskDeleted is returned by WatchTasks when a watched task's record
// is deleted (it stopped long ago, or someone ran orch delete).
var ErrTaskDeleted = errors.New("client: task deleted")

// watchIdle is how long a task watch may stay silent (the server pings
// every 5 s) before the client opens it again.
const watchIdle = 20 * time.Second

// WatchTasks calls fn with the current state of each task in ids (full ids,
// unique prefixes or ARNs), then with every change, as the server's watch
// cache sees them, until fn returns true or an error, or ctx ends. When the
// stream ends (the server's request deadline, a server restart, failover
// to another server) it is opened again and resumes with current states,
// so fn may see the same state twice. API errors (unknown task,
// unauthorized) end the watch.
func (c *Client) WatchTasks(ctx context.Context, ids []string, fn func(*model.Task) (bool, error)) error {
	path := "/v1/tasks/watch?ids=" + url.QueryEscape(strings.Join(ids, ","))
	const minBackoff = 50 * time.Millisecond
	backoff := minBackoff
	for {
		opened := time.Now()
		done, err := c.watchOnce(ctx, path, fn)
		if done || !errors.Is(err, errStreamEnded) || ctx.Err() != nil {
			return err
		}
		if time.Since(opened) > time.Second {
			backoff = minBackoff // a stream that lived (the usual end at the server's deadline)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("watching tasks: %w (last stream error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// errStreamEnded marks a stream that ended or broke: WatchTasks reopens it.
var errStreamEnded = errors.New("task watch stream ended")

// watchOnce reads one watch stream. done reports that fn finished.
func (c *Client) watchOnce(ctx context.Context, path string, fn func(*model.Task) (bool, error)) (done bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body, err := c.Stream(sctx, http.MethodGet, path, nil)
	if err != nil {
		var apiErr *Error
		if ctx.Err() != nil || errors.As(err, &apiErr) {
			return false, err
		}
		return false, fmt.Errorf("%w: %w", errStreamEnded, err) // unreachable: retry
	}
	defer body.Close()
	// A silent stream (a server that died without closing it) is cut and
	// opened again.
	idle := time.AfterFunc(watchIdle, cancel)
	defer idle.Stop()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		idle.Reset(watchIdle)
		var ev wire.TaskEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return false, fmt.Errorf("bad task watch event %q: %w", sc.Bytes(), err)
		}
		switch ev.Type {
		case wire.TaskEventState:
			if ev.Task == nil {
				continue
			}
			if done, err := fn(ev.Task); done || err != nil {
				return true, err
			}
		case wire.TaskEventDeleted:
			return false, fmt.Errorf("task %s: %w while waiting for it", ev.TaskID, ErrTaskDeleted)
		}
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("%w: %w", errStreamEnded, err)
	}
	return false, errStreamEnded
}
