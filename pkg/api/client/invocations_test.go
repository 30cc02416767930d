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

// The decoder's own path (no encoding/json) takes the lines servers
// write once their spec is known, and gives what encoding/json gives;
// every other line falls through to encoding/json.
func TestInvocationDecoderFastPath(t *testing.T) {
	spec := &wire.FunctionSpec{Name: "receipt", ARN: "arn:aws:lambda:us-east-1:000000000000:function:receipt", Image: "img:1",
		MemoryMiB: 128, TimeoutSec: 5, Env: map[string]string{"A": `x"}<`}, Revision: "r1"}
	sj, _ := json.Marshal(spec)
	var d invocationDecoder
	var ev wire.InvocationEvent
	first := `{"type":"invoke","requestId":"a","function":` + string(sj) + `}`
	if d.decodeInvoke([]byte(first), &ev) {
		t.Fatal("a spec not seen before should go through encoding/json")
	}
	if err := d.decode([]byte(first), &ev); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		line string
		fast bool
	}{
		{`{"type":"invoke","requestId":"b","function":` + string(sj) + `}`, true},
		{`{"type":"invoke","requestId":"c","function":` + string(sj) + `,"payload":"eyJlY2hvIjoxfQ=="}`, true},
		{`{"type":"invoke","requestId":"d","function":` + string(sj) + `,"payload":"eyJlY2hvIjoxfQ==","tail":true}`, true},
		{`{"type":"invoke","requestId":"e","function":` + string(sj) + `,"tail":true}`, true},
		{`{"type":"invoke","requestId":"\u0066","function":` + string(sj) + `}`, false},
		{`{"type":"invoke","requestId":"g","function":` + string(sj) + `,"requestId":"h"}`, false},
		{`{"type":"invoke","requestId":"i","function":` + string(sj) + `,"payload":"e3\u0030="}`, false},
		{`{"type":"invoke","requestId":"j","function":` + string(sj) + `,"tail":false}`, false},
		{`{"type":"invoke","requestId":"k","function":` + string(sj) + `,"payload":""}`, false},
		{`{"type":"invoke","requestId":"l","function":{"name":"other","revision":"r1"}}`, false},
	} {
		var fast, want, got wire.InvocationEvent
		if ok := d.decodeInvoke([]byte(c.line), &fast); ok != c.fast {
			t.Errorf("%s: own path taken = %v, want %v", c.line, ok, c.fast)
		}
		if err := json.Unmarshal([]byte(c.line), &want); err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		if err := d.decode([]byte(c.line), &got); err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.line, got, want)
		}
	}
}

// The decoder never disagrees with encoding/json on what a line holds.
func FuzzInvocationDecoder(f *testing.F) {
	spec, _ := json.Marshal(&wire.FunctionSpec{Name: "f", Revision: "r"})
	f.Add(`{"type":"invoke","requestId":"a","function":` + string(spec) + `,"payload":"e30=","tail":true}`)
	f.Add(`{"type":"ping"}`)
	f.Fuzz(func(t *testing.T, line string) {
		var d invocationDecoder
		var warm wire.InvocationEvent
		_ = d.decode([]byte(`{"type":"invoke","requestId":"x","function":`+string(spec)+`}`), &warm)
		var got, want wire.InvocationEvent
		if !d.decodeInvoke([]byte(line), &got) {
			return
		}
		if err := json.Unmarshal([]byte(line), &want); err != nil {
			t.Fatalf("own path took %q, which encoding/json refuses: %v", line, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %+v, want %+v", line, got, want)
		}
	})
}
