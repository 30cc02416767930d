package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

const workerRole = `{"roleName": "worker", "policyDocument": {"Version": "2012-10-17", "Statement": [
	{"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"], "Resource": "arn:aws:sqs:*:*:jobs"}]}}`

// roleTask starts a server with a hand agent, a queue "jobs", the worker
// role and a running task of a definition naming it.
func roleTask(t testing.TB) (*testutil.ControlPlane, *testutil.HandAgent, string) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	agent := testutil.StartHandAgent(t, cp.Agent, "n1", 2048, 4096, nil)
	td := testutil.TaskDef("worker", 128)
	td.TaskRoleArn = model.RoleArn("worker")
	spec, _ := json.Marshal(td)
	if _, err := cp.Admin.Apply(ctx, []wire.ApplyDocument{{Kind: "Role", Spec: json.RawMessage(workerRole)}, {Kind: "TaskDefinition", Spec: spec},
		{Kind: "Queue", Spec: json.RawMessage(`{"QueueName": "jobs"}`)}}); err != nil {
		t.Fatal(err)
	}
	tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	id := tasks[0].TaskID
	testutil.WaitFor(t, 5*time.Second, "assignment on n1", func() (bool, string) {
		_, ok := agent.Assignment(id)
		return ok, "not assigned"
	})
	agent.Report(t, wire.TaskStatusReport{TaskID: id, LastStatus: model.StatusRunning})
	testutil.WaitTask(t, cp.Admin, id, 5*time.Second, func(t *model.Task) bool { return t.LastStatus == model.StatusRunning })
	return cp, agent, id
}

func sqsClient(cp *testutil.ControlPlane, id, secret, token string) *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, token)})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// Issue 11 item 3 (without Docker): the agent protocol mints a task's
// credentials for its own node only; they carry the role's policy; they
// are refused once expired and once the task has stopped.
func TestTaskCredentials(t *testing.T) {
	cp, agent, id := roleTask(t)
	ctx := context.Background()
	other := testutil.StartHandAgent(t, cp.Agent, "n2", 2048, 4096, nil)
	if _, err := other.Client().TaskCredentials(ctx, "n2", id); err == nil || !strings.Contains(err.Error(), "not \"n2\"") {
		t.Fatalf("another node minting the task's credentials: %v, want refused", err)
	}
	if _, err := other.Client().TaskCredentials(ctx, "n1", id); err == nil {
		t.Fatal("n2's token minting as n1: allowed")
	}
	cr, err := agent.Client().TaskCredentials(ctx, "n1", id)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := time.Parse(time.RFC3339, cr.Expiration)
	if !strings.HasPrefix(cr.AccessKeyId, "ASIA") || cr.Token == "" || time.Until(exp) < 50*time.Minute || cr.RoleArn != model.RoleArn("worker") {
		t.Fatalf("credentials %s expiring %s for %s: want ASIA..., a token, about an hour, the worker role", cr.AccessKeyId, cr.Expiration, cr.RoleArn)
	}
	c := sqsClient(cp, cr.AccessKeyId, cr.SecretAccessKey, cr.Token)
	url := aws.String(cp.URL + "/000000000000/jobs")
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("x")}); err != nil {
		t.Fatalf("an allowed send: %v", err)
	}
	_, err = c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: url})
	if got := apiCode(err); !strings.HasPrefix(got, "AccessDenied: ") || !strings.Contains(got, "sqs:PurgeQueue") || !strings.Contains(got, "arn:aws:sqs:us-east-1:000000000000:jobs") {
		t.Fatalf("a purge the role does not allow: %q, want AccessDenied naming the action and the queue", got)
	}
	_, err = sqsClient(cp, cr.AccessKeyId, cr.SecretAccessKey, "").SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("x")})
	if got := apiCode(err); !strings.HasPrefix(got, "InvalidClientTokenId") {
		t.Fatalf("without the session token: %q, want InvalidClientTokenId", got)
	}

	// The ECS API: only the ecs:* actions the role allows (none here).
	ecsc := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
		Credentials: credentials.NewStaticCredentialsProvider(cr.AccessKeyId, cr.SecretAccessKey, cr.Token)})
	_, err = ecsc.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("worker")})
	if got := apiCode(err); !strings.HasPrefix(got, "AccessDeniedException") || !strings.Contains(got, "ecs:RunTask") {
		t.Fatalf("a task's key calling ECS RunTask: %q, want AccessDeniedException naming ecs:RunTask", got)
	}

	// Expired credentials are refused.
	old := store.AWSKey{AccessKeyID: "ASIAEXPIREDEXPIRED00", SecretAccessKey: "s3cr3t", Role: auth.RoleTask, TaskID: id,
		RoleArn: model.RoleArn("worker"), SessionToken: "tok", Expiration: time.Now().Add(-time.Minute)}
	if err := cp.Store.PutAWSKey(ctx, old); err != nil {
		t.Fatal(err)
	}
	_, err = sqsClient(cp, old.AccessKeyID, "s3cr3t", "tok").SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("x")})
	if got := apiCode(err); !strings.HasPrefix(got, "ExpiredToken") {
		t.Fatalf("expired credentials: %q, want ExpiredToken", got)
	}

	// Stopping the task revokes its credentials.
	if _, err := cp.Admin.StopTask(ctx, id, "done"); err != nil {
		t.Fatal(err)
	}
	agent.Report(t, wire.TaskStatusReport{TaskID: id, LastStatus: model.StatusStopped})
	testutil.WaitTask(t, cp.Admin, id, 5*time.Second, func(t *model.Task) bool { return t.IsStopped() })
	testutil.WaitFor(t, 5*time.Second, "the stopped task's credentials refused", func() (bool, string) {
		_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("x")})
		got := apiCode(err)
		return strings.HasPrefix(got, "AccessDenied") && strings.Contains(got, "stopped"), got
	})
	if _, err := agent.Client().TaskCredentials(ctx, "n1", id); err == nil {
		t.Fatal("credentials minted for a stopped task")
	}
}

