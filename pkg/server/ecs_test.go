package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/store"
)

// Only admin access keys may call the ECS API: the task key every
// container holds (for queues) is refused, although its signature is good.
func TestECSAPIIsForAdminKeysOnly(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	if err := cp.Store.PutAWSKey(ctx, store.AWSKey{AccessKeyID: "AKIATASKTEST00000000", SecretAccessKey: "task-secret", Role: auth.RoleTask}); err != nil {
		t.Fatal(err)
	}
	client := func(id, secret string) *awsecs.Client {
		return awsecs.New(awsecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
			Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")})
	}
	if _, err := client(cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey).ListServices(ctx, &awsecs.ListServicesInput{}); err != nil {
		t.Fatalf("admin key: %v", err)
	}
	_, err := client("AKIATASKTEST00000000", "task-secret").ListServices(ctx, &awsecs.ListServicesInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("task key: %v, want AccessDeniedException", err)
	}
	_, err = client(cp.Bootstrap.AWSAccessKeyID, "wrong").ListServices(ctx, &awsecs.ListServicesInput{})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("wrong secret: %v, want InvalidSignatureException (ECS's code)", err)
	}
}

// The cluster policy holds for the ECS API too: a stock SDK registering a
// task definition that mounts the Docker socket gets an InvalidParameterException
// naming the rule and the field.
func TestECSRegisterTaskDefinitionHonoursThePolicy(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	c := awsecs.New(awsecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
		Credentials: credentials.NewStaticCredentialsProvider(cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey, "")})
	_, err := c.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{
		Family:  aws.String("sock"),
		Volumes: []ecstypes.Volume{{Name: aws.String("d"), Host: &ecstypes.HostVolumeProperties{SourcePath: aws.String("/var/run/docker.sock")}}},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("busybox"), Memory: aws.Int32(32),
			MountPoints: []ecstypes.MountPoint{{SourceVolume: aws.String("d"), ContainerPath: aws.String("/var/run/docker.sock")}}}},
	})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterException" || !strings.Contains(ae.ErrorMessage(), "rule: deniedHostPaths") ||
		!strings.Contains(ae.ErrorMessage(), "containerDefinitions[0].mountPoints[0]") {
		t.Fatalf("ECS RegisterTaskDefinition mounting the Docker socket: %v, want InvalidParameterException naming the rule and field", err)
	}
}

// ECS's RunTask answer lists the task's containers at once (name, image,
// lastStatus PENDING), and SDK code reads tasks[0].containers right away;
// Orch's listed none until an agent reported. They come from the task
// definition now, in RunTask, DescribeTasks and StopTask alike.
func TestECSRunTaskListsTheContainersAtOnce(t *testing.T) {
	cp := testutil.StartServer(t) // no agent: the task stays PENDING
	ctx := context.Background()
	ecsc := awsecs.New(awsecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL),
		Credentials: credentials.NewStaticCredentialsProvider(cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey, "")})
	if _, err := ecsc.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("pair"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{Name: aws.String("app"), Image: aws.String("orch-example/web:latest"), Memory: aws.Int32(64)},
			{Name: aws.String("sidecar"), Image: aws.String("orch-example/job:latest"), Memory: aws.Int32(32), Essential: aws.Bool(false)},
		}}); err != nil {
		t.Fatal(err)
	}
	run, err := ecsc.RunTask(ctx, &awsecs.RunTaskInput{TaskDefinition: aws.String("pair"), Count: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, tasks []ecstypes.Task) {
		t.Helper()
		if len(tasks) == 0 {
			t.Fatalf("%s: no tasks", what)
		}
		for _, task := range tasks {
			var got []string
			for _, c := range task.Containers {
				got = append(got, aws.ToString(c.Name)+" "+aws.ToString(c.Image)+" "+aws.ToString(c.LastStatus))
				if aws.ToString(c.TaskArn) != aws.ToString(task.TaskArn) || !strings.HasSuffix(aws.ToString(c.ContainerArn), "/"+aws.ToString(c.Name)) {
					t.Errorf("%s: container %s: taskArn %q, containerArn %q", what, aws.ToString(c.Name), aws.ToString(c.TaskArn), aws.ToString(c.ContainerArn))
				}
			}
			want := []string{"app orch-example/web:latest PENDING", "sidecar orch-example/job:latest PENDING"}
			if strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("%s: containers %q, want %q", what, got, want)
			}
		}
	}
	check("RunTask", run.Tasks)
	desc, err := ecsc.DescribeTasks(ctx, &awsecs.DescribeTasksInput{Tasks: []string{aws.ToString(run.Tasks[0].TaskArn)}})
	if err != nil {
		t.Fatal(err)
	}
	check("DescribeTasks", desc.Tasks)
}
