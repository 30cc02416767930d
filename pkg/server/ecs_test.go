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
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v, want SignatureDoesNotMatch", err)
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
