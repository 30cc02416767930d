package lambda

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/model"
)

// route is one Lambda API call: the ServeMux pattern it is served on, the
// IAM action it is authorized as, what that action acts on, and what it
// does. The action and the resource come from the route the request
// matched and from the function name the handler is given, never from a
// second parse of the path: a path that routes to one call cannot be
// authorized as another (an escaped slash in a function name once made
// DeleteFunction pass as InvokeFunction).
type route struct {
	pattern string
	action  string
	on      target
	serve   func(h *Handler, ctx context.Context, c *call) (answer, error)
}

// target is what a route's action acts on, for its IAM resource.
type target int

const (
	onAll          target = iota // "*": lists and event source mappings
	onFunction                   // the function {name} in the path names
	onBodyFunction               // the function FunctionName in the body names (CreateFunction)
	onTagged                     // the function whose ARN is {arn} in the path (tags)
)

const fnPath = "/2015-03-31/functions/{name}"

var routes = []route{
	{"POST /2015-03-31/functions", "CreateFunction", onBodyFunction, (*Handler).createFunction},
	{"GET /2015-03-31/functions/{$}", "ListFunctions", onAll, (*Handler).listFunctions},
	{"GET /2015-03-31/functions", "ListFunctions", onAll, (*Handler).listFunctions},
	{"GET " + fnPath, "GetFunction", onFunction, (*Handler).getFunction},
	{"GET " + fnPath + "/configuration", "GetFunctionConfiguration", onFunction, (*Handler).getConfiguration},
	{"DELETE " + fnPath, "DeleteFunction", onFunction, (*Handler).deleteFunction},
	{"PUT " + fnPath + "/code", "UpdateFunctionCode", onFunction, (*Handler).updateCode},
	{"PUT " + fnPath + "/configuration", "UpdateFunctionConfiguration", onFunction, (*Handler).updateConfiguration},
	{"PUT /2017-10-31/functions/{name}/concurrency", "PutFunctionConcurrency", onFunction, (*Handler).putConcurrency},
	{"DELETE /2017-10-31/functions/{name}/concurrency", "DeleteFunctionConcurrency", onFunction, (*Handler).deleteConcurrency},
	{"GET /2019-09-30/functions/{name}/concurrency", "GetFunctionConcurrency", onFunction, (*Handler).getConcurrency},
	{"POST " + fnPath + "/invocations", "InvokeFunction", onFunction, (*Handler).invoke},
	{"GET /2017-03-31/tags/{arn}", "ListTags", onTagged, (*Handler).listTags},
	{"POST /2017-03-31/tags/{arn}", "TagResource", onTagged, (*Handler).tagResource},
	{"DELETE /2017-03-31/tags/{arn}", "UntagResource", onTagged, (*Handler).untagResource},
	{"POST /2015-03-31/event-source-mappings/{$}", "CreateEventSourceMapping", onAll, (*Handler).createMapping},
	{"POST /2015-03-31/event-source-mappings", "CreateEventSourceMapping", onAll, (*Handler).createMapping},
	{"GET /2015-03-31/event-source-mappings/{$}", "ListEventSourceMappings", onAll, (*Handler).listMappings},
	{"GET /2015-03-31/event-source-mappings", "ListEventSourceMappings", onAll, (*Handler).listMappings},
	{"GET /2015-03-31/event-source-mappings/{uuid}", "GetEventSourceMapping", onAll, (*Handler).getMapping},
	{"PUT /2015-03-31/event-source-mappings/{uuid}", "UpdateEventSourceMapping", onAll, (*Handler).updateMapping},
	{"DELETE /2015-03-31/event-source-mappings/{uuid}", "DeleteEventSourceMapping", onAll, (*Handler).deleteMapping},
}

// Route is a served Lambda call as tests and docs see it.
type Route struct {
	Pattern string // "METHOD /path" as ServeMux matches it
	Action  string // the IAM action, without "lambda:"
	// OnFunction: the action is authorized on the ARN of the function it
	// acts on; otherwise on "*".
	OnFunction bool
}

