package queue_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"gopkg.in/yaml.v3"
)

// orchServer is a running `orch server` process (plain HTTP on loopback)
// with the AWS key it wrote into its client config at the first start.
type orchServer struct {
	cmd            *exec.Cmd
	log            *os.File
	addr           string
	access, secret string
}

func startOrchServer(t *testing.T, dir, addr string, extra ...string) *orchServer {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cmd := exec.Command(orchCLIBinary.get(t), append([]string{"server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--plain-http", "--log-level", "warn"}, extra...)...)
	cmd.Env = append(os.Environ(), "ORCH_CONFIG="+cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &orchServer{cmd: cmd, log: logf, addr: addr}
	t.Cleanup(s.kill)
	deadline := time.Now().Add(90 * time.Second)
	for !s.ready(cfgPath) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			t.Fatalf("orch server on %s not serving queues in 90s; log:\n%s", addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

func (s *orchServer) ready(cfgPath string) bool {
	resp, err := http.Get("http://" + s.addr + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return false
	}
	if s.access == "" {
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			return false
		}
		var cfg struct {
			Access string `yaml:"awsAccessKeyId"`
			Secret string `yaml:"awsSecretAccessKey"`
		}
		if yaml.Unmarshal(b, &cfg) != nil || cfg.Access == "" {
			return false
		}
		s.access, s.secret = cfg.Access, cfg.Secret
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = s.client().ListQueues(ctx, &awssqs.ListQueuesInput{})
	return err == nil
}

func (s *orchServer) client() *awssqs.Client {
	return awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.addr),
		Credentials: credentials.NewStaticCredentialsProvider(s.access, s.secret, "")})
}

// kill sends SIGKILL: no shutdown code runs.
func (s *orchServer) kill() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
	}
	s.log.Close()
}

// TestKill9DurabilityOrchServer: the same kill -9 test against `orch
// server` itself, which keeps messages in its local segment logs by
// default (the embedded etcd: a single server). The queue logs are
// checked to be where the data dir says.
func TestKill9DurabilityOrchServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a server process")
	}
	dir, addr := t.TempDir(), freeAddr(t)
	kill9Durability(t, func() sqsServer { return startOrchServer(t, dir, addr) })
	segs, err := filepath.Glob(filepath.Join(dir, "data", "queues", "shard-*", "*.seg"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no queue log segments under %s (err %v): the local store was not used", filepath.Join(dir, "data", "queues"), err)
	}
}
