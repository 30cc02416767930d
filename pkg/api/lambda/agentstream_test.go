package lambda

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
)

// The hand-built invoke lines decode to exactly the event encoding/json
// would have written, and a changed function (a new stored object) is
// encoded afresh rather than served from the stream's cache.
func TestInvocationLinesMatchTheWireEvent(t *testing.T) {
	limit := 7
	plain := &model.StoredFunction{Function: model.Function{FunctionName: "receipt", MemorySize: 128, Timeout: 5,
		Code: model.FunctionCode{ImageUri: "orch-example/receipt:latest"}}, FunctionArn: model.FunctionARN("receipt"), RevisionId: "r1"}
	rich := &model.StoredFunction{Function: model.Function{FunctionName: "receipt", MemorySize: 256, Timeout: 9,
		Code:                         model.FunctionCode{ImageUri: "orch-example/receipt:v2"},
		Environment:                  &model.FunctionEnv{Variables: map[string]string{"SHOP": "central", "Q": `a"b<c>&\` + "\n"}},
		ReservedConcurrentExecutions: &limit}, FunctionArn: model.FunctionARN("receipt"), RevisionId: "r2"}
	other := &model.StoredFunction{Function: model.Function{FunctionName: "other", MemorySize: 128, Timeout: 3,
		Code: model.FunctionCode{ImageUri: "x"}}, RevisionId: "r9"}
	reqs := []function.Request{
		{ID: function.NewRequestID(), Function: plain, Payload: []byte(`{"echo":1}`)},
		{ID: function.NewRequestID(), Function: plain, Payload: []byte(`{"echo":2}`), Tail: true},
		{ID: "odd \"id\" é <&>", Function: plain},
		{ID: function.NewRequestID(), Function: other, Payload: []byte(`[]`)},
		{ID: function.NewRequestID(), Function: rich, Payload: bytes.Repeat([]byte(`"x"`), 1000)},
		{ID: function.NewRequestID(), Function: plain, Payload: []byte(`{}`)},
	}
	var l invocationLines
	for i, req := range reqs {
		line := l.line(req)
		if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("request %d: not one NDJSON line: %q", i, line)
		}
		want, _ := json.Marshal(wire.InvocationEvent{Type: wire.InvocationInvoke, RequestID: req.ID, Function: functionSpec(req.Function),
			Payload: req.Payload, Tail: req.Tail})
		var got, exp wire.InvocationEvent
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("request %d: %v in %s", i, err, line)
		}
		if err := json.Unmarshal(want, &exp); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("request %d:\n got %+v (spec %+v)\nwant %+v (spec %+v)", i, got, *got.Function, exp, *exp.Function)
		}
	}
	// The last line (plain again after rich) carries plain's spec, not the
	// cached rich one.
	var last wire.InvocationEvent
	_ = json.Unmarshal(l.line(reqs[5]), &last)
	if last.Function.Revision != "r1" || last.Function.Env != nil || last.Function.ReservedConcurrency != 0 {
		t.Fatalf("a changed function kept the cached spec: %+v", *last.Function)
	}
}

// The longest invocation line a server can make fits the agents' limit:
// a RequestResponse payload at Lambda's 6 MB limit, for a function whose
// name and image are as long as validation allows and whose environment
// is at its limit in bytes that JSON escapes six-fold.
func TestTheLargestInvocationFitsTheStreamLimit(t *testing.T) {
	env := map[string]string{}
	for i := range 64 {
		env[fmt.Sprintf("V%02d", i)] = strings.Repeat("\x01", model.MaxFunctionEnvBytes/64-3)
	}
	name := strings.Repeat("f", model.MaxFunctionNameLength)
	f := &model.StoredFunction{Function: model.Function{FunctionName: name, PackageType: "Image", MemorySize: 10240, Timeout: 900,
		Code:        model.FunctionCode{ImageUri: strings.Repeat("i", model.MaxImageURILength)},
		Environment: &model.FunctionEnv{Variables: env}}, FunctionArn: model.FunctionARN(name), RevisionId: function.NewRequestID()}
	if err := f.Validate(); err != nil {
		t.Fatalf("the largest function is not valid: %v", err)
	}
	var l invocationLines
	line := l.line(function.Request{ID: function.NewRequestID(), Function: f, Payload: bytes.Repeat([]byte("x"), model.SyncMaxPayload), Tail: true})
	if n := len(line) - 1; n > wire.MaxInvocationLine {
		t.Fatalf("the largest invocation takes %d bytes on the stream, over wire.MaxInvocationLine (%d)", n, wire.MaxInvocationLine)
	} else {
		t.Logf("the largest invocation line: %d bytes (limit %d)", n, wire.MaxInvocationLine)
	}
}
