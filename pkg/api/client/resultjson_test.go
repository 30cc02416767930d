package client

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/orch-project/orch/pkg/api/wire"
)

// A batch of results is written byte for byte as json.Marshal writes it.
func TestAppendResultsMatchesJSONMarshal(t *testing.T) {
	batches := [][]wire.InvocationResult{
		nil,
		{},
		{{}},
		{{RequestID: "8f0c-1", Payload: []byte(`{"receipt":"<b>&</b>"}`), DurationMs: 0.123, MaxMemoryMB: 12, Environments: 4,
			Report: "REPORT RequestId: 8f0c-1\tDuration: 0.12 ms\tBilled Duration: 1 ms"}},
		{{RequestID: "a", FunctionError: "Unhandled", ErrorType: "Sandbox.Timedout", DurationMs: 3000, InitDurationMs: 812.5,
			Logs: []byte("line 1\nline \x00 2\n"), Report: "tab\t\"quote\" \\ \u2028 bad\xff"},
			{RequestID: "b", ErrorKind: wire.InvokeErrStopping, Error: "node n is stopping", DurationMs: 1e-7, MaxMemoryMB: -1},
			{RequestID: "c", DurationMs: 1e21, InitDurationMs: -2.5e-9, Environments: math.MaxInt32}},
	}
	for i, rs := range batches {
		want, err := json.Marshal(wire.InvocationResults{Results: rs})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendResults(nil, rs)
		if !ok || string(got) != string(want) {
			t.Errorf("batch %d:\n got %s (ok %v)\nwant %s", i, got, ok, want)
		}
		enc, err := encodeResults(rs)
		if err != nil || string(enc) != string(want) {
			t.Errorf("batch %d: encodeResults = %s, %v", i, enc, err)
		}
	}
	if _, err := encodeResults([]wire.InvocationResult{{RequestID: "x", DurationMs: math.NaN()}}); err == nil {
		t.Error("a NaN duration should be json.Marshal's error, as before")
	}
}

// Any float64 is written as json.Marshal writes it.
func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, -0.0, 1, 0.001, 1e-6, 9.99e-7, 1e20, 1e21, 123456.789, -3.5e-300} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		want, err := json.Marshal(v)
		got, ok := appendFloat(nil, v)
		if (err == nil) != ok || ok && string(got) != string(want) {
			t.Fatalf("%v: got %s (ok %v), want %s (%v)", v, got, ok, want, err)
		}
	})
}
