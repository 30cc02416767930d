package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/model"
)

// awsCLI is Debian's awscli 2.9 (pip's 1.x may come first on PATH).
const awsCLI = "/usr/bin/aws"

// needTool skips (or, in CI, fails) when a client is missing.
func needTool(t *testing.T, what, how string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (CI must install it: %s)", what, how)
	}
	t.Skipf("%s is missing; install it to run this test: %s", what, how)
}

// awsEnv is the process environment for the stock AWS tools: the
// cluster's keys and region, and nothing from the user's own AWS
// configuration.
func awsEnv(c *cluster) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_ACCESS_KEY_ID="+c.cfg.AWSAccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.cfg.AWSSecretAccessKey,
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "AWS_CA_BUNDLE="+c.caFile())
}

// ecsCLI runs `aws --endpoint-url URL ecs ARGS --output json` and decodes
// the answer into out (when not nil).
func ecsCLI(t *testing.T, c *cluster, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", c.urls[0], "--output", "json", "ecs"}, args...)...)
	cmd.Env = awsEnv(c)
	b, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("aws ecs %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("aws ecs %s: %v", strings.Join(args, " "), err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("aws ecs %s: %v\n%s", args[0], err, b)
		}
	}
}

// ecsCLIFails runs the CLI expecting an error and returns its stderr.
func ecsCLIFails(t *testing.T, c *cluster, args ...string) string {
	t.Helper()
	cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", c.urls[0], "ecs"}, args...)...)
	cmd.Env = awsEnv(c)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("aws ecs %s succeeded, want an error:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

type cliTask struct {
	TaskArn, LastStatus, DesiredStatus, StopCode, ContainerInstanceArn, TaskDefinitionArn string
}

type cliService struct {
	ServiceName, Status, TaskDefinition string
	RunningCount, DesiredCount          int
	Deployments                         []struct{ Status, TaskDefinition, RolloutState string }
}

// TestDockerECSWithAWSCLI drives a real server and one orchlet on Docker
// with Debian's stock awscli only: register, run, describe, stop; the ECS
// deploy script (create, then a new revision, each time `wait
// services-stable`); the service seen through /v1 too; drain and activate
// the container instance; errors.
func TestDockerECSWithAWSCLI(t *testing.T) {
	_, err := os.Stat(awsCLI)
	needTool(t, "Debian's awscli 2.9 ("+awsCLI+")", "apt-get install awscli", err == nil)
	c, node := dockerCluster(t)

	// Register, run, describe, stop.
	var reg struct {
		TaskDefinition struct{ TaskDefinitionArn string }
	}
	ecsCLI(t, c, &reg, "register-task-definition", "--family", "ecsweb-task", "--container-definitions",
		`[{"name":"web","image":"orch-example/web:latest","memory":64,"portMappings":[{"containerPort":8080,"hostPort":0}]}]`)
	if want := "arn:aws:ecs:us-east-1:000000000000:task-definition/ecsweb-task:1"; reg.TaskDefinition.TaskDefinitionArn != want {
		t.Fatalf("registered %q, want %q", reg.TaskDefinition.TaskDefinitionArn, want)
	}
	var run struct{ Tasks []cliTask }
	ecsCLI(t, c, &run, "run-task", "--task-definition", "ecsweb-task", "--started-by", "e2e", "--tags", "key=team,value=infra")
	if len(run.Tasks) != 1 || !strings.HasPrefix(run.Tasks[0].TaskArn, "arn:aws:ecs:us-east-1:000000000000:task/default/") {
		t.Fatalf("run-task answered %+v, want one task with an ECS task ARN", run.Tasks)
	}
	arn := run.Tasks[0].TaskArn
	var desc struct{ Tasks []cliTask }
	testutil.WaitFor(t, 90*time.Second, "the task RUNNING in describe-tasks", func() (bool, string) {
		ecsCLI(t, c, &desc, "describe-tasks", "--tasks", arn)
		return len(desc.Tasks) == 1 && desc.Tasks[0].LastStatus == "RUNNING", "describe-tasks: " + strings.TrimSpace(jsonOf(desc.Tasks))
	})
	if want := "arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + node; desc.Tasks[0].ContainerInstanceArn != want {
		t.Fatalf("containerInstanceArn = %q, want %q", desc.Tasks[0].ContainerInstanceArn, want)
	}
	if n := len(nodeContainers(t, node, true)); n != 1 {
		t.Fatalf("%d running Docker containers on %s, want 1", n, node)
	}
	ecsCLI(t, c, nil, "stop-task", "--task", arn, "--reason", "done with it")
	testutil.WaitFor(t, 60*time.Second, "the task STOPPED", func() (bool, string) {
		ecsCLI(t, c, &desc, "describe-tasks", "--tasks", arn)
		return desc.Tasks[0].LastStatus == "STOPPED" && desc.Tasks[0].StopCode == "UserInitiated", jsonOf(desc.Tasks)
	})

	// The deploy script, unchanged: it creates the service, then rolls it
	// to a new revision; each run ends with `aws ecs wait services-stable`.
	deploy := func(version string) string {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join("..", "..", "examples", "ecs", "deploy.sh"), "ecsweb", "orch-example/web:latest", "2")
		cmd.Env = append(awsEnv(c), "AWS="+awsCLI+" --endpoint-url "+c.urls[0], "VERSION="+version)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("deploy.sh (VERSION=%s): %v\n%s", version, err, out)
		}
		return string(out)
	}
	out := deploy("1")
	if !strings.Contains(out, "created ecsweb") || !strings.Contains(out, "task-definition/ecsweb:1\t2\t2") {
		t.Fatalf("first deploy printed:\n%s\nwant the service created on ecsweb:1 with 2 of 2 running", out)
	}
	// Two doors: the service created through ECS is the one /v1 serves.
	if got := c.mustOrch(t, "get", "services"); !strings.Contains(got, "ecsweb") || !strings.Contains(got, "ecsweb:1") {
		t.Fatalf("orch get services:\n%s\nwant ecsweb on ecsweb:1", got)
	}
	out = deploy("2")
	if !strings.Contains(out, "updated ecsweb") || !strings.Contains(out, "task-definition/ecsweb:2\t2\t2") {
		t.Fatalf("second deploy printed:\n%s\nwant the service on ecsweb:2 with 2 of 2 running", out)
	}
	var svcs struct{ Services []cliService }
	ecsCLI(t, c, &svcs, "describe-services", "--services", "ecsweb")
	s := svcs.Services[0]
	if len(s.Deployments) != 1 || s.Deployments[0].RolloutState != "COMPLETED" || !strings.HasSuffix(s.TaskDefinition, "ecsweb:2") {
		t.Fatalf("after wait services-stable: %+v, want one COMPLETED deployment of ecsweb:2", s)
	}
	tasks := liveServiceTasks(getTaskPtrs(t, c))
	for _, tk := range tasks {
		if tk.Revision != 2 || tk.LastStatus != model.StatusRunning {
			t.Fatalf("service task %s runs revision %d (%s), want every live task on revision 2 RUNNING", tk.TaskID, tk.Revision, tk.LastStatus)
		}
	}
	if len(tasks) != 2 {
		t.Fatalf("%d live service tasks, want 2", len(tasks))
	}

	// Drain the container instance, then activate it again.
	var inst struct{ ContainerInstances []struct{ Status string } }
	ecsCLI(t, c, &inst, "update-container-instances-state", "--container-instances", node, "--status", "DRAINING")
	if len(inst.ContainerInstances) != 1 || inst.ContainerInstances[0].Status != "DRAINING" {
		t.Fatalf("update-container-instances-state: %+v, want DRAINING", inst)
	}
	if got := c.mustOrch(t, "get", "nodes"); !strings.Contains(got, "DRAINING") {
		t.Fatalf("orch get nodes after draining through ECS:\n%s\nwant DRAINING", got)
	}
	ecsCLI(t, c, &inst, "update-container-instances-state", "--container-instances", node, "--status", "ACTIVE")
	if inst.ContainerInstances[0].Status != "ACTIVE" {
		t.Fatalf("activate: %+v", inst)
	}

	// Errors a user sees from the CLI.
	for _, tc := range []struct{ args []string }{
		{[]string{"describe-task-definition", "--task-definition", "nosuch"}},
		{[]string{"update-service", "--service", "nosuch", "--desired-count", "1"}},
		{[]string{"list-services", "--cluster", "prod"}},
		{[]string{"run-task", "--task-definition", "ecsweb", "--count", "0"}},
	} {
		msg := ecsCLIFails(t, c, tc.args...)
		want := map[string]string{"describe-task-definition": "ClientException", "update-service": "ServiceNotFoundException",
			"list-services": "ClusterNotFoundException", "run-task": "InvalidParameterException"}[tc.args[0]]
		if !strings.Contains(msg, want) {
			t.Errorf("aws ecs %s: %s\nwant %s", strings.Join(tc.args, " "), msg, want)
		}
	}

	// Scale to 0 and delete, as ECS requires.
	ecsCLI(t, c, nil, "update-service", "--service", "ecsweb", "--desired-count", "0")
	ecsCLI(t, c, nil, "delete-service", "--service", "ecsweb")
	testutil.WaitFor(t, 60*time.Second, "the service's containers gone", func() (bool, string) {
		n := len(nodeContainers(t, node, true))
		return n == 0, jsonOf(n) + " containers still running"
	})
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func getTaskPtrs(t *testing.T, c *cluster) []*model.Task {
	t.Helper()
	ts := getTasks(t, c)
	out := make([]*model.Task, len(ts))
	for i := range ts {
		out[i] = &ts[i]
	}
	return out
}

