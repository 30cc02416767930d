package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
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
	// Lambda is REST: a GET is a read; a DELETE a write, recorded even when it fails.
	lc := awslambda.New(awslambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
		Credentials: credentials.NewStaticCredentialsProvider(adminKey, cp.Bootstrap.AWSSecretAccessKey, "")})
	if _, err := lc.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("nofn")}); err == nil {
		t.Fatal("GetFunction of a function that does not exist succeeded")
	}
	if _, err := lc.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String("nofn")}); err == nil {
		t.Fatal("DeleteFunction of a function that does not exist succeeded")
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
	testutil.WaitFor(t, 10*time.Second, "5 AWS protocol entries", func() (bool, string) {
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
		return len(got) >= 5, fmt.Sprint(len(got), " AWS entries")
	})
	// Newest first.
	want := []struct{ actor, action, object, outcome string }{
		{cr.AccessKeyId, "sqs:PurgeQueue", "arn:aws:sqs:us-east-1:000000000000:jobs", model.AuditDenied},
		{adminKey, "lambda:DeleteFunction", "arn:aws:lambda:us-east-1:000000000000:function:nofn", model.AuditFailed},
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
	if f := got[1]; f.Status != 404 || f.Error == "" {
		t.Errorf("the failed DeleteFunction: %+v, want 404 with Lambda's message", f)
	}
	if a := got[2]; a.Role != "admin" || a.Task != "" {
		t.Errorf("the admin key's entry: %+v, want role admin and no task", a)
	}
	// The access key id is an actor like a token name.
	mine, err := cp.Admin.ListAudit(ctx, cr.AccessKeyId, 100, "")
	if err != nil || len(mine.Entries) != 1 {
		t.Fatalf("the task key's entries: %+v %v, want the purge only", mine, err)
	}
}

// TestAuditSNSSubscriptions: a topic created and subscribed with the admin
// key, and the subscription confirmed by the subscriber's unsigned
// SubscribeURL, are all recorded (the confirmation as "anonymous"); a
// confirmation with a wrong token is not (anyone could fill the log).
func TestAuditSNSSubscriptions(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	adminKey := cp.Bootstrap.AWSAccessKeyID
	sn := awssns.New(awssns.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
		Credentials: credentials.NewStaticCredentialsProvider(adminKey, cp.Bootstrap.AWSSecretAccessKey, "")})
	urls := make(chan string, 4)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		_ = json.NewDecoder(r.Body).Decode(&m)
		if m["Type"] == "SubscriptionConfirmation" {
			select {
			case urls <- m["SubscribeURL"]:
			default:
			}
		}
	}))
	defer web.Close()
	ct, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("audt")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(web.URL + "/sns")}); err != nil {
		t.Fatal(err)
	}
	var subscribeURL string
	select {
	case subscribeURL = <-urls:
	case <-time.After(30 * time.Second):
		t.Fatal("no SubscriptionConfirmation within 30 s")
	}
	bad, _ := url.Parse(subscribeURL)
	q := bad.Query()
	q.Set("Token", "not-the-token")
	bad.RawQuery = q.Encode()
	if resp, err := http.Get(bad.String()); err != nil || resp.StatusCode < 400 {
		t.Fatalf("a confirmation with a wrong token: %v %v, want refused", resp, err)
	}
	resp, err := http.Get(subscribeURL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("confirming by the SubscribeURL: %v %v", resp, err)
	}

	var got []model.AuditEntry
	testutil.WaitFor(t, 10*time.Second, "3 SNS entries", func() (bool, string) {
		page, err := cp.Admin.ListAudit(ctx, "", 100, "")
		if err != nil {
			return false, err.Error()
		}
		got = got[:0]
		for _, e := range page.Entries {
			if strings.HasPrefix(e.Action, "sns:") {
				got = append(got, e)
			}
		}
		return len(got) >= 3, fmt.Sprint(len(got), " SNS entries")
	})
	want := []struct{ actor, action, object string }{
		{"anonymous", "sns:ConfirmSubscription", *ct.TopicArn + ":"},
		{adminKey, "sns:Subscribe", *ct.TopicArn},
		{adminKey, "sns:CreateTopic", *ct.TopicArn},
	}
	if len(got) != len(want) {
		t.Errorf("%d SNS entries, want %d (none for the wrong token): %+v", len(got), len(want), got)
	}
	for i, w := range want[:min(len(want), len(got))] {
		e := got[i]
		if e.Actor != w.actor || e.Action != w.action || !strings.HasPrefix(e.Object, w.object) || e.Outcome != model.AuditOK {
			t.Errorf("entry %d: %+v\nwant actor %s, action %s, object %q...", i, e, w.actor, w.action, w.object)
		}
	}
}
