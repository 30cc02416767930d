package lambda

import (
	"errors"
	"testing"

	"github.com/orch-project/orch/pkg/api/awsproto"
)

// FunctionName in each form Lambda accepts names the function itself;
// every other form is refused with Lambda's error before anything is
// authorized or done.
func TestFunctionNameForms(t *testing.T) {
	for _, ref := range []string{"fn", "fn:$LATEST", "fn:prod", "000000000000:function:fn", "000000000000:function:fn:1",
		"arn:aws:lambda:us-east-1:000000000000:function:fn", "arn:aws:lambda:eu-west-3:000000000000:function:fn:$LATEST"} {
		if got, err := functionName("functionName", ref); err != nil || got != "fn" {
			t.Errorf("%q: %q %v, want fn", ref, got, err)
		}
	}
	for ref, code := range map[string]string{
		"":                                  "ValidationException",
		"a/b":                               "ValidationException",
		"own/invocations/x:function:victim": "ValidationException",
		"own:function:victim":               "ValidationException", // "own" is no account
		"fn:":                               "ValidationException",
		"fn:a:b":                            "ValidationException",
		"arn:aws:lambda:us-east-1:000000000000:function:a/b": "ValidationException",
		"arn:aws:sqs:us-east-1:000000000000:function:fn":     "ValidationException",
		"arn:aws:lambda::000000000000:function:fn":           "ValidationException",
		"arn:aws:lambda:us-east-1:000000000000:function:":    "ValidationException",
		"111111111111:function:fn":                           "ResourceNotFoundException",
		"arn:aws:lambda:us-east-1:111111111111:function:fn":  "ResourceNotFoundException",
	} {
		_, err := functionName("functionName", ref)
		var e *awsproto.Error
		if !errors.As(err, &e) || e.Code != code {
			t.Errorf("%q: %v, want %s", ref, err, code)
		}
	}
	if _, err := taggedFunction("fn"); err == nil {
		t.Error("tags on a bare name: accepted, want the ARN required")
	}
}

// Every route names an IAM action, and the patterns are unique.
func TestRoutesNameTheirAction(t *testing.T) {
	seen := map[string]bool{}
	for _, rt := range Routes() {
		if rt.Action == "" || seen[rt.Pattern] {
			t.Errorf("route %q: action %q (duplicate: %v)", rt.Pattern, rt.Action, seen[rt.Pattern])
		}
		seen[rt.Pattern] = true
	}
}