// Routes lists every Lambda call served, with its IAM action: a test
// walks it so that no call can be added without a policy check.
func Routes() []Route {
	out := make([]Route, 0, len(routes))
	for _, rt := range routes {
		out = append(out, Route{Pattern: rt.pattern, Action: rt.action, OnFunction: rt.on != onAll})
	}
	return out
}

// resource resolves what c acts on, once, before it is authorized: the
// handler then acts on c.name, the very function whose ARN was checked.
func (rt route) resource(c *call) (string, error) {
	var err error
	switch rt.on {
	case onFunction:
		c.name, err = functionName("functionName", c.r.PathValue("name"))
	case onTagged:
		c.name, err = taggedFunction(c.r.PathValue("arn"))
	case onBodyFunction:
		var in struct{ FunctionName string }
		if err := c.decode(&in); err != nil {
			return "", err
		}
		c.name, err = functionName("functionName", in.FunctionName)
	default:
		return "*", nil
	}
	if err != nil {
		return "", err
	}
	return model.FunctionARN(c.name), nil
}

var (
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	accountRE   = regexp.MustCompile(`^\d{12}$`)
	qualifierRE = regexp.MustCompile(`^[a-zA-Z0-9$_-]{1,128}$`)
)

// functionName is the function a FunctionName names, in each form Lambda
// accepts: NAME, ACCOUNT:function:NAME, arn:aws:lambda:REGION:ACCOUNT:function:NAME,
// each optionally with a :QUALIFIER (Orch has no versions or aliases:
// every qualifier means the function itself). Anything else, such as a
// name with a slash, is Lambda's ValidationException; an ARN of another
// account names no function of this cluster.
func functionName(field, ref string) (string, error) {
	p := strings.Split(ref, ":")
	var name, account, region, qual string
	switch {
	case len(p) <= 2:
		name = p[0]
		if len(p) == 2 {
			qual = p[1]
		}
	case (len(p) == 3 || len(p) == 4) && p[1] == "function":
		account, name = p[0], p[2]
		if len(p) == 4 {
			qual = p[3]
		}
	case (len(p) == 7 || len(p) == 8) && p[0] == "arn" && p[1] == "aws" && p[2] == "lambda" && p[5] == "function":
		region, account, name = p[3], p[4], p[6]
		if region == "" || !regionRE.MatchString(region) {
			return "", invalidName(field, ref)
		}
		if len(p) == 8 {
			qual = p[7]
		}
	default:
		return "", invalidName(field, ref)
	}
	if !model.ValidFunctionName(name) || (len(p) > 2 && !accountRE.MatchString(account)) ||
		(qual != "" && !qualifierRE.MatchString(qual)) || strings.HasSuffix(ref, ":") {
		return "", invalidName(field, ref)
	}
	if account != "" && account != model.AccountID {
		return "", &awsproto.Error{Code: "ResourceNotFoundException", Status: http.StatusNotFound,
			Message: fmt.Sprintf("Function not found: %s: this cluster's account is %s (arn:aws:lambda:%s:%s:function:%s)", ref, model.AccountID, model.DefaultRegion, model.AccountID, name)}
	}
	return name, nil
}

func invalidName(field, ref string) error {
	return &awsproto.Error{Code: "ValidationException", Status: http.StatusBadRequest,
		Message: fmt.Sprintf("1 validation error detected: Value %q at '%s' failed to satisfy constraint: give a function name (1 to %d letters, digits, hyphens or underscores), ACCOUNT:function:NAME or arn:aws:lambda:REGION:ACCOUNT:function:NAME, optionally followed by :QUALIFIER",
			ref, field, model.MaxFunctionNameLength)}
}

// taggedFunction is the function a tags call's resource ARN names (Lambda
// tags functions by full ARN only).
func taggedFunction(arn string) (string, error) {
	if !strings.HasPrefix(arn, "arn:") {
		return "", &awsproto.Error{Code: "ValidationException", Status: http.StatusBadRequest,
			Message: fmt.Sprintf("1 validation error detected: Value %q at 'resource' failed to satisfy constraint: give the function's ARN, arn:aws:lambda:REGION:ACCOUNT:function:NAME", arn)}
	}
	return functionName("resource", arn)
}
