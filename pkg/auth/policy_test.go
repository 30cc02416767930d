package auth

import (
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

func mustPolicy(t *testing.T, doc string, resource bool) *model.Policy {
	t.Helper()
	p, err := model.ParsePolicy([]byte(doc), resource, "policy")
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	return p
}

func TestEvaluate(t *testing.T) {
	const (
		worker = "arn:aws:iam::000000000000:role/worker"
		other  = "arn:aws:iam::000000000000:role/other"
		orders = "arn:aws:sqs:us-east-1:000000000000:orders"
		audit  = "arn:aws:sqs:us-east-1:000000000000:audit"
	)
	identity := `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["sqs:Send*", "sqs:GetQueueUrl"], "Resource": "arn:aws:sqs:*:*:orders*"},
		{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"},
		{"Effect": "Deny", "Action": "sqs:*", "Resource": "arn:aws:sqs:*:*:orders-secret"},
		{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*",
		 "Condition": {"StringLike": {"aws:PrincipalArn": "*:role/work?r"}}}]}`
	denyAll := `{"Statement": {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}}`
	allowOther := `{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "` + other + `"}, "Action": "sqs:SendMessage", "Resource": "` + audit + `"}]}`
	for _, c := range []struct {
		name               string
		identity, resource string
		req                AccessRequest
		want               Decision
	}{
		{"wildcard action allows", identity, "", AccessRequest{worker, "sqs:SendMessageBatch", orders, nil}, Allowed},
		{"action is case-insensitive", identity, "", AccessRequest{worker, "SQS:sendmessage", orders, nil}, Allowed},
		{"resource wildcard", identity, "", AccessRequest{worker, "sqs:SendMessage", orders + "-eu", nil}, Allowed},
		{"resource outside the pattern", identity, "", AccessRequest{worker, "sqs:SendMessage", audit, nil}, ImplicitDeny},
		{"action not listed", identity, "", AccessRequest{worker, "sqs:DeleteQueue", orders, nil}, ImplicitDeny},
		{"explicit deny beats allow", identity, "", AccessRequest{worker, "sqs:SendMessage", "arn:aws:sqs:us-east-1:000000000000:orders-secret", nil}, ExplicitDeny},
		{"condition holds", identity, "", AccessRequest{worker, "sns:Publish", "arn:aws:sns:us-east-1:000000000000:t", nil}, Allowed},
		{"condition fails", identity, "", AccessRequest{other, "sns:Publish", "arn:aws:sns:us-east-1:000000000000:t", nil}, ImplicitDeny},
		{"no policy at all", "", "", AccessRequest{worker, "sqs:SendMessage", orders, nil}, ImplicitDeny},
		{"resource policy allows another role", "", allowOther, AccessRequest{other, "sqs:SendMessage", audit, nil}, Allowed},
		{"resource policy names someone else", "", allowOther, AccessRequest{worker, "sqs:SendMessage", audit, nil}, ImplicitDeny},
		{"resource policy deny beats identity allow", identity, denyAll, AccessRequest{worker, "sqs:SendMessage", orders, nil}, ExplicitDeny},
		{"NotAction", `{"Statement": [{"Effect": "Allow", "NotAction": "sqs:Delete*", "Resource": "*"}]}`, "", AccessRequest{worker, "sqs:DeleteQueue", orders, nil}, ImplicitDeny},
		{"NotResource", `{"Statement": [{"Effect": "Allow", "Action": "*", "NotResource": "` + audit + `"}]}`, "", AccessRequest{worker, "sqs:PurgeQueue", orders, nil}, Allowed},
		{"negated condition, key missing", `{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ArnNotEquals": {"aws:SourceArn": "x"}}}]}`, "", AccessRequest{worker, "sqs:SendMessage", orders, nil}, Allowed},
		{"positive condition, key missing", `{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ArnEquals": {"aws:SourceArn": "x"}}}]}`, "", AccessRequest{worker, "sqs:SendMessage", orders, nil}, ImplicitDeny},
		{"condition on the request context", `{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:news"}}}]}`, "", AccessRequest{worker, "sqs:SendMessage", orders, map[string]string{"aws:SourceArn": "arn:aws:sns:us-east-1:000000000000:news"}}, Allowed},
	} {
		t.Run(c.name, func(t *testing.T) {
			var id, res *model.Policy
			if c.identity != "" {
				id = mustPolicy(t, c.identity, false)
			}
			if c.resource != "" {
				res = mustPolicy(t, c.resource, true)
			}
			if got := Evaluate(id, res, c.req); got != c.want {
				t.Errorf("Evaluate = %s, want %s", got, c.want)
			}
		})
	}
}

func TestWildcard(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "abcd", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*b*", "abc", true}, {"**a", "ba", true},
		{"arn:aws:sqs:*:*:orders", "arn:aws:sqs:us-east-1:000000000000:orders", true},
		{"arn:aws:sqs:*:*:orders", "arn:aws:sqs:us-east-1:000000000000:orders2", false},
	} {
		if got := Wildcard(c.p, c.s); got != c.want {
			t.Errorf("Wildcard(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`{"Statement": [{"Effect": "Allow", "Action": "sqs:Send*"}]}`:                                                                       "policy.Statement[0].Resource",
		`{"Statement": [{"Effect": "Permit", "Action": "sqs:Send*", "Resource": "*"}]}`:                                                     "policy.Statement[0].Effect",
		`{"Statement": [{"Effect": "Allow", "Action": "SendMessage", "Resource": "*"}]}`:                                                    "policy.Statement[0].Action[0]",
		`{"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "orders"}]}`:                                                     "policy.Statement[0].Resource[0]",
		`{"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*", "Principal": "*"}]}`:                                        "policy.Statement[0].Principal",
		`{"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}}}]}`: "IpAddress",
		`{"Version": "2020-01-01", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}`:                                 "policy.Version",
		`{"Statment": []}`: "unknown field",
	} {
		_, err := model.ParsePolicy([]byte(doc), false, "policy")
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error naming %s", doc, err, want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// BenchmarkEvaluate: the policy decision a task's queue call costs (the
// coffee-shop role: 5 actions on 2 queues, and no queue Policy).
func BenchmarkEvaluate(b *testing.B) {
	p, err := model.ParsePolicy([]byte(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
		"Action": ["sqs:GetQueueUrl", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
		"Resource": ["arn:aws:sqs:*:*:orders", "arn:aws:sqs:*:*:rush-orders"]}]}`), false, "p")
	if err != nil {
		b.Fatal(err)
	}
	req := AccessRequest{Principal: "arn:aws:iam::000000000000:role/coffee-shop", Action: "sqs:DeleteMessage", Resource: "arn:aws:sqs:us-east-1:000000000000:rush-orders"}
	for b.Loop() {
		if Evaluate(p, nil, req) != Allowed {
			b.Fatal("denied")
		}
	}
}
