package topic_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runClient(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestBoto3Conformance runs boto3 (SNS query protocol) against a server.
func TestBoto3Conformance(t *testing.T) {
	err := exec.Command("python3", "-c", "import boto3").Run()
	need(t, "python3 with boto3", "pip install boto3 (or apt-get install python3-boto3)", err == nil)
	srv := startServer(t, t.TempDir(), freeAddr(t))
	runClient(t, "python3", filepath.Join(repoRoot(), "test/topic/clients/boto3_conformance.py"), srv.url(), srv.access, srv.secret)
}

// debianAWS finds Debian's awscli 2.x, which pip's awscli shadows on PATH.
func debianAWS() string {
	if out, err := exec.Command("dpkg", "-L", "awscli").Output(); err == nil {
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

// TestAWSCLIQueryConformance runs Debian's awscli 2.9 against a server.
func TestAWSCLIQueryConformance(t *testing.T) {
	aws := debianAWS()
	need(t, "Debian's awscli", "apt-get install -y awscli", aws != "")
	srv := startServer(t, t.TempDir(), freeAddr(t))
	runClient(t, "bash", filepath.Join(repoRoot(), "test/topic/clients/awscli_query.sh"), aws, srv.url(), srv.access, srv.secret)
}
