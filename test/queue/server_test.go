// Package queue_test runs Orch's SQS endpoint as a real process
// (cmd/orch-queue-dev) and drives it with stock clients: aws-sdk-go-v2,
// boto3 and Debian's awscli 2.9 (query protocol). It also kills the server
// with SIGKILL mid-stream to check durability.
package queue_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

const (
	accessKey = "AKIDORCHTEST"
	secretKey = "orch-test-secret"
)

func repoRoot() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(f), "..", "..")
}

// builtBinary is a command of the repository built once for the package
// into a temp dir of its own, which TestMain removes.
type builtBinary struct {
	pkg  string // e.g. ./cmd/orch
	once sync.Once
	path string
	err  error
}

var (
	queueDevBinary = &builtBinary{pkg: "./cmd/orch-queue-dev"}
	orchCLIBinary  = &builtBinary{pkg: "./cmd/orch"}
)

func (b *builtBinary) get(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "orch-queue-test-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(b.pkg))
		cmd := exec.Command("go", "build", "-o", b.path, b.pkg)
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// TestMain removes the binaries built for the tests, so make test leaves
// nothing in the temp dir.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, b := range []*builtBinary{queueDevBinary, orchCLIBinary} {
		if b.path != "" {
			os.RemoveAll(filepath.Dir(b.path))
		}
	}
	os.Exit(code)
}

// server is a running orch-queue-dev process.
type server struct {
	t       *testing.T
	dataDir string
	addr    string
	cmd     *exec.Cmd
	log     *os.File
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer starts orch-queue-dev on dataDir; extra flags such as
// --queue-store etcd follow.
func startServer(t *testing.T, dataDir, addr string, extra ...string) *server {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dataDir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(queueDevBinary.get(t), append([]string{"--listen", addr, "--data-dir", dataDir, "--access-key", accessKey, "--secret-key", secretKey}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, dataDir: dataDir, addr: addr, cmd: cmd, log: logf}
	t.Cleanup(func() { s.kill() })
	// Generous: an embedded etcd starts slowly on a loaded machine.
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dataDir, "server.log"))
			t.Fatalf("server on %s not ready in 90s; log:\n%s", addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) url() string { return "http://" + s.addr }

func (s *server) client() *awssqs.Client { return sdkClient(s.url()) }

// kill sends SIGKILL: no shutdown code runs.
func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
	}
	s.log.Close()
}

func sdkClient(url string) *awssqs.Client {
	return awssqs.New(awssqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
