package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/sns"
	"github.com/orch-project/orch/pkg/api/sqs"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

var (
	xmlCode    = regexp.MustCompile(`<Code>([^<]*)</Code>`)
	xmlMessage = regexp.MustCompile(`<Message>([^<]*)</Message>`)
)

// signedForm posts an AWS query-protocol call (Action and params as a
// form), signed with c for service, and returns the status, the error
// code and message (empty on success).
func signedForm(t *testing.T, cp *testutil.ControlPlane, c aws.Credentials, service string, form url.Values) (int, string, string) {
	t.Helper()
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, cp.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 {
		return resp.StatusCode, "", ""
	}
	code, msg := "", string(b)
	if m := xmlCode.FindSubmatch(b); m != nil {
		code = string(m[1])
	}
	if m := xmlMessage.FindSubmatch(b); m != nil {
		msg = html.UnescapeString(string(m[1]))
	}
	return resp.StatusCode, code, msg
}

// policyService is one query-protocol API as this test walks it.
type policyService struct {
	prefix, denied string // IAM prefix (sqs, sns); the access-denied code
	actions        []string
	arn            func(name string) string
	// params names resource res (a queue or topic name) for action;
	// wantName is the name the action is authorized on ("*": the
	// service's wildcard resource).
	params func(action, res string) (form url.Values, wantName string)
}

