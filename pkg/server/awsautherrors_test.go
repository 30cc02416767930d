package server_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Lambda, ECS and Application Auto Scaling answer a failed signature check
// with their own codes, as AWS does: an unknown access key is 403
// UnrecognizedClientException "The security token included in the request
// is invalid.", a wrong secret 403 InvalidSignatureException, an expired
// session 403 ExpiredTokenException. SQS keeps the query protocol's
// InvalidClientTokenId. Checked through the stock SDK clients.
func TestLambdaAndECSAuthErrorsAreAWSs(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	expired := store.AWSKey{AccessKeyID: "ASIAEXPIREDAUTHERR00", SecretAccessKey: "s3cr3t", Role: auth.RoleTask, TaskID: "t1",
		RoleArn: model.RoleArn("worker"), SessionToken: "tok", Expiration: time.Now().Add(-time.Minute)}
	if err := cp.Store.PutAWSKey(ctx, expired); err != nil {
		t.Fatal(err)
	}
	type creds struct{ id, secret, token string }
	unknown := creds{"AKIAUNKNOWNUNKNOWN00", "whatever", ""}
	badSig := creds{cp.Bootstrap.AWSAccessKeyID, "wrong-secret", ""}
	exp := creds{expired.AccessKeyID, expired.SecretAccessKey, expired.SessionToken}
	good := creds{cp.Bootstrap.AWSAccessKeyID, cp.Bootstrap.AWSSecretAccessKey, ""}

	calls := map[string]func(creds) error{
		"lambda ListFunctions": func(c creds) error {
			cl := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL), RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider(c.id, c.secret, c.token)})
			_, err := cl.ListFunctions(ctx, &lambda.ListFunctionsInput{})
			return err
		},
		"ecs ListServices": func(c creds) error {
			cl := awsecs.New(awsecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL), RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider(c.id, c.secret, c.token)})
			_, err := cl.ListServices(ctx, &awsecs.ListServicesInput{})
			return err
		},
		"application-autoscaling DescribeScalableTargets": func(c creds) error {
			cl := applicationautoscaling.New(applicationautoscaling.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL), RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider(c.id, c.secret, c.token)})
			_, err := cl.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{ServiceNamespace: "ecs"})
			return err
		},
	}
	want := []struct {
		name       string
		c          creds
		code, msg0 string
	}{
		{"unknown key", unknown, "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"wrong secret", badSig, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."},
		{"expired session", exp, "ExpiredTokenException", "The security token included in the request is expired"},
	}
	for name, call := range calls {
		if err := call(good); err != nil {
			t.Fatalf("%s with the admin key: %v", name, err)
		}
		for _, w := range want {
			err := call(w.c)
			var ae smithy.APIError
			var re *awshttp.ResponseError
			if !errors.As(err, &ae) || ae.ErrorCode() != w.code || len(ae.ErrorMessage()) < len(w.msg0) || ae.ErrorMessage()[:len(w.msg0)] != w.msg0 {
				t.Errorf("%s, %s: %v; want %s %q", name, w.name, err, w.code, w.msg0)
				continue
			}
			if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
				t.Errorf("%s, %s: status %v, want 403", name, w.name, err)
			}
		}
	}
	// SQS (query-compatible JSON) keeps InvalidClientTokenId, as AWS's SQS.
	sq := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(unknown.id, unknown.secret, "")})
	_, err := sq.ListQueues(ctx, &sqs.ListQueuesInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
		t.Errorf("SQS with an unknown key: %v, want InvalidClientTokenId", err)
	}
}
