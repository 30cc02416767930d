package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/clientconfig"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// TestMain removes the binaries built for the benchmarks.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds orch and orchlet once per benchmark run.
func binaries(b *testing.B) string {
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "orch-bench-bin")
		if buildErr != nil {
			return
		}
		for _, n := range []string{"orch", "orchlet"} {
			cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(binDir, n), "../../cmd/"+n)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", n, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binDir
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serverProc is an `orch server` process with an admin client.
type serverProc struct {
	cmd   *exec.Cmd
	url   string
	cfg   *clientconfig.File
	admin *client.Client
}

func startServerProc(b *testing.B, extra ...string) *serverProc {
	dir := b.TempDir()
	addr := freeAddr(b)
	cfgPath := filepath.Join(dir, "config.yaml")
	cmd := exec.Command(filepath.Join(binaries(b), "orch"), "server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	cmd.Args = append(cmd.Args, extra...)
	cmd.Env = append(os.Environ(), "ORCH_CONFIG="+cfgPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	s := &serverProc{cmd: cmd, url: "https://" + addr}
	if slices.Contains(extra, "--plain-http") {
		s.url = "http://" + addr
	}
	// Only probes health: the CA is read from the config it writes.
	probe := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := probe.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if f, _ := clientconfig.Load(cfgPath); resp.StatusCode == 200 && f != nil && f.Token != "" {
				s.cfg = f
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("orch server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	tlsCfg, err := s.cfg.TLS("")
	if err != nil {
		b.Fatal(err)
	}
	s.admin = client.New(client.Config{Servers: []string{s.url}, Token: s.cfg.Token, TLS: tlsCfg})
	return s
}

// procUsage is a process's CPU time and memory from /proc.
type procUsage struct {
	cpu     time.Duration
	rssMiB  float64
	peakMiB float64
}

func usageOf(b *testing.B, pid int) procUsage {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which is in parentheses).
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	u := procUsage{cpu: time.Duration(ut+st) * time.Second / 100}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(status), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			u.rssMiB = kb / 1024
		case "VmHWM:":
			u.peakMiB = kb / 1024
		}
	}
	return u
}

// startHollowAgents runs n agents on the fake runtime in this process
// against srv (each with cpu units and MiB of capacity) until ctx ends, and
// waits until all n nodes are alive.
func startHollowAgents(ctx context.Context, b *testing.B, srv *serverProc, prefix string, n, cpu, memMiB int) {
	for i := range n {
		rt := fake.New(fake.Config{CPU: cpu, MemoryMiB: memMiB, Images: []string{"fake"}})
		ag, err := agent.New(agent.Config{NodeName: fmt.Sprintf("%s-%03d", prefix, i), Runtime: rt, Logger: testutil.Logger(),
			ControlPlane: client.New(client.Config{Servers: []string{srv.url}, Token: srv.cfg.JoinToken}), StatsInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		go ag.Run(ctx)
	}
	testutil.WaitFor(b, 60*time.Second, fmt.Sprintf("%d nodes alive", n), func() (bool, string) {
		nodes, err := srv.admin.ListNodes(ctx)
		alive := 0
		for _, nd := range nodes {
			if nd.Alive {
				alive++
			}
		}
		return err == nil && alive == n, fmt.Sprintf("%d alive (%v)", alive, err)
	})
}

// startDockerAgentProc runs an `orchlet` process on the local Docker as
// node against srv, waits until it registered, and removes the process and
// the node's containers when the benchmark ends.
func startDockerAgentProc(b *testing.B, srv *serverProc, node string) *exec.Cmd {
	b.Cleanup(func() {
		exec.Command("sh", "-c", "docker rm -f $(docker ps -aq --filter label=orch.node="+node+") >/dev/null 2>&1").Run()
	})
	cmd := exec.Command(filepath.Join(binaries(b), "orchlet"), "--server", srv.url, "--join-token", srv.cfg.JoinToken, "--node-name", node, "--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	testutil.WaitFor(b, 30*time.Second, "agent registered", func() (bool, string) {
		_, _, err := srv.admin.GetNode(context.Background(), node)
		return err == nil, fmt.Sprint(err)
	})
	return cmd
}
