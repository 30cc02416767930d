package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

func ecsClient(cp *testutil.ControlPlane) *awsecs.Client {
	return awsecs.New(awsecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
		Credentials: credentials.NewStaticCredentialsProvider(cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey, "")})
}

// A service apply whose answer was lost is retried with the same
// clientToken: the retry answers the service the first call created (not
// a second deployment, not an undo of changes made since), and the token
// reused with another spec is refused naming clientToken.
func TestApplyServiceClientToken(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	applyTD(t, cp.Admin, testutil.TaskDef("web", 64))

	in := func(n int) *model.Service {
		return &model.Service{ServiceName: "web", TaskDefinition: "web", DesiredCount: &n, ClientToken: "apply-tok-1"}
	}
	first, action, err := cp.Admin.ApplyService(ctx, in(0))
	if err != nil || action != "created" {
		t.Fatalf("first apply: %v %q, want created", err, action)
	}
	if _, err := cp.Admin.ScaleService(ctx, "web", 2); err != nil {
		t.Fatal(err)
	}
	again, action, err := cp.Admin.ApplyService(ctx, in(0))
	if err != nil || action != "unchanged" {
		t.Fatalf("retry: %v %q, want unchanged", err, action)
	}
	if again.Primary().ID != first.Primary().ID || again.Desired() != 2 {
		t.Errorf("retry answered deployment %s with %d desired; want the first call's %s, with the count scaled to since (2)",
			again.Primary().ID, again.Desired(), first.Primary().ID)
	}
	_, _, err = cp.Admin.ApplyService(ctx, in(5))
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 400 || !strings.Contains(ce.Message, "clientToken: idempotency mismatch") {
		t.Errorf("same token, other spec: %v; want 400 naming clientToken", err)
	}
	// The same through POST /v1/apply (what orch apply sends).
	doc := []wire.ApplyDocument{{Kind: "Service", Spec: []byte(`{"serviceName":"api","taskDefinition":"web","desiredCount":0,"clientToken":"apply-doc-tok"}`)}}
	for i, want := range []string{"created", "unchanged"} {
		res, err := cp.Admin.Apply(ctx, doc)
		if err != nil || len(res) != 1 || res[0].Action != want {
			t.Errorf("POST /v1/apply #%d with a clientToken: %+v %v; want %s", i+1, res, err, want)
		}
	}
	doc[0].Spec = []byte(`{"serviceName":"api","taskDefinition":"web","desiredCount":1,"clientToken":"apply-doc-tok"}`)
	if _, err := cp.Admin.Apply(ctx, doc); !errors.As(err, &ce) || ce.Status != 400 || !strings.Contains(ce.Message, "clientToken") {
		t.Errorf("POST /v1/apply, same token, other spec: %v; want 400 naming clientToken", err)
	}
	// A new token on an existing service is an ordinary apply (update).
	n := 3
	out, action, err := cp.Admin.ApplyService(ctx, &model.Service{ServiceName: "web", TaskDefinition: "web", DesiredCount: &n, ClientToken: "apply-tok-2"})
	if err != nil || action != "configured" || out.Desired() != 3 {
		t.Errorf("apply with a new token to an existing service: %v %q desired %d; want configured, 3", err, action, out.Desired())
	}
}

