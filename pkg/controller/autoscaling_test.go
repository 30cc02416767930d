package controller_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/model"
)

func awsConfig(c *svcCluster) aws.Config {
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(c.URL),
		Credentials: credentials.NewStaticCredentialsProvider(c.Bootstrap.AWSAccessKeyID, c.Bootstrap.AWSSecretAccessKey, "")}
}

// running counts a service's RUNNING tasks that are meant to run.
func running(tasks []*model.Task) int {
	n := 0
	for _, t := range tasks {
		if t.LastStatus == model.StatusRunning && t.DesiredStatus == model.StatusRunning {
			n++
		}
	}
	return n
}

// TestAutoscalingFollowsQueueBacklog drives a service declared with the
// autoScaling short form through its life: at zero while the queue is
// empty, woken by the first message, scaled out under a backlog but never
// above max, and back to zero once the queue stays empty; every change is
// a scaling activity that the stock SDK's DescribeScalingActivities lists
// with its cause.
func TestAutoscalingFollowsQueueBacklog(t *testing.T) {
	c := startSvcCluster(t, 1)
	ctx := context.Background()
	sqsc := awssqs.NewFromConfig(awsConfig(c))
	q, err := sqsc.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	c.apply(t, taskDef("worker", "", false), `Service {"serviceName":"worker","taskDefinition":"worker",
		"autoScaling":{"minCapacity":0,"maxCapacity":3,"queue":"orders","messagesPerTask":2,"scaleToZeroAfterSeconds":2,"scaleInCooldown":2}}`)

	svc, tasks := c.get(t, "worker")
	if svc.Desired() != 0 || len(tasks) != 0 || svc.Scaling == nil || svc.Scaling.MaxCapacity != 3 {
		t.Fatalf("a service scaled on an empty queue starts at 0 with its bounds: desired %d, %d tasks, scaling %+v", svc.Desired(), len(tasks), svc.Scaling)
	}
	sent := time.Now()
	if _, err := sqsc.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("order 1")}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "a task RUNNING after the first message", func() (bool, string) {
		_, tasks := c.get(t, "worker")
		return running(tasks) == 1, fmt.Sprintf("%d running", running(tasks))
	})
	t.Logf("first message to RUNNING task: %s", time.Since(sent))

	for i := 2; i <= 20; i++ {
		if _, err := sqsc.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(fmt.Sprint("order ", i))}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "scale out to max 3 on a backlog of 20", func() (bool, string) {
		svc, tasks := c.get(t, "worker")
		return svc.Desired() == 3 && running(tasks) == 3, fmt.Sprintf("desired %d running %d", svc.Desired(), running(tasks))
	})

	// Drain the queue as the workers would.
	for {
		out, err := sqsc.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			if _, err := sqsc.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Max 3 never exceeded on the way, back to zero after the idle period.
	testutil.WaitFor(t, 20*time.Second, "scale back to 0 once the queue is empty", func() (bool, string) {
		svc, tasks := c.get(t, "worker")
		if svc.Desired() > 3 {
			t.Fatalf("desired %d above MaxCapacity 3", svc.Desired())
		}
		return svc.Desired() == 0 && running(tasks) == 0, fmt.Sprintf("desired %d running %d", svc.Desired(), running(tasks))
	})

	// /metrics exposes the inputs and the decisions.
	resp, err := http.Get(c.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`orch_autoscaling_queue_backlog{queue="orders",service="worker"}`, `orch_autoscaling_actions_total{direction="out",service="worker"}`,
		`orch_autoscaling_actions_total{direction="in",service="worker"}`, `orch_autoscaling_desired_count{service="worker"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	acts, err := aas.NewFromConfig(awsConfig(c)).DescribeScalingActivities(ctx, &aas.DescribeScalingActivitiesInput{
		ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/default/worker")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acts.ScalingActivities {
		got = append(got, aws.ToString(a.Description)+" "+aws.ToString(a.Cause))
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"Setting desired count to 1.", "woke from zero", "Setting desired count to 3.", "Setting desired count to 0.", "idle for 2s"} {
		if !strings.Contains(all, want) {
			t.Errorf("activities lack %q:\n%s", want, all)
		}
	}
	if len(acts.ScalingActivities) > 0 && aws.ToString(acts.ScalingActivities[0].Description) != "Setting desired count to 0." {
		t.Errorf("activities are listed newest first; first is %q", aws.ToString(acts.ScalingActivities[0].Description))
	}
}

// TestAutoscalingAPIWithTheSDK registers a target and policies with
// aws-sdk-go-v2's applicationautoscaling client, reads them back, gets
// field paths for bad input, and deletes them.
func TestAutoscalingAPIWithTheSDK(t *testing.T) {
	c := startSvcCluster(t, 1)
	ctx := context.Background()
	c.apply(t, taskDef("api", "", false), service("api", "api", 1, 100, 200, ""))
	cli := aas.NewFromConfig(awsConfig(c))
	rid := aws.String("service/default/api")
	dim := aastypes.ScalableDimensionECSServiceDesiredCount

	if _, err := cli.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/default/nope"), ScalableDimension: dim, MinCapacity: aws.Int32(0), MaxCapacity: aws.Int32(2)}); !isAPIError(err, "ValidationException", "ResourceId") {
		t.Fatalf("a target for a missing service: got %v, want ValidationException naming ResourceId", err)
	}
	reg, err := cli.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: rid, ScalableDimension: dim, MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(4)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(reg.ScalableTargetARN), "scalable-target/api") {
		t.Errorf("ScalableTargetARN %q", aws.ToString(reg.ScalableTargetARN))
	}
	if _, err := cli.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: rid, ScalableDimension: dim, MinCapacity: aws.Int32(5)}); !isAPIError(err, "ValidationException", "MaxCapacity") {
		t.Fatalf("min above the registered max: got %v", err)
	}

	put, err := cli.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("cpu50"), ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: rid, ScalableDimension: dim, PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
		TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{TargetValue: aws.Float64(50),
			PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{PredefinedMetricType: aastypes.MetricTypeECSServiceAverageCPUUtilization},
			ScaleInCooldown:               aws.Int32(120)}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(put.PolicyARN), "policyName/cpu50") {
		t.Errorf("PolicyARN %q", aws.ToString(put.PolicyARN))
	}
	_, err = cli.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("bad"), ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: rid, ScalableDimension: dim, PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
		TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{TargetValue: aws.Float64(-1),
			PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{PredefinedMetricType: aastypes.MetricTypeALBRequestCountPerTarget}}})
	if !isAPIError(err, "ValidationException", "TargetTrackingScalingPolicyConfiguration.TargetValue") ||
		!isAPIError(err, "ValidationException", "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType") {
		t.Fatalf("a bad policy: got %v, want ValidationException with both field paths", err)
	}

	ts, err := cli.DescribeScalableTargets(ctx, &aas.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.ScalableTargets) != 1 || aws.ToInt32(ts.ScalableTargets[0].MinCapacity) != 1 || aws.ToInt32(ts.ScalableTargets[0].MaxCapacity) != 4 ||
		ts.ScalableTargets[0].CreationTime == nil || time.Since(*ts.ScalableTargets[0].CreationTime) > time.Minute {
		t.Fatalf("DescribeScalableTargets: %+v", ts.ScalableTargets)
	}
	ps, err := cli.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: rid})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.ScalingPolicies) != 1 || aws.ToString(ps.ScalingPolicies[0].PolicyName) != "cpu50" ||
		aws.ToFloat64(ps.ScalingPolicies[0].TargetTrackingScalingPolicyConfiguration.TargetValue) != 50 ||
		aws.ToInt32(ps.ScalingPolicies[0].TargetTrackingScalingPolicyConfiguration.ScaleInCooldown) != 120 {
		t.Fatalf("DescribeScalingPolicies: %+v", ps.ScalingPolicies)
	}
	if _, err := cli.DeleteScalingPolicy(ctx, &aas.DeleteScalingPolicyInput{PolicyName: aws.String("cpu50"), ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: rid, ScalableDimension: dim}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.DeleteScalingPolicy(ctx, &aas.DeleteScalingPolicyInput{PolicyName: aws.String("cpu50"), ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: rid, ScalableDimension: dim}); !isAPIError(err, "ObjectNotFoundException", "cpu50") {
		t.Fatalf("deleting a deleted policy: got %v", err)
	}
	if _, err := cli.DeregisterScalableTarget(ctx, &aas.DeregisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: rid, ScalableDimension: dim}); err != nil {
		t.Fatal(err)
	}
	// Unsigned or wrongly signed requests are refused.
	bad := awsConfig(c)
	bad.Credentials = credentials.NewStaticCredentialsProvider(c.Bootstrap.AWSAccessKeyID, "wrong-secret", "")
	if _, err := aas.NewFromConfig(bad).DescribeScalableTargets(ctx, &aas.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs}); err == nil {
		t.Fatal("a request signed with the wrong secret was accepted")
	}
}

func isAPIError(err error, code, msgPart string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code && strings.Contains(ae.ErrorMessage(), msgPart)
}

// TestAutoscalingAWSCLI drives the API with Debian's awscli 2.9
// (/usr/bin/aws application-autoscaling, --endpoint-url).
func TestAutoscalingAWSCLI(t *testing.T) {
	aws := "/usr/bin/aws"
	if _, err := os.Stat(aws); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Debian's awscli is required in CI: %v", err)
		}
		t.Skip("Debian's awscli is missing: apt-get install -y awscli")
	}
	c := startSvcCluster(t, 1)
	c.apply(t, taskDef("cli", "", false), service("cli", "cli", 1, 100, 200, ""))
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(aws, append([]string{"application-autoscaling", "--endpoint-url", c.URL, "--region", "us-east-1", "--output", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+c.Bootstrap.AWSAccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.Bootstrap.AWSSecretAccessKey,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	dim := []string{"--service-namespace", "ecs", "--resource-id", "service/default/cli", "--scalable-dimension", "ecs:service:DesiredCount"}
	run(append([]string{"register-scalable-target", "--min-capacity", "0", "--max-capacity", "3"}, dim...)...)
	run(append([]string{"put-scaling-policy", "--policy-name", "mem", "--policy-type", "TargetTrackingScaling",
		"--target-tracking-scaling-policy-configuration", `{"TargetValue":70,"PredefinedMetricSpecification":{"PredefinedMetricType":"ECSServiceAverageMemoryUtilization"}}`}, dim...)...)
	if out := run("describe-scalable-targets", "--service-namespace", "ecs"); !strings.Contains(out, `"MaxCapacity": 3`) {
		t.Fatalf("describe-scalable-targets:\n%s", out)
	}
	if out := run("describe-scaling-policies", "--service-namespace", "ecs"); !strings.Contains(out, `"PolicyName": "mem"`) || !strings.Contains(out, "ECSServiceAverageMemoryUtilization") {
		t.Fatalf("describe-scaling-policies:\n%s", out)
	}
	// The service at desired 1 with MinCapacity 0 and no memory data yet stays; activities list cleanly.
	if out := run("describe-scaling-activities", "--service-namespace", "ecs"); !strings.Contains(out, "ScalingActivities") {
		t.Fatalf("describe-scaling-activities:\n%s", out)
	}
	run(append([]string{"deregister-scalable-target"}, dim...)...)
}
