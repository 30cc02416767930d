package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/orch-project/orch/internal/testutil"
)

// roleProbeImage builds testdata/roleprobe (the stock Go SDK, default
// credential chain, one SQS call) into an image FROM scratch.
func roleProbeImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "roleprobe"), "./testdata/roleprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build roleprobe: %v\n%s", err, out)
	}
	_ = os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY roleprobe /roleprobe\nENTRYPOINT [\"/roleprobe\"]\n"), 0o644)
	tag := fmt.Sprintf("orch-e2e-roleprobe:%d", time.Now().UnixNano())
	if out, err := exec.Command("docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

// Issue 11 item 3: a task gets its own short-lived credentials, from its
// task role, through the container credentials endpoint the stock SDK's
// default chain reads; its role's policy (and a queue's Policy) decides
// what it may do, and its credentials die with it.
func TestDockerTaskRoles(t *testing.T) {
	needDocker(t)
	image := roleProbeImage(t)
	c := newCluster(t)
	addr := freeAddr(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	startServer(t, c, "--data-dir", t.TempDir(), "--listen", "0.0.0.0:"+port)
	node := fmt.Sprintf("e2e-roles-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { removeNodeContainers(node) })
	c.startAgent(t, node, "--runtime", "docker")
	waitNodes(t, c, 1)

	probe := func(family string, args ...string) string {
		b, _ := json.Marshal(args)
		return fmt.Sprintf(`---
kind: TaskDefinition
family: %s
taskRoleArn: arn:aws:iam::000000000000:role/probe
containerDefinitions:
  - {name: probe, image: %s, command: %s, memory: 32, imagePullPolicy: never}
`, family, image, b)
	}
	manifest := `kind: Queue
QueueName: mine
---
kind: Queue
QueueName: theirs
---
kind: Queue
QueueName: shared
Attributes:
  Policy: '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:role/probe"}, "Action": "sqs:SendMessage", "Resource": "*"}]}'
---
kind: Role
roleName: probe
policyDocument:
  Version: "2012-10-17"
  Statement:
    - {Effect: Allow, Action: ["sqs:Send*", "sqs:GetQueueUrl"], Resource: "arn:aws:sqs:*:*:mine"}
    - {Effect: Allow, Action: sqs:GetQueueUrl, Resource: "*"}
` + probe("send-mine", "send", "mine", "hello") +
		probe("send-theirs", "send", "theirs", "hello") +
		probe("purge-mine", "purge", "mine") +
		probe("send-shared", "send", "shared", "hello") +
		probe("creds", "creds")
	if out, code := c.orch(t, manifest, "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	run := func(family string) string {
		c.orch(t, "", "run", family, "--wait", "--until", "stopped") // exit 3 when the probe fails, as it should when denied
		var logs string
		testutil.WaitFor(t, 30*time.Second, family+"'s output", func() (bool, string) {
			for _, tk := range getTasks(t, c) {
				if tk.Family == family {
					logs, _ = c.orch(t, "", "logs", tk.TaskID)
				}
			}
			return strings.Contains(logs, "ok") || strings.Contains(logs, "error"), logs
		})
		return logs
	}
	if out := run("send-mine"); !strings.Contains(out, "ok") {
		t.Fatalf("sending to a queue the role allows: %s", out)
	}
	if q := queueNamed(t, c, "mine"); q.Visible != 1 {
		t.Errorf("queue mine: %+v, want the 1 message the task sent", q)
	}
	for family, what := range map[string]string{"send-theirs": "sqs:SendMessage", "purge-mine": "sqs:PurgeQueue"} {
		out := run(family)
		if !strings.Contains(out, "error: AccessDenied") || !strings.Contains(out, what) || !strings.Contains(out, "role/probe") {
			t.Errorf("%s: %s\nwant AccessDenied naming %s and the role", family, out, what)
		}
	}
	if out := run("send-shared"); !strings.Contains(out, "ok") {
		t.Errorf("sending to a queue whose Policy allows the role: %s", out)
	}
	if q := queueNamed(t, c, "theirs"); q.Visible != 0 {
		t.Errorf("queue theirs: %+v, want nothing (the send was denied)", q)
	}

	// The credentials of a stopped task are refused.
	out := run("creds")
	i := strings.Index(out, "creds {")
	if i < 0 {
		t.Fatalf("creds: %s", out)
	}
	var cr struct{ AccessKeyId, SecretAccessKey, Token, Source string }
	line := out[i+len("creds "):]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	if err := json.Unmarshal([]byte(line), &cr); err != nil || !strings.HasPrefix(cr.AccessKeyId, "ASIA") || cr.Token == "" {
		t.Fatalf("creds %q: %v; want temporary credentials (ASIA..., a session token)", line, err)
	}
	if cr.Source != "CredentialsEndpointProvider" {
		t.Errorf("the SDK found its credentials in %q, want the container credentials endpoint (CredentialsEndpointProvider)", cr.Source)
	}
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(c.urls[0]), HTTPClient: e2eHTTP,
		Credentials: credentials.NewStaticCredentialsProvider(cr.AccessKeyId, cr.SecretAccessKey, cr.Token)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(c.urls[0] + "/000000000000/mine"), MessageBody: aws.String("after stop")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" || !strings.Contains(ae.ErrorMessage(), "stopped") {
		t.Fatalf("a stopped task's credentials: %v, want AccessDenied saying the task stopped", err)
	}
}

func queueNamed(t *testing.T, c *cluster, name string) queueCounts {
	t.Helper()
	var qs []queueCounts
	if err := json.Unmarshal([]byte(c.mustOrch(t, "get", "queues", "-o", "json")), &qs); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("queue %s is missing", name)
	return queueCounts{}
}
