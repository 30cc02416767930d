package lambda

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/orch-project/orch/pkg/api/wire"
)

// resultBatches are batches as agents send them, and their corners.
var resultBatches = [][]wire.InvocationResult{
	{{RequestID: "8f0c-1", Payload: []byte(`{"receipt":"<b>&</b>"}`), DurationMs: 0.123, MaxMemoryMB: 12, Environments: 4,
		Report: "REPORT RequestId: 8f0c-1\tDuration: 0.12 ms\tBilled Duration: 1 ms"}},
	{{RequestID: "a", FunctionError: "Unhandled", ErrorType: "Sandbox.Timedout", DurationMs: 3000, InitDurationMs: 812.5,
		Logs: []byte("line 1\nline \x00 2\n"), Report: "tab\t\"quote\" \\ / \r\n\b\f"},
		{RequestID: "b", ErrorKind: wire.InvokeErrStopping, Error: "node n is stopping", DurationMs: 1e-7, MaxMemoryMB: -1},
		{RequestID: "c", DurationMs: 1e21, InitDurationMs: -2.5e-9, Environments: 1 << 30},
		{RequestID: "d", Report: "html <&> and \u2028 and bad\xff utf-8"}},
	{{}},
}

// The parser takes what json.Marshal writes and gives what encoding/json
// gives.
func TestDecodeResultsMatchesJSON(t *testing.T) {
	for i, rs := range resultBatches {
		b, err := json.Marshal(wire.InvocationResults{Results: rs})
		if err != nil {
			t.Fatal(err)
		}
		var want wire.InvocationResults
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got, err := decodeResults(b)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("batch %d: got %+v (%v), want %+v", i, got, err, want)
		}
		// Only \u escapes (HTML characters, U+2028, invalid UTF-8
		// replaced) send a batch to encoding/json.
		p := resultParser{b: b}
		if _, ok := p.batch(); ok == bytes.Contains(b, []byte(`\u`)) {
			t.Errorf("batch %d: own parser took it = %v for %s", i, ok, b)
		}
	}
	for _, body := range []string{
		`{"results":[{"durationMs":1,"requestId":"x"}]}`,  // another order
		`{"results":[{"requestId":"x","durationMs":1}]} `, // trailing space
		`{"results":[{"requestId":null,"durationMs":1}]}`,
		`{"results":[{"requestId":"x","durationMs":01}]}`,
		`{"results":[{"requestId":"x","durationMs":1,"maxMemoryMB":1.5}]}`,
		`{"results":[{"requestId":"x","payload":"e30\n","durationMs":1}]}`,
		`{"results":[{"requestId":"x","durationMs":1}`,
		`{"results":[]}`,
		`{"results":null}`,
		`{"results":[{"requestId":"x","durationMs":1e999}]}`,
	} {
		var want wire.InvocationResults
		wantErr := json.NewDecoder(bytes.NewReader([]byte(body))).Decode(&want)
		got, err := decodeResults([]byte(body))
		if (err == nil) != (wantErr == nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v (%v), want %+v (%v)", body, got, err, want, wantErr)
		}
	}
}

// Whatever the own parser takes, encoding/json reads the same way.
func FuzzDecodeResults(f *testing.F) {
	for _, rs := range resultBatches {
		b, _ := json.Marshal(wire.InvocationResults{Results: rs})
		f.Add(b)
	}
	f.Add([]byte(`{"results":[{"requestId":"x","durationMs":-0.0e+1,"environments":-0}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := resultParser{b: b}
		got, ok := p.batch()
		if !ok {
			return
		}
		var want wire.InvocationResults
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("own parser took %q, which encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", b, got, want)
		}
	})
}
