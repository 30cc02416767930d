package client

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/orch-project/orch/pkg/api/wire"
)

// The invocation decoder gives the events encoding/json gives, and shares
// a spec between the invocations of one configuration only.
func TestInvocationDecoderMatchesJSON(t *testing.T) {
	v1 := &wire.FunctionSpec{Name: "receipt", ARN: "arn:aws:lambda:us-east-1:000000000000:function:receipt", Image: "img:1",
		MemoryMiB: 128, TimeoutSec: 5, Env: map[string]string{"SHOP": "central"}, Revision: "r1"}
	v2 := *v1
	v2.Revision, v2.ReservedConcurrency = "r2", 3
	evs := []wire.InvocationEvent{
		{Type: wire.InvocationPing},
		{Type: wire.InvocationInvoke, RequestID: "a", Function: v1, Payload: []byte(`{"echo":1}`)},
		{Type: wire.InvocationInvoke, RequestID: "b", Function: v1, Payload: []byte(`{"echo":2}`), Tail: true},
		{Type: wire.InvocationInvoke, RequestID: "c", Function: &v2},
		{Type: wire.InvocationDelete, FunctionName: "receipt"},
	}
	var d invocationDecoder
	got := make([]wire.InvocationEvent, len(evs))
	for i, ev := range evs {
		line, _ := json.Marshal(ev)
		var want wire.InvocationEvent
		if err := json.Unmarshal(line, &want); err != nil {
			t.Fatal(err)
		}
		if err := d.decode(line, &got[i]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Fatalf("event %d: got %+v, want %+v", i, got[i], want)
		}
	}
	if got[1].Function != got[2].Function {
		t.Error("two invocations of one configuration should share the decoded spec")
	}
	if got[3].Function == got[1].Function || got[3].Function.Revision != "r2" || got[3].Function.ReservedConcurrency != 3 {
		t.Errorf("a changed configuration got the old spec: %+v", *got[3].Function)
	}
	var ev wire.InvocationEvent
	if err := d.decode([]byte(`{"type":"invoke","function":{"name":`), &ev); err == nil {
		t.Error("a broken line should be an error")
	}
	if err := d.decode([]byte(`{"type":"invoke","requestId":"x","function":{"memoryMiB":"lots"}}`), &ev); err == nil {
		t.Error("a spec of the wrong shape should be an error")
	}
}
