// Package e2e runs Orch's real binaries: orch server (embedded and external
// etcd), orchlet on the fake runtime and on real Docker, and the CLI.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/clientconfig"
)

// binDir holds orch and orchlet built once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orch-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, name := range []string{"orch", "orchlet"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "../../cmd/"+name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a background process whose output is kept for failure messages.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output returns everything the process printed so far.
func (p *proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs a binary in the background; it is killed when the test ends.
func start(t testing.TB, env []string, name string, args ...string) *proc {
	t.Helper()
	path := name
	if !strings.Contains(name, "/") {
		if _, err := os.Stat(filepath.Join(binDir, name)); err == nil {
			path = filepath.Join(binDir, name)
		}
	}
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("---- output of %s %s:\n%s", name, strings.Join(args, " "), tail(p.Output(), 60))
		}
	})
	return p
}

func (p *proc) kill(sig syscall.Signal) {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v", p.name, timeout)
		return -1
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cluster is one or more orch server processes with their client settings.
type cluster struct {
	urls   []string
	config string // ORCH_CONFIG path with the admin token
	env    []string
	cfg    *clientconfig.File
	admin  *client.Client
	procs  []*proc
}

// startServer runs `orch server` and waits until it is healthy. The first
// server of a cluster writes the client config.
func startServer(t testing.TB, c *cluster, extra ...string) *proc {
	t.Helper()
	return startServerBin(t, c, "orch", extra...)
}

// startServerBin is startServer with another orch binary (the upgrade
// test's previous release).
func startServerBin(t testing.TB, c *cluster, bin string, extra ...string) *proc {
	t.Helper()
	addr := ""
	for i, a := range extra {
		if a == "--listen" && i+1 < len(extra) {
			addr = extra[i+1]
		}
	}
	args := append([]string{"server"}, extra...)
	if addr == "" {
		addr = freeAddr(t)
		args = append(args, "--listen", addr)
	}
	p := start(t, c.env, bin, args...)
	url := "https://" + addr
	for _, a := range extra {
		if a == "--plain-http" {
			url = "http://" + addr
		}
	}
	waitHealthy(t, url, p)
	c.urls = append(c.urls, url)
	c.procs = append(c.procs, p)
	if c.cfg == nil {
		deadline := time.Now().Add(60 * time.Second)
		for {
			f, err := clientconfig.Load(c.config)
			if err == nil && f.Token != "" {
				c.cfg = f
				trustCA(f.CA)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("orch server wrote no client config to %s", c.config)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.admin = c.newClient(c.cfg.Token)
	return p
}

// caFile is the cluster CA in a file beside the client config, for stock
// tools' AWS_CA_BUNDLE (what `orch aws-env` sets up).
func (c *cluster) caFile() string {
	path := filepath.Join(filepath.Dir(c.config), "ca.pem")
	if err := os.WriteFile(path, []byte(c.cfg.CA), 0o644); err != nil {
		panic(err)
	}
	return path
}

// clientFor is an API client of some of the cluster's servers.
func (c *cluster) clientFor(servers []string, token string) *client.Client {
	tlsCfg, err := c.cfg.TLS("")
	if err != nil {
		panic(err)
	}
	return client.New(client.Config{Servers: servers, Token: token, TLS: tlsCfg})
}

// newClient is an API client of the cluster with a token, trusting its CA.
func (c *cluster) newClient(token string) *client.Client {
	tlsCfg, err := c.cfg.TLS("")
	if err != nil {
		panic(err)
	}
	return client.New(client.Config{Servers: append([]string(nil), c.urls...), Token: token, TLS: tlsCfg})
}

func newCluster(t testing.TB) *cluster {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	return &cluster{config: cfg, env: []string{"ORCH_CONFIG=" + cfg}}
}

func waitHealthy(t testing.TB, url string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := probeHTTP.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before becoming healthy:\n%s", p.name, tail(p.Output(), 40))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s not healthy at %s within 60s:\n%s", p.name, url, tail(p.Output(), 40))
}

// orch runs the CLI against the cluster and returns stdout+stderr and the exit code.
func (c *cluster) orch(t testing.TB, stdin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "orch"), args...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Env = append(cmd.Env, "ORCH_SERVER="+strings.Join(c.urls, ","))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.ExitCode()
}

// orchStdout runs the CLI and returns stdout alone (what a pipe reads),
// failing the test on a non-zero exit.
func (c *cluster) orchStdout(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "orch"), args...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Env = append(cmd.Env, "ORCH_SERVER="+strings.Join(c.urls, ","))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("orch %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// mustOrch is orch that fails the test on a non-zero exit.
func (c *cluster) mustOrch(t testing.TB, args ...string) string {
	t.Helper()
	out, code := c.orch(t, "", args...)
	if code != 0 {
		t.Fatalf("orch %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// startAgent runs orchlet against the cluster.
func (c *cluster) startAgent(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	a := append([]string{"--server", strings.Join(c.urls, ","), "--join-token", c.cfg.JoinToken, "--node-name", name}, args...)
	return start(t, c.env, "orchlet", a...)
}

// lines returns non-empty lines of s.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

var _ = io.Discard