// fakeCluster is orch server + one orchlet on the fake runtime.
func fakeCluster(t *testing.T) (*cluster, string) {
	t.Helper()
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir())
	node := "ecs-fake-" + time.Now().Format("150405.000000")
	node = strings.ReplaceAll(node, ".", "")
	c.startAgent(t, node, "--runtime", "fake", "--listen", freeAddr(t))
	waitNodes(t, c, 1)
	return c, node
}

func ecsClient(c *cluster) *awsecs.Client {
	return awsecs.New(awsecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(c.urls[0]),
		Credentials:  credentials.NewStaticCredentialsProvider(c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey, ""),
		HTTPClient:   e2eHTTP,
	})
}

// TestECSWithGoSDK uses aws-sdk-go-v2's ECS client (its own serializers
// and deserializers) against a real server: task definitions, pagination
// over every list, a service to stable with the SDK's waiter, tags,
// attributes, and the error types and HTTP status of bad input.
func TestECSWithGoSDK(t *testing.T) {
	c, node := fakeCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli := ecsClient(c)

	var arns []string
	for _, fam := range []string{"pg-a", "pg-b", "pg-c"} {
		for range 2 {
			out, err := cli.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{
				Family: aws.String(fam), ExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/x"),
				ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"),
					Memory: aws.Int32(32), Environment: []types.KeyValuePair{{Name: aws.String("N"), Value: aws.String(time.Now().String())}}}},
				Tags: []types.Tag{{Key: aws.String("family"), Value: aws.String(fam)}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if out.TaskDefinition.RegisteredAt == nil || time.Since(*out.TaskDefinition.RegisteredAt) > time.Minute {
				t.Fatalf("registeredAt = %v, want about now", out.TaskDefinition.RegisteredAt)
			}
			arns = append(arns, *out.TaskDefinition.TaskDefinitionArn)
		}
	}
	// Pagination: pages of 2 through the SDK's paginator give every ARN once, in order.
	var paged []string
	pages := 0
	p := awsecs.NewListTaskDefinitionsPaginator(cli, &awsecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("pg-"), MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		paged = append(paged, out.TaskDefinitionArns...)
	}
	if strings.Join(paged, ",") != strings.Join(arns, ",") || pages != 3 {
		t.Fatalf("paged %d pages: %v\nwant 3 pages: %v", pages, paged, arns)
	}
	fams, err := cli.ListTaskDefinitionFamilies(ctx, &awsecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("pg-"), MaxResults: aws.Int32(1)})
	if err != nil || len(fams.Families) != 1 || fams.NextToken == nil {
		t.Fatalf("ListTaskDefinitionFamilies page 1: %+v %v, want one family and a nextToken", fams, err)
	}

	// Run 3 tasks; list them in pages of 1.
	run, err := cli.RunTask(ctx, &awsecs.RunTaskInput{TaskDefinition: aws.String("pg-a"), Count: aws.Int32(3), ClientToken: aws.String("tok-1"),
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("app"), Command: []string{"sleep", "1000"}}}}})
	if err != nil || len(run.Tasks) != 3 {
		t.Fatalf("RunTask: %v %v", run, err)
	}
	// Lists come from the server's watch cache, a moment behind RunTask's
	// write (as ECS's own ListTasks is eventually consistent): poll.
	var listed []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		listed = nil
		lp := awsecs.NewListTasksPaginator(cli, &awsecs.ListTasksInput{Family: aws.String("pg-a"), MaxResults: aws.Int32(1)})
		for lp.HasMorePages() {
			out, err := lp.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, out.TaskArns...)
		}
		if len(listed) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(listed) != 3 {
		t.Fatalf("ListTasks in pages of 1: %v, want the 3 tasks", listed)
	}
	if _, err := cli.ListTasks(ctx, &awsecs.ListTasksInput{NextToken: aws.String("not-a-token")}); !isCode[*types.InvalidParameterException](err) {
		t.Fatalf("ListTasks with a bad token: %v, want InvalidParameterException", err)
	}

	// A service, stable through the SDK's own waiter; then a new revision.
	if _, err := cli.CreateService(ctx, &awsecs.CreateServiceInput{ServiceName: aws.String("gosvc"), TaskDefinition: aws.String("pg-b:1"),
		DesiredCount: aws.Int32(2), Cluster: aws.String("default"), LaunchType: types.LaunchTypeEc2}); err != nil {
		t.Fatal(err)
	}
	waiter := awsecs.NewServicesStableWaiter(cli, func(o *awsecs.ServicesStableWaiterOptions) { o.MinDelay, o.MaxDelay = time.Second, 2*time.Second })
	if err := waiter.Wait(ctx, &awsecs.DescribeServicesInput{Services: []string{"gosvc"}}, 2*time.Minute); err != nil {
		t.Fatalf("services-stable after create: %v", err)
	}
	if _, err := cli.UpdateService(ctx, &awsecs.UpdateServiceInput{Service: aws.String("gosvc"), TaskDefinition: aws.String("pg-b:2")}); err != nil {
		t.Fatal(err)
	}
	if err := waiter.Wait(ctx, &awsecs.DescribeServicesInput{Services: []string{"gosvc"}}, 2*time.Minute); err != nil {
		t.Fatalf("services-stable after update: %v", err)
	}
	// forceNewDeployment replaces the running tasks of the same revision.
	listSvc := func() map[string]bool {
		lt, err := cli.ListTasks(ctx, &awsecs.ListTasksInput{ServiceName: aws.String("gosvc")})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, a := range lt.TaskArns {
			m[a] = true
		}
		return m
	}
	before := listSvc()
	if _, err := cli.UpdateService(ctx, &awsecs.UpdateServiceInput{Service: aws.String("gosvc"), ForceNewDeployment: true}); err != nil {
		t.Fatal(err)
	}
	if err := waiter.Wait(ctx, &awsecs.DescribeServicesInput{Services: []string{"gosvc"}}, 2*time.Minute); err != nil {
		t.Fatalf("services-stable after forceNewDeployment: %v", err)
	}
	testutil.WaitFor(t, 30*time.Second, "only new tasks after forceNewDeployment", func() (bool, string) {
		after := listSvc()
		for a := range after {
			if before[a] {
				return false, "still running " + a
			}
		}
		return len(after) == 2, fmt.Sprintf("%d tasks", len(after))
	})
	ds, err := cli.DescribeServices(ctx, &awsecs.DescribeServicesInput{Services: []string{"gosvc", "nosuch"}, Include: []types.ServiceField{types.ServiceFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	s := ds.Services[0]
	if len(s.Deployments) != 1 || !strings.HasSuffix(*s.TaskDefinition, "pg-b:2") || s.RunningCount != 2 || s.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted || s.CreatedAt == nil {
		t.Fatalf("gosvc: %d deployments, td %s, running %d; want one COMPLETED deployment of pg-b:2 with 2 running", len(s.Deployments), *s.TaskDefinition, s.RunningCount)
	}
	if len(ds.Failures) != 1 || *ds.Failures[0].Reason != "MISSING" {
		t.Fatalf("failures = %+v, want nosuch MISSING", ds.Failures)
	}
	// The other door: /v1 sees the same service.
	if got := c.mustOrch(t, "get", "services", "gosvc"); !strings.Contains(got, "pg-b:2") {
		t.Fatalf("orch get services gosvc:\n%s\nwant pg-b:2", got)
	}

	// And the reverse: a task started with `orch run` is listed by ECS.
	c.mustOrch(t, "run", "pg-c")
	testutil.WaitFor(t, 10*time.Second, "the orch-run task in ListTasks", func() (bool, string) {
		lt, err := cli.ListTasks(ctx, &awsecs.ListTasksInput{Family: aws.String("pg-c")})
		return err == nil && len(lt.TaskArns) == 1, fmt.Sprintf("%v %v", lt, err)
	})

	// Tags on a task, a service and a container instance; attributes on the node.
	inst := "arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + node
	for _, arn := range []string{*run.Tasks[0].TaskArn, *s.ServiceArn, inst, arns[0], "arn:aws:ecs:us-east-1:000000000000:cluster/default"} {
		if _, err := cli.TagResource(ctx, &awsecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("infra")}}}); err != nil {
			t.Fatalf("TagResource %s: %v", arn, err)
		}
		if _, err := cli.UntagResource(ctx, &awsecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"family"}}); err != nil {
			t.Fatalf("UntagResource %s: %v", arn, err)
		}
		lt, err := cli.ListTagsForResource(ctx, &awsecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		if err != nil || len(lt.Tags) != 1 || *lt.Tags[0].Key != "team" {
			t.Fatalf("ListTagsForResource %s: %+v %v, want only team", arn, lt, err)
		}
	}
	if _, err := cli.PutAttributes(ctx, &awsecs.PutAttributesInput{Attributes: []types.Attribute{{Name: aws.String("disk"), Value: aws.String("ssd"), TargetId: aws.String(inst)}}}); err != nil {
		t.Fatal(err)
	}
	la, err := cli.ListAttributes(ctx, &awsecs.ListAttributesInput{TargetType: types.TargetTypeContainerInstance, AttributeName: aws.String("disk")})
	if err != nil || len(la.Attributes) != 1 || *la.Attributes[0].Value != "ssd" {
		t.Fatalf("ListAttributes disk: %+v %v", la, err)
	}
	dci, err := cli.DescribeContainerInstances(ctx, &awsecs.DescribeContainerInstancesInput{ContainerInstances: []string{node}})
	if err != nil || len(dci.ContainerInstances) != 1 || !dci.ContainerInstances[0].AgentConnected || len(dci.ContainerInstances[0].RegisteredResources) < 2 {
		t.Fatalf("DescribeContainerInstances: %+v %v", dci, err)
	}
	if _, err := cli.PutAttributes(ctx, &awsecs.PutAttributesInput{Attributes: []types.Attribute{{Name: aws.String("x"), TargetId: aws.String("ghost")}}}); !isCode[*types.TargetNotFoundException](err) {
		t.Fatalf("PutAttributes on a missing node: %v, want TargetNotFoundException", err)
	}

	// An unsigned request is refused.
	req, _ := http.NewRequest("POST", c.urls[0]+"/", strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListServices")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if resp, err := e2eHTTP.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("unsigned ListServices: %v %v, want 403", resp, err)
	} else {
		resp.Body.Close()
	}

	// Bad input: ECS's error types, HTTP 400, a message naming the field.
	_, err = cli.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("bad"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(-5)}}})
	if !isCode[*types.InvalidParameterException](err) || !strings.Contains(err.Error(), "containerDefinitions[0].memory") || httpStatus(err) != 400 {
		t.Fatalf("RegisterTaskDefinition with memory -5: %v (status %d), want InvalidParameterException 400 naming containerDefinitions[0].memory", err, httpStatus(err))
	}
	if _, err := cli.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nosuch:1")}); !isCode[*types.ClientException](err) {
		t.Fatalf("DescribeTaskDefinition nosuch: %v, want ClientException", err)
	}
	if _, err := cli.UpdateService(ctx, &awsecs.UpdateServiceInput{Service: aws.String("nosuch")}); !isCode[*types.ServiceNotFoundException](err) {
		t.Fatalf("UpdateService nosuch: %v, want ServiceNotFoundException", err)
	}
	if _, err := cli.ListServices(ctx, &awsecs.ListServicesInput{Cluster: aws.String("prod")}); !isCode[*types.ClusterNotFoundException](err) {
		t.Fatalf("ListServices in prod: %v, want ClusterNotFoundException", err)
	}
	if _, err := cli.DeleteService(ctx, &awsecs.DeleteServiceInput{Service: aws.String("gosvc")}); !isCode[*types.InvalidParameterException](err) {
		t.Fatalf("DeleteService while scaled above 0: %v, want InvalidParameterException", err)
	}
	if _, err := cli.DeleteService(ctx, &awsecs.DeleteServiceInput{Service: aws.String("gosvc"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UpdateService(ctx, &awsecs.UpdateServiceInput{Service: aws.String("gosvc"), DesiredCount: aws.Int32(1)}); err != nil && !isCode[*types.ServiceNotActiveException](err) && !isCode[*types.ServiceNotFoundException](err) {
		t.Fatalf("UpdateService on a deleted service: %v, want ServiceNotActiveException (or not found once gone)", err)
	}
}

func isCode[T error](err error) bool {
	var e T
	return errors.As(err, &e)
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return -1
	}
	return 0
}

// TestECSWithBoto3 runs boto3's ECS client against a real server.
func TestECSWithBoto3(t *testing.T) {
	err := exec.Command("python3", "-c", "import boto3").Run()
	needTool(t, "python3 with boto3", "pip install boto3 (or apt-get install python3-boto3)", err == nil)
	c, _ := fakeCluster(t)
	script := `
import sys, boto3, botocore
ecs = boto3.client("ecs", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
td = ecs.register_task_definition(family="py", containerDefinitions=[{"name": "app", "image": "busybox", "memory": 32}],
                                  requiresCompatibilities=["EC2"])["taskDefinition"]
assert td["taskDefinitionArn"].endswith(":task-definition/py:1"), td
assert td["registeredAt"].year >= 2024, td["registeredAt"]
ecs.create_service(serviceName="pysvc", taskDefinition="py", desiredCount=2)
ecs.get_waiter("services_stable").wait(services=["pysvc"], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
svc = ecs.describe_services(services=["pysvc"])["services"][0]
assert svc["runningCount"] == 2 and len(svc["deployments"]) == 1, svc
assert svc["deployments"][0]["rolloutState"] == "COMPLETED", svc["deployments"]
arns = [a for p in ecs.get_paginator("list_tasks").paginate(serviceName="pysvc", PaginationConfig={"PageSize": 1}) for a in p["taskArns"]]
assert len(arns) == 2, arns
tasks = ecs.describe_tasks(tasks=arns)["tasks"]
assert all(t["lastStatus"] == "RUNNING" and t["createdAt"].year >= 2024 for t in tasks), tasks
ci = ecs.describe_container_instances(containerInstances=ecs.list_container_instances()["containerInstanceArns"])
assert ci["containerInstances"][0]["runningTasksCount"] == 2, ci
try:
    ecs.stop_task(task="0123456789abcdef0123456789abcdef")
    raise SystemExit("stop_task of a missing task succeeded")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidParameterException", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
try:
    ecs.describe_services(cluster="prod", services=["pysvc"])
    raise SystemExit("describe_services in prod succeeded")
except ecs.exceptions.ClusterNotFoundException:
    pass
print("boto3 ok")
`
	cmd := exec.Command("python3", "-c", script, c.urls[0], c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey)
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_CA_BUNDLE="+c.caFile())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "boto3 ok") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}
