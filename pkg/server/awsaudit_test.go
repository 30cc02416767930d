package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/model"
)

// TestAuditAWSProtocols: writes made through the AWS protocols with the
// stock SDK land in GET /v1/audit under the signing access key (a task's
// key also names its task and role), with the action and resource; reads
// and the data plane (SendMessage) do not.
func TestAuditAWSProtocols(t *testing.T) {
	cp, agent, id := roleTask(t)
	ctx := context.Background()
	adminKey := cp.Bootstrap.AWSAccessKeyID
	admin := sqsClient(cp, adminKey, cp.Bootstrap.AWSSecretAccessKey, "")

	out, err := admin.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("audq")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}); err != nil {
		t.Fatal(err)
	}
	ecsc := awsecs.New(awsecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
		Credentials: credentials.NewStaticCredentialsProvider(adminKey, cp.Bootstrap.AWSSecretAccessKey, "")})
	if _, err := ecsc.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("audfam"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("busybox"), Memory: aws.Int32(32)}}}); err != nil {
		t.Fatal(err)
	}
	// A task's key: its send is data plane, its purge is refused.
	cr, err := agent.Client().TaskCredentials(ctx, "n1", id)
	if err != nil {
		t.Fatal(err)
	}
	task := sqsClient(cp, cr.AccessKeyId, cr.SecretAccessKey, cr.Token)
	jobs := aws.String(cp.URL + "/000000000000/jobs")
	if _, err := task.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: jobs, MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := task.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: jobs}); err == nil {
		t.Fatal("the worker role purged a queue")
	}

	var got []model.AuditEntry
	testutil.WaitFor(t, 10*time.Second, "4 AWS protocol entries", func() (bool, string) {
		page, err := cp.Admin.ListAudit(ctx, "", 100, "")
		if err != nil {
			return false, err.Error()
		}
		got = got[:0]
		for _, e := range page.Entries {
			if e.Action != "" {
				got = append(got, e)
			}
		}
		return len(got) >= 4, fmt.Sprint(len(got), " AWS entries")
	})
	// Newest first.
	want := []struct{ actor, action, object, outcome string }{
		{cr.AccessKeyId, "sqs:PurgeQueue", "arn:aws:sqs:us-east-1:000000000000:jobs", model.AuditDenied},
		{adminKey, "ecs:RegisterTaskDefinition", "family=audfam", model.AuditOK},
		{adminKey, "sqs:DeleteQueue", "arn:aws:sqs:us-east-1:000000000000:audq", model.AuditOK},
		{adminKey, "sqs:CreateQueue", "arn:aws:sqs:us-east-1:000000000000:audq", model.AuditOK},
	}
	if len(got) != len(want) {
		t.Errorf("%d AWS entries, want %d (no SendMessage, no GetQueueAttributes): %+v", len(got), len(want), got)
	}
	for i, w := range want[:min(len(want), len(got))] {
		e := got[i]
		if e.Actor != w.actor || e.Action != w.action || e.Object != w.object || e.Outcome != w.outcome || e.Time.IsZero() || e.Remote == "" {
			t.Errorf("entry %d: %+v\nwant actor %s, action %s, object %q, outcome %s", i, e, w.actor, w.action, w.object, w.outcome)
		}
	}
	if d := got[0]; d.Task != id || d.TaskRole != model.RoleArn("worker") || d.Status != 403 || !strings.Contains(d.Error, "sqs:PurgeQueue") {
		t.Errorf("the task's refused purge: %+v, want task %s, role worker, 403 with AWS's message", d, id)
	}
	if a := got[1]; a.Role != "admin" || a.Task != "" {
		t.Errorf("the admin key's entry: %+v, want role admin and no task", a)
	}
	// The access key id is an actor like a token name.
	mine, err := cp.Admin.ListAudit(ctx, cr.AccessKeyId, 100, "")
	if err != nil || len(mine.Entries) != 1 {
		t.Fatalf("the task key's entries: %+v %v, want the purge only", mine, err)
	}
}
