package docker

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// Logs streams the container's stdout and stderr interleaved as plain text
// (Docker's multiplexed framing removed). With Follow it streams until the
// container stops, ctx ends or the reader is closed.
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	c, err := r.api.ContainerInspect(ctx, id)
	if err != nil {
		return nil, wrap(err, "docker logs %s", id)
	}
	tail := "all"
	if opts.Tail >= 0 {
		tail = strconv.Itoa(opts.Tail)
	}
	lo := container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Timestamps: opts.Timestamps,
		Tail:       tail,
	}
	if !opts.Since.IsZero() {
		lo.Since = opts.Since.UTC().Format(time.RFC3339Nano)
	}
	rc, err := r.api.ContainerLogs(ctx, id, lo)
	if err != nil {
		return nil, wrap(err, "docker logs %s", id)
	}
	if c.Config != nil && c.Config.Tty {
		return rc, nil // a TTY's output is not multiplexed
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		rc.Close()
		pw.CloseWithError(err) // nil: EOF for the reader
	}()
	return &logReader{PipeReader: pr, body: rc}, nil
}

// logReader closes the daemon's response when the caller closes it, which
// also ends the copying goroutine.
type logReader struct {
	*io.PipeReader
	body io.Closer
}

func (l *logReader) Close() error {
	l.body.Close()
	return l.PipeReader.Close()
}