// Admin keys keep full access; the retired shared task key may do nothing.
func TestAdminKeysAndRetiredSharedKey(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	admin := sqsClient(cp, cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey, "")
	out, err := admin.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: out.QueueUrl}); err != nil {
		t.Fatalf("admin purge: %v", err)
	}
	shared := store.AWSKey{AccessKeyID: "AKIAORCHTASKS0000000", SecretAccessKey: "s3cr3t", Role: auth.RoleTask}
	if err := cp.Store.PutAWSKey(ctx, shared); err != nil {
		t.Fatal(err)
	}
	_, err = sqsClient(cp, shared.AccessKeyID, "s3cr3t", "").DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl})
	if got := apiCode(err); !strings.HasPrefix(got, "AccessDenied") || !strings.Contains(got, "taskRoleArn") {
		t.Fatalf("the shared task key deleting a queue: %q, want AccessDenied", got)
	}
}

// BenchmarkSendMessagePolicy: SendMessage through the stock SDK (8
// callers), signed by the admin key (no policy evaluated) and by a task's
// key (session token, task liveness, role policy and queue Policy checked
// per request), in alternating rounds so both see the same machine load.
//
//	go test -run '^$' -bench BenchmarkSendMessagePolicy -benchtime 2000x ./pkg/server/
func BenchmarkSendMessagePolicy(b *testing.B) {
	cp, agent, id := roleTask(b)
	ctx := context.Background()
	cr, err := agent.Client().TaskCredentials(ctx, "n1", id)
	if err != nil {
		b.Fatal(err)
	}
	url := aws.String(cp.URL + "/000000000000/jobs")
	keys := []struct {
		name string
		c    *sqs.Client
	}{
		{"admin", sqsClient(cp, cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey, "")},
		{"task-role", sqsClient(cp, cr.AccessKeyId, cr.SecretAccessKey, cr.Token)},
	}
	for round := 1; round <= 5; round++ {
		for _, k := range keys {
			b.Run(fmt.Sprintf("round%d/%s", round, k.name), func(b *testing.B) {
				b.SetParallelism(4) // 8 callers on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := k.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("bench")}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
