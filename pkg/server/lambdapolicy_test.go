package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/lambda"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// roleKeys applies one Role per entry of policies (name -> policy
// document) and a task definition naming it, runs one task of each on
// agent and returns each task's credentials (what its containers get).
func roleKeys(t *testing.T, cp *testutil.ControlPlane, agent *testutil.HandAgent, policies map[string]string) map[string]aws.Credentials {
	t.Helper()
	ctx := context.Background()
	var docs []wire.ApplyDocument
	for name, policy := range policies {
		role, _ := json.Marshal(map[string]any{"roleName": name, "policyDocument": json.RawMessage(policy)})
		td := testutil.TaskDef(name, 32)
		td.TaskRoleArn = model.RoleArn(name)
		spec, _ := json.Marshal(td)
		docs = append(docs, wire.ApplyDocument{Kind: "Role", Spec: role}, wire.ApplyDocument{Kind: "TaskDefinition", Spec: spec})
	}
	if _, err := cp.Admin.Apply(ctx, docs); err != nil {
		t.Fatal(err)
	}
	out := map[string]aws.Credentials{}
	for name := range policies {
		tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: name})
		if err != nil {
			t.Fatal(err)
		}
		id := tasks[0].TaskID
		testutil.WaitFor(t, 10*time.Second, "assignment of "+name, func() (bool, string) {
			_, ok := agent.Assignment(id)
			return ok, "not assigned"
		})
		agent.Report(t, wire.TaskStatusReport{TaskID: id, LastStatus: model.StatusRunning})
		testutil.WaitTask(t, cp.Admin, id, 10*time.Second, func(t *model.Task) bool { return t.LastStatus == model.StatusRunning })
		cr, err := agent.Client().TaskCredentials(ctx, agent.Name, id)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = aws.Credentials{AccessKeyID: cr.AccessKeyId, SecretAccessKey: cr.SecretAccessKey, SessionToken: cr.Token}
	}
	return out
}

func lambdaSDK(cp *testutil.ControlPlane, c aws.Credentials) *awslambda.Client {
	return awslambda.New(awslambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(cp.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)})
}

// signedLambda sends a request signed with c as the SDK signs Lambda
// calls, with rawPath as it is on the wire (escapes kept): the forms the
// SDK would not send.
func signedLambda(t *testing.T, cp *testutil.ControlPlane, c aws.Credentials, method, rawPath, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, cp.URL+rawPath, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Type, Message string }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype") + " " + e.Message
}

