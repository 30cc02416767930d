package lambdart

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// ProcessLauncher runs an environment as a local process: LaunchSpec.Image
// is the path of the handler binary. Tests and benchmarks use it to measure
// the Runtime API path without a container; the agent uses RuntimeLauncher.
type ProcessLauncher struct {
	Output io.Writer // the handlers' stdout and stderr (nil: discarded)
}

type procInstance struct {
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// Launch starts the binary with spec.Env as its whole environment.
func (l ProcessLauncher) Launch(ctx context.Context, spec LaunchSpec) (Instance, error) {
	cmd := exec.Command(spec.Image)
	cmd.Env = spec.Env
	if l.Output != nil {
		cmd.Stdout, cmd.Stderr = l.Output, l.Output
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pi := &procInstance{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(pi.exited) }()
	return pi, nil
}

func (pi *procInstance) Exited() <-chan struct{} { return pi.exited }

// MemoryPeak is the process's peak resident set (VmHWM in
// /proc/PID/status; Linux only, else 0).
func (pi *procInstance) MemoryPeak(context.Context) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pi.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (pi *procInstance) Stop() {
	pi.once.Do(func() {
		_ = pi.cmd.Process.Kill()
		<-pi.exited
	})
}

// RuntimeLauncher runs environments as containers on the agent's runtime
// (Docker). Containers reach the environment's endpoint through
// host.docker.internal (mapped to the host gateway), so the pool must
// listen where the bridge reaches it and set RuntimeHost to
// "host.docker.internal".
type RuntimeLauncher struct {
	Runtime runtime.Runtime
	Labels  map[string]string // added to every container (e.g. the node)
	// PullPolicy for the function's image (default if-not-present).
	PullPolicy string
}

type ctrInstance struct {
	rt     runtime.Runtime
	id     string
	exited chan struct{}
	// watching ends the watch (Stop: the container goes on purpose).
	watching context.Context
	endWatch context.CancelFunc
	primed   chan struct{} // closed when the first MemoryPeak (see prime) returned
	once     sync.Once
}

// Launch creates and starts the container and watches for its exit.
//
// With a pull policy other than always it creates the container first and
// looks at the image only when Docker has none by that name (then pulls
// or refuses it by the policy and creates again): the image is there on
// every cold start but the first, and asking Docker about it first was a
// round trip on each one.
func (l RuntimeLauncher) Launch(ctx context.Context, spec LaunchSpec) (Instance, error) {
	policy := l.PullPolicy
	if policy == "" {
		policy = "if-not-present"
	}
	if policy == "always" {
		if err := l.Runtime.EnsureImage(ctx, spec.Image, policy); err != nil {
			return nil, err
		}
	}
	labels := map[string]string{runtime.LabelManaged: "true", "orch.function": spec.Function}
	for k, v := range l.Labels {
		labels[k] = v
	}
	cs := runtime.ContainerSpec{
		Name:        "orch-fn-" + spec.Name,
		Image:       spec.Image,
		PullPolicy:  policy,
		Env:         spec.Env,
		Labels:      labels,
		MemoryBytes: int64(spec.MemoryMiB) << 20,
		ExtraHosts:  []string{"host.docker.internal:host-gateway"},
		StopTimeout: time.Second,
		LogMaxSize:  "10m",
		LogMaxFiles: 2,
	}
	id, err := l.Runtime.Create(ctx, cs)
	if errors.Is(err, runtime.ErrNotFound) && policy != "always" {
		if err := l.Runtime.EnsureImage(ctx, spec.Image, policy); err != nil {
			return nil, err
		}
		id, err = l.Runtime.Create(ctx, cs)
	}
	if err != nil {
		return nil, err
	}
	if err := l.Runtime.Start(ctx, id); err != nil {
		_ = l.Runtime.Remove(context.Background(), id)
		return nil, err
	}
	ci := &ctrInstance{rt: l.Runtime, id: id, exited: make(chan struct{}), primed: make(chan struct{})}
	ci.watching, ci.endWatch = context.WithCancel(context.Background())
	go ci.watch()
	go ci.prime()
	return ci, nil
}

// prime asks for the container's peak memory once while its runtime
// initialises: the Docker runtime finds the container's cgroup file then
// (an inspect for the process id), so the first invocation's report reads
// it with one pread instead of making that round trip between the
// handler's answer and the caller's.
func (ci *ctrInstance) prime() {
	defer close(ci.primed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ci.MemoryPeak(ctx)
}

// watch waits for the container to stop running, with one wait request
// to the runtime held open for the container's life: polling its state
// every 200 ms made 5 inspect calls a second per idle environment,
// steady work for dockerd on a node with many. When the runtime cannot
// tell (a wait broke: e.g. the daemon restarted) an inspect decides: a
// container that is gone or not running has exited, one still running is
// waited for again. A runtime that cannot be asked either (its daemon is
// still restarting) is asked again, less and less often: that is no exit.
// With live-restore the container runs on, and its environment with its
// invocations must stay; one that died meanwhile is noticed when the
// daemon answers, which is also when its container can be removed.
func (ci *ctrInstance) watch() {
	const minRetry, maxRetry = 200 * time.Millisecond, 5 * time.Second
	retry := minRetry
	for {
		err := ci.rt.Wait(ci.watching, ci.id)
		if ci.watching.Err() != nil {
			return // Stop: not an exit the pool must handle
		}
		if err == nil {
			close(ci.exited)
			return
		}
		st, ierr := ci.rt.Inspect(ci.watching, ci.id)
		if ci.watching.Err() != nil {
			return
		}
		if errors.Is(ierr, runtime.ErrNotFound) || ierr == nil && st.Status != runtime.StatusRunning {
			close(ci.exited)
			return
		}
		// Still running, or the runtime cannot say: wait (or ask) again,
		// not in a tight loop if waits keep breaking at once.
		select {
		case <-ci.watching.Done():
			return
		case <-time.After(retry):
		}
		if ierr != nil {
			retry = min(2*retry, maxRetry)
		} else {
			retry = minRetry
		}
	}
}

func (ci *ctrInstance) Exited() <-chan struct{} { return ci.exited }

// MemoryPeak is the container's peak memory use (its cgroup's, through
// the runtime; 0 when the runtime cannot tell).
func (ci *ctrInstance) MemoryPeak(ctx context.Context) int64 {
	mp, ok := ci.rt.(runtime.MemoryPeaker)
	if !ok {
		return 0
	}
	n, err := mp.MemoryPeak(ctx, ci.id)
	if err != nil {
		return 0
	}
	return n
}

// LogsSince returns the container's output since a time (at most the last
// 4 KB Lambda's LogType Tail returns is kept by the caller). Lines the
// handler printed just before it answered may still be in the log
// driver's buffer, so it reads again briefly when the first read is empty.
func (ci *ctrInstance) LogsSince(ctx context.Context, since time.Time) []byte {
	var out []byte
	for i := 0; i < 3; i++ {
		rc, err := ci.rt.Logs(ctx, ci.id, runtime.LogOptions{Since: since.Add(-time.Millisecond), Tail: -1})
		if err != nil {
			return nil
		}
		out, _ = io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if len(out) > 0 {
			return out
		}
		select {
		case <-ctx.Done():
			return out
		case <-time.After(20 * time.Millisecond):
		}
	}
	return out
}

// Stop kills and removes the container.
func (ci *ctrInstance) Stop() {
	ci.once.Do(func() {
		ci.endWatch()
		<-ci.primed // so that it cannot open the cgroup file again after Remove closed it
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ci.rt.Stop(ctx, ci.id, time.Second)
		_ = ci.rt.Remove(ctx, ci.id)
	})
}
