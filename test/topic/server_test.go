// Package topic_test runs `orch server` as a real process and drives its
// SNS endpoint with stock clients: aws-sdk-go-v2, boto3 and Debian's
// awscli 2.9, receiving through SQS. It also kills the server with SIGKILL
// right after acknowledged publishes to check durability.
package topic_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"gopkg.in/yaml.v3"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func repoRoot() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(f), "..", "..")
}

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "orch-topic-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "orch")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/orch")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// server is a running `orch server` process with its credentials.
type server struct {
	t       *testing.T
	dir     string
	addr    string
	cmd     *exec.Cmd
	log     *os.File
	access  string
	secret  string
	token   string
	cfgPath string
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer starts `orch server` on dir (its data and client config)
// and waits until it serves topics.
func startServer(t *testing.T, dir, addr string, extraArgs ...string) *server {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cmd := exec.Command(binary(t), append([]string{"server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--plain-http"}, extraArgs...)...)
	cmd.Env = append(os.Environ(), "ORCH_CONFIG="+cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, dir: dir, addr: addr, cmd: cmd, log: logf, cfgPath: cfgPath}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("server log (%s):\n%s", addr, b)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s.ready() {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			t.Fatalf("server on %s not serving topics in 60s; log:\n%s", addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready reads the client config the server writes at its first start and
// asks for the topic list.
func (s *server) ready() bool {
	resp, err := http.Get(s.url() + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return false
	}
	if s.access == "" {
		b, err := os.ReadFile(s.cfgPath)
		if err != nil {
			return false
		}
		var cfg struct {
			Token  string `yaml:"token"`
			Access string `yaml:"awsAccessKeyId"`
			Secret string `yaml:"awsSecretAccessKey"`
		}
		if yaml.Unmarshal(b, &cfg) != nil || cfg.Access == "" {
			return false
		}
		s.access, s.secret, s.token = cfg.Access, cfg.Secret, cfg.Token
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = s.sns().ListTopics(ctx, &awssns.ListTopicsInput{})
	return err == nil
}

func (s *server) url() string { return "http://" + s.addr }

// kill sends SIGKILL: no shutdown code runs.
func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
	}
	s.log.Close()
}

func (s *server) sns() *awssns.Client {
	return awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url()),
		Credentials: credentials.NewStaticCredentialsProvider(s.access, s.secret, "")})
}

func (s *server) sqs() *awssqs.Client {
	return awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url()),
		Credentials: credentials.NewStaticCredentialsProvider(s.access, s.secret, "")})
}

// orchCmd is the CLI with this server's client config.
func (s *server) orchCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(binary(s.t), args...)
	cmd.Env = append(os.Environ(), "ORCH_CONFIG="+s.cfgPath)
	return cmd
}

// orch runs the CLI against the server and returns its output.
func (s *server) orch(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.orchCmd(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("orch %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// need skips (or, in CI, fails) when a client is missing.
func need(t *testing.T, what, how string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (CI must install it: %s)", what, how)
	}
	t.Skipf("%s is missing; install it to run this test: %s", what, how)
}