// Issue 11 (Lambda privilege escalation): for every Lambda call served, a
// task role allowed only that action, only on one function, can make that
// call on that function, and gets AccessDeniedException for every other
// call and for every other function, however the function is named (name,
// ARN, partial ARN), while the forms that once smuggled one call past the
// check of another (an escaped slash in the name, an ARN inside a name)
// act on nothing.
func TestLambdaPolicyOnEveryAction(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	agent := testutil.StartHandAgent(t, cp.Agent, "n1", 4096, 8192, nil)
	if _, err := cp.Admin.Apply(ctx, []wire.ApplyDocument{{Kind: "Queue", Spec: json.RawMessage(`{"QueueName": "jobs"}`)}}); err != nil {
		t.Fatal(err)
	}
	admin := lambdaSDK(cp, aws.Credentials{AccessKeyID: cp.Bootstrap.AWSAccessKeyID, SecretAccessKey: cp.Bootstrap.AWSSecretAccessKey})
	arn := func(name string) string { return model.FunctionARN(name) }
	ensure := func(name string) {
		t.Helper()
		_, err := admin.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String(name), PackageType: types.PackageTypeImage,
			Code: &types.FunctionCode{ImageUri: aws.String("orch-example/echo:1")}, Role: aws.String("arn:aws:iam::000000000000:role/fn")})
		if err != nil && !strings.Contains(apiCode(err), "ResourceConflictException") {
			t.Fatalf("admin creating %s: %v", name, err)
		}
	}
	mapping := func() string {
		t.Helper()
		out, err := admin.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{FunctionName: aws.String("own"),
			EventSourceArn: aws.String(model.QueueArn(model.Region, "jobs")), Enabled: aws.Bool(false)})
		if err != nil {
			t.Fatalf("admin creating a mapping: %v", err)
		}
		return *out.UUID
	}

	// One call per action, on the function named fn (for the calls on
	// functions); each succeeds when allowed.
	calls := map[string]func(c *awslambda.Client, fn string) error{
		"CreateFunction": func(c *awslambda.Client, fn string) error {
			_, err := c.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String(fn), PackageType: types.PackageTypeImage,
				Code: &types.FunctionCode{ImageUri: aws.String("orch-example/echo:1")}, Role: aws.String("arn:aws:iam::000000000000:role/fn")})
			return err
		},
		"ListFunctions": func(c *awslambda.Client, fn string) error {
			_, err := c.ListFunctions(ctx, &awslambda.ListFunctionsInput{})
			return err
		},
		"GetFunction": func(c *awslambda.Client, fn string) error {
			_, err := c.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String(fn)})
			return err
		},
		"GetFunctionConfiguration": func(c *awslambda.Client, fn string) error {
			_, err := c.GetFunctionConfiguration(ctx, &awslambda.GetFunctionConfigurationInput{FunctionName: aws.String(fn)})
			return err
		},
		"DeleteFunction": func(c *awslambda.Client, fn string) error {
			_, err := c.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String(fn)})
			return err
		},
		"UpdateFunctionCode": func(c *awslambda.Client, fn string) error {
			_, err := c.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: aws.String(fn), ImageUri: aws.String("orch-example/echo:2")})
			return err
		},
		"UpdateFunctionConfiguration": func(c *awslambda.Client, fn string) error {
			_, err := c.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(fn), Description: aws.String("changed")})
			return err
		},
		"PutFunctionConcurrency": func(c *awslambda.Client, fn string) error {
			_, err := c.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{FunctionName: aws.String(fn), ReservedConcurrentExecutions: aws.Int32(3)})
			return err
		},
		"DeleteFunctionConcurrency": func(c *awslambda.Client, fn string) error {
			_, err := c.DeleteFunctionConcurrency(ctx, &awslambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(fn)})
			return err
		},
		"GetFunctionConcurrency": func(c *awslambda.Client, fn string) error {
			_, err := c.GetFunctionConcurrency(ctx, &awslambda.GetFunctionConcurrencyInput{FunctionName: aws.String(fn)})
			return err
		},
		"InvokeFunction": func(c *awslambda.Client, fn string) error {
			_, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(fn), InvocationType: types.InvocationTypeDryRun})
			return err
		},
		"ListTags": func(c *awslambda.Client, fn string) error {
			_, err := c.ListTags(ctx, &awslambda.ListTagsInput{Resource: aws.String(arn(fn))})
			return err
		},
		"TagResource": func(c *awslambda.Client, fn string) error {
			_, err := c.TagResource(ctx, &awslambda.TagResourceInput{Resource: aws.String(arn(fn)), Tags: map[string]string{"team": "a"}})
			return err
		},
		"UntagResource": func(c *awslambda.Client, fn string) error {
			_, err := c.UntagResource(ctx, &awslambda.UntagResourceInput{Resource: aws.String(arn(fn)), TagKeys: []string{"team"}})
			return err
		},
		"CreateEventSourceMapping": func(c *awslambda.Client, fn string) error {
			_, err := c.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{FunctionName: aws.String(fn),
				EventSourceArn: aws.String(model.QueueArn(model.Region, "jobs")), Enabled: aws.Bool(false)})
			return err
		},
		"ListEventSourceMappings": func(c *awslambda.Client, fn string) error {
			_, err := c.ListEventSourceMappings(ctx, &awslambda.ListEventSourceMappingsInput{})
			return err
		},
		"GetEventSourceMapping": func(c *awslambda.Client, fn string) error {
			_, err := c.GetEventSourceMapping(ctx, &awslambda.GetEventSourceMappingInput{UUID: aws.String(mapping())})
			return err
		},
		"UpdateEventSourceMapping": func(c *awslambda.Client, fn string) error {
			_, err := c.UpdateEventSourceMapping(ctx, &awslambda.UpdateEventSourceMappingInput{UUID: aws.String(mapping()), BatchSize: aws.Int32(5)})
			return err
		},
		"DeleteEventSourceMapping": func(c *awslambda.Client, fn string) error {
			_, err := c.DeleteEventSourceMapping(ctx, &awslambda.DeleteEventSourceMappingInput{UUID: aws.String(mapping())})
			return err
		},
	}

	// Every served route's action has a call here, and no call is for an
	// action not served: a new route cannot skip this test.
	onFunction := map[string]bool{}
	for _, rt := range lambda.Routes() {
		if calls[rt.Action] == nil {
			t.Errorf("route %s (lambda:%s) has no call in this test: add one", rt.Pattern, rt.Action)
		}
		onFunction[rt.Action] = rt.OnFunction
	}
	var actions []string
	for a := range calls {
		if _, ok := onFunction[a]; !ok {
			t.Errorf("this test calls lambda:%s, which no route serves", a)
		}
		actions = append(actions, a)
	}
	sort.Strings(actions)
	if t.Failed() {
		t.FailNow()
	}

	policies := map[string]string{}
	for _, a := range actions {
		resource := arn("own")
		if !onFunction[a] {
			resource = "*"
		}
		extra := ""
		if a == "CreateEventSourceMapping" {
			// What a mapping does on its creator's behalf: take the
			// queue's messages, invoke the function.
			extra = fmt.Sprintf(`, {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "Resource": %q},
				{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": %q}`, model.QueueArn(model.Region, "jobs"), arn("own"))
		}
		policies["lambda-"+strings.ToLower(a)] = fmt.Sprintf(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:%s", "Resource": %q}%s]}`, a, resource, extra)
	}
	keys := roleKeys(t, cp, agent, policies)

	denied := func(what string, err error) {
		t.Helper()
		if got := apiCode(err); !strings.HasPrefix(got, "AccessDeniedException: ") {
			t.Errorf("%s: %q, want AccessDeniedException", what, got)
		}
	}
	victimRev := func() string {
		t.Helper()
		ensure("victim")
		out, err := admin.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("victim")})
		if err != nil {
			t.Fatalf("victim is gone: %v", err)
		}
		return *out.Configuration.RevisionId + fmt.Sprint(out.Tags) + fmt.Sprint(out.Concurrency)
	}
	ensure("victim")
	for _, a := range actions {
		c := lambdaSDK(cp, keys["lambda-"+strings.ToLower(a)])
		ensure("own")
		if a == "CreateFunction" {
			if _, err := admin.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String("own")}); err != nil {
				t.Fatal(err)
			}
		}
		if err := calls[a](c, "own"); err != nil {
			t.Errorf("lambda:%s on own, which the role allows: %v", a, apiCode(err))
		}
		ensure("own")
		for _, b := range actions {
			if b != a && (a != "CreateEventSourceMapping" || b != "InvokeFunction") {
				denied(fmt.Sprintf("role allowing only lambda:%s calling lambda:%s", a, b), calls[b](c, "own"))
			}
		}
		if !onFunction[a] {
			continue
		}
		before := victimRev()
		fn := "victim"
		if a == "CreateFunction" {
			fn = "other"
		}
		denied(fmt.Sprintf("lambda:%s on %s, allowed on own only", a, fn), calls[a](c, fn))
		if a != "ListTags" && a != "TagResource" && a != "UntagResource" { // tags take a full ARN only
			denied(fmt.Sprintf("lambda:%s on %s by ARN", a, fn), calls[a](c, arn(fn)))
			denied(fmt.Sprintf("lambda:%s on %s by partial ARN", a, fn), calls[a](c, model.AccountID+":function:"+fn))
		}

		// The smuggling forms, on every route: each names victim so that
		// a check on the path's text would see own. None may act.
		for _, rt := range lambda.Routes() {
			method, path, _ := strings.Cut(rt.Pattern, " ")
			path = strings.TrimSuffix(path, "{$}")
			var forms []string
			switch {
			case strings.Contains(path, "{name}"):
				forms = []string{"own%2Finvocations%2Fx:function:victim", "own%2Fconfiguration%2Fx:function:victim",
					"own%2F..%2Fvictim", "own:function:victim", "arn:aws:lambda:us-east-1:000000000000:function:own%2F..%2Fvictim",
					"000000000000:function:victim%2F", "victim%2Finvocations"}
			case strings.Contains(path, "{arn}"):
				forms = []string{"arn:aws:lambda:us-east-1:000000000000:function:own%2F..%2Fvictim", "own", "victim%2Finvocations"}
			default:
				continue
			}
			for _, form := range forms {
				p := strings.NewReplacer("{name}", form, "{arn}", form).Replace(path)
				body := ""
				if method == http.MethodPut || method == http.MethodPost {
					body = `{"ImageUri": "evil", "Description": "evil", "ReservedConcurrentExecutions": 0, "Tags": {"evil": "1"}}`
				}
				status, got := signedLambda(t, cp, keys["lambda-"+strings.ToLower(a)], method, p, body)
				if status < 400 || status >= 500 {
					t.Errorf("role allowing lambda:%s on own: %s %s: %d %s, want refused", a, method, p, status, got)
				}
			}
		}
		if after := victimRev(); after != before {
			t.Errorf("role allowing lambda:%s on own changed victim: %s -> %s", a, before, after)
		}
	}

	// Admin keys still do everything, under every name form.
	ensure("victim")
	for _, name := range []string{"victim", arn("victim"), model.AccountID + ":function:victim", arn("victim") + ":$LATEST"} {
		if _, err := admin.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String(name)}); err != nil {
			t.Errorf("admin GetFunction %s: %v", name, err)
		}
	}
	if _, err := admin.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:111111111111:function:victim")}); !strings.HasPrefix(apiCode(err), "ResourceNotFoundException") {
		t.Errorf("GetFunction of another account's ARN: %v, want ResourceNotFoundException", apiCode(err))
	}
	if _, err := admin.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("a/b")}); !strings.HasPrefix(apiCode(err), "ValidationException") {
		t.Errorf("GetFunction of a/b: %v, want ValidationException", apiCode(err))
	}
}