// Issue 11: every SQS and SNS action the server serves (the dispatch
// tables, so a new action cannot skip this) is authorized on the ARN of
// what it acts on: a role allowed one action on one queue or topic may do
// it there, is refused it on another (AccessDenied naming that one's
// ARN), and is refused every other action (naming the action and its
// resource); an ARN spelt with another region is checked as the
// cluster's ARN, so it cannot slip past a Deny.
func TestQueueAndTopicPolicyOnEveryAction(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	agent := testutil.StartHandAgent(t, cp.Agent, "n1", 8192, 16384, nil)
	// Each action's role is allowed it on a queue or topic of its own
	// (own-ACTION), so an allowed DeleteQueue leaves the others theirs.
	docs := []wire.ApplyDocument{{Kind: "Queue", Spec: json.RawMessage(`{"QueueName": "victim"}`)}, {Kind: "Topic", Spec: json.RawMessage(`{"Name": "victim"}`)}}
	for _, a := range sqs.Actions() {
		docs = append(docs, wire.ApplyDocument{Kind: "Queue", Spec: json.RawMessage(`{"QueueName": "own-` + strings.ToLower(a) + `"}`)})
	}
	for _, a := range sns.Actions() {
		docs = append(docs, wire.ApplyDocument{Kind: "Topic", Spec: json.RawMessage(`{"Name": "own-` + strings.ToLower(a) + `"}`)})
	}
	if _, err := cp.Admin.Apply(ctx, docs); err != nil {
		t.Fatal(err)
	}
	queueURL := func(name string) string { return cp.URL + "/" + model.AccountID + "/" + name }
	qarn := func(name string) string { return model.QueueArn("us-east-1", name) }
	tarn := func(name string) string { return model.TopicArn("us-east-1", name) }
	services := []policyService{
		{prefix: "sqs", denied: "AccessDenied", actions: sqs.Actions(), arn: qarn,
			params: func(action, res string) (url.Values, string) {
				f := url.Values{"Action": {action}}
				switch action {
				case "CreateQueue", "GetQueueUrl":
					f.Set("QueueName", res)
				case "ListQueues":
					return f, "*"
				case "StartMessageMoveTask", "ListMessageMoveTasks":
					f.Set("SourceArn", qarn(res))
				case "CancelMessageMoveTask":
					h, _ := json.Marshal(map[string]string{"sourceArn": qarn(res), "id": "forged"})
					f.Set("TaskHandle", base64.StdEncoding.EncodeToString(h))
				default:
					f.Set("QueueUrl", queueURL(res))
				}
				return f, res
			}},
		{prefix: "sns", denied: "AuthorizationError", actions: sns.Actions(), arn: tarn,
			params: func(action, res string) (url.Values, string) {
				f := url.Values{"Action": {action}}
				switch action {
				case "CreateTopic":
					f.Set("Name", res)
				case "ListTopics", "ListSubscriptions":
					return f, "*"
				case "TagResource", "UntagResource", "ListTagsForResource":
					f.Set("ResourceArn", tarn(res))
				case "Unsubscribe", "GetSubscriptionAttributes", "SetSubscriptionAttributes":
					f.Set("SubscriptionArn", tarn(res)+":0b5e4f0e-1c1d-4a53-9d36-5d2a1f0e8c11")
				default:
					f.Set("TopicArn", tarn(res))
				}
				return f, res
			}},
	}

	policies := map[string]string{}
	for _, s := range services {
		for _, a := range s.actions {
			own := "own-" + strings.ToLower(a)
			_, name := s.params(a, own)
			resource := s.arn(own)
			if name == "*" {
				resource = "*"
			}
			policies[s.prefix+"-"+strings.ToLower(a)] = fmt.Sprintf(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "%s:%s", "Resource": %q}]}`, s.prefix, a, resource)
		}
		policies[s.prefix+"-all-but-victim"] = fmt.Sprintf(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "%s:*", "Resource": "*"},
			{"Effect": "Deny", "Action": "%s:*", "Resource": %q}]}`, s.prefix, s.prefix, s.arn("victim"))
	}
	keys := roleKeys(t, cp, agent, policies)

	for _, s := range services {
		if len(s.actions) < 10 {
			t.Fatalf("%s serves %d actions: the dispatch table was not read", s.prefix, len(s.actions))
		}
		for _, a := range s.actions {
			own := "own-" + strings.ToLower(a)
			key := keys[s.prefix+"-"+strings.ToLower(a)]
			f, name := s.params(a, own)
			if status, code, msg := signedForm(t, cp, key, s.prefix, f); status == http.StatusForbidden || code == s.denied {
				t.Errorf("%s:%s on %s, which its role allows: %d %s %s", s.prefix, a, own, status, code, msg)
			}
			if name != "*" {
				f, _ := s.params(a, "victim")
				_, code, msg := signedForm(t, cp, key, s.prefix, f)
				if code != s.denied || !strings.Contains(msg, " "+s.prefix+":"+a+" on resource: "+s.arn("victim")+" ") {
					t.Errorf("%s:%s on victim, allowed on own only: %s %q, want %s naming the action and victim's ARN", s.prefix, a, code, msg, s.denied)
				}
			}
			for _, b := range s.actions {
				if b == a {
					continue
				}
				f, name := s.params(b, own)
				want := s.arn(own)
				if name == "*" {
					want = s.arn("*")
				}
				_, code, msg := signedForm(t, cp, key, s.prefix, f)
				if code != s.denied || !strings.Contains(msg, " "+s.prefix+":"+b+" on resource: "+want+" ") {
					t.Errorf("role allowing only %s:%s calling %s:%s: %s %q, want %s naming %s:%s on %s", s.prefix, a, s.prefix, b, code, msg, s.denied, s.prefix, b, want)
				}
			}
		}

		// A Deny on victim's ARN holds however the ARN is spelt.
		key := keys[s.prefix+"-all-but-victim"]
		for _, a := range s.actions {
			f, name := s.params(a, "victim")
			if name == "*" {
				continue
			}
			for k, v := range f {
				f.Set(k, strings.Replace(v[0], ":us-east-1:", ":eu-west-1:", 1))
			}
			_, code, msg := signedForm(t, cp, key, s.prefix, f)
			if code != s.denied || !strings.Contains(msg, s.arn("victim")) {
				t.Errorf("%s:%s on victim's ARN in another region, under a Deny on victim: %s %q, want %s", s.prefix, a, code, msg, s.denied)
			}
		}
	}
	// The denies held: victim is still there.
	admin := aws.Credentials{AccessKeyID: cp.Bootstrap.AWSAccessKeyID, SecretAccessKey: cp.Bootstrap.AWSSecretAccessKey}
	if status, code, msg := signedForm(t, cp, admin, "sns", url.Values{"Action": {"GetTopicAttributes"}, "TopicArn": {tarn("victim")}}); status != http.StatusOK {
		t.Errorf("topic victim after the denied calls: %d %s %s", status, code, msg)
	}
	if status, code, msg := signedForm(t, cp, admin, "sqs", url.Values{"Action": {"GetQueueUrl"}, "QueueName": {"victim"}}); status != http.StatusOK {
		t.Errorf("queue victim after the denied calls: %d %s %s", status, code, msg)
	}
}