// ECS CreateService with a clientToken: a retry returns the same service;
// the token with another spec, or a create without a token of a service
// that exists, is InvalidParameterException.
func TestECSCreateServiceClientToken(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	applyTD(t, cp.Admin, testutil.TaskDef("web", 64))
	cli := ecsClient(cp)

	create := func(n int32, tok string) (*awsecs.CreateServiceOutput, error) {
		in := &awsecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(n)}
		if tok != "" {
			in.ClientToken = aws.String(tok)
		}
		return cli.CreateService(ctx, in)
	}
	first, err := create(0, "ecs-tok-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := create(0, "ecs-tok-1")
	if err != nil {
		t.Fatalf("retry with the token: %v, want the service", err)
	}
	if aws.ToString(again.Service.ServiceArn) != aws.ToString(first.Service.ServiceArn) ||
		!aws.ToTime(again.Service.CreatedAt).Equal(aws.ToTime(first.Service.CreatedAt)) ||
		aws.ToString(again.Service.Deployments[0].Id) != aws.ToString(first.Service.Deployments[0].Id) {
		t.Errorf("retry answered %+v, want the first call's service", again.Service)
	}
	var ip *types.InvalidParameterException
	if _, err := create(4, "ecs-tok-1"); !errors.As(err, &ip) || !strings.Contains(err.Error(), "clientToken") {
		t.Errorf("same token, other spec: %v; want InvalidParameterException naming clientToken", err)
	}
	for _, tok := range []string{"", "ecs-tok-2"} {
		if _, err := create(0, tok); !errors.As(err, &ip) || !strings.Contains(err.Error(), "not idempotent") {
			t.Errorf("create of an existing service with token %q: %v; want InvalidParameterException (not idempotent)", tok, err)
		}
	}
}

// A deleted service is DRAINING, then INACTIVE: DescribeServices answers
// it (not MISSING) so the SDK's ServicesInactive waiter succeeds, and it
// can be created again; orch get services no longer lists it.
func TestECSDeletedServiceIsInactive(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	applyTD(t, cp.Admin, testutil.TaskDef("web", 64))
	cli := ecsClient(cp)
	if _, err := cli.CreateService(ctx, &awsecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	del, err := cli.DeleteService(ctx, &awsecs.DeleteServiceInput{Service: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if s := aws.ToString(del.Service.Status); s != "DRAINING" {
		t.Errorf("DeleteService answered status %s, want DRAINING", s)
	}
	w := awsecs.NewServicesInactiveWaiter(cli, func(o *awsecs.ServicesInactiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	desc := &awsecs.DescribeServicesInput{Services: []string{"web"}}
	if err := w.Wait(ctx, desc, 30*time.Second); err != nil {
		t.Fatalf("ServicesInactive waiter: %v", err)
	}
	out, err := cli.DescribeServices(ctx, desc)
	if err != nil || len(out.Services) != 1 || len(out.Failures) != 0 {
		t.Fatalf("DescribeServices after delete: %+v %v; want the service, no failures", out, err)
	}
	if s := out.Services[0]; aws.ToString(s.Status) != "INACTIVE" || aws.ToString(s.ServiceArn) == "" || s.DesiredCount != 0 {
		t.Errorf("deleted service: status %s arn %q desired %d; want INACTIVE with its ARN and 0 desired",
			aws.ToString(s.Status), aws.ToString(s.ServiceArn), s.DesiredCount)
	}
	if svcs, err := cp.Admin.ListServices(ctx); err != nil || len(svcs) != 0 {
		t.Errorf("orch get services after the delete: %d services, %v; want none", len(svcs), err)
	}
	ls, err := cli.ListServices(ctx, &awsecs.ListServicesInput{})
	if err != nil || len(ls.ServiceArns) != 0 {
		t.Errorf("ListServices after the delete: %v %v; want none", ls.ServiceArns, err)
	}
	// Never-created services are still MISSING.
	out, err = cli.DescribeServices(ctx, &awsecs.DescribeServicesInput{Services: []string{"nosuch"}})
	if err != nil || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Errorf("DescribeServices nosuch: %+v %v; want a MISSING failure", out, err)
	}
	// The name can be used again; the live service wins over the tombstone.
	if _, err := cli.CreateService(ctx, &awsecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatalf("create again after the delete: %v", err)
	}
	out, err = cli.DescribeServices(ctx, desc)
	if err != nil || len(out.Services) != 1 || aws.ToString(out.Services[0].Status) != "ACTIVE" {
		t.Errorf("DescribeServices after re-creating: %+v %v; want ACTIVE", out, err)
	}
	var ae smithy.APIError
	_, err = cli.UpdateService(ctx, &awsecs.UpdateServiceInput{Service: aws.String("gone")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceNotFoundException" {
		t.Errorf("UpdateService of a service never created: %v, want ServiceNotFoundException", err)
	}
}
