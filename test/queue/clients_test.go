package queue_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

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

func runClient(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestBoto3Conformance runs boto3 (SQS JSON protocol) against a server.
func TestBoto3Conformance(t *testing.T) {
	err := exec.Command("python3", "-c", "import boto3").Run()
	need(t, "python3 with boto3", "pip install boto3 (or apt-get install python3-boto3)", err == nil)
	srv := startServer(t, t.TempDir(), freeAddr(t))
	runClient(t, "python3", filepath.Join(repoRoot(), "test/queue/clients/boto3_conformance.py"), srv.url(), accessKey, secretKey)
}

// debianAWS finds Debian's awscli 2.x (query protocol), which pip's awscli
// shadows on PATH.
func debianAWS() string {
	out, err := exec.Command("dpkg", "-L", "awscli").Output()
	if err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasSuffix(l, "/bin/aws") {
				return l
			}
		}
	}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		return "/usr/bin/aws"
	}
	return ""
}

// TestAWSCLIQueryConformance runs Debian's awscli 2.9 (SQS query/XML).
func TestAWSCLIQueryConformance(t *testing.T) {
	aws := debianAWS()
	need(t, "Debian's awscli", "apt-get install -y awscli", aws != "")
	srv := startServer(t, t.TempDir(), freeAddr(t))
	runClient(t, "bash", filepath.Join(repoRoot(), "test/queue/clients/awscli_query.sh"), aws, srv.url(), accessKey, secretKey)
}
