package client

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"

	"github.com/orch-project/orch/internal/jsonstr"
	"github.com/orch-project/orch/pkg/api/wire"
)

// rawJSON is a request body already encoded as JSON: send posts it as it
// is instead of passing it through json.Marshal.
type rawJSON []byte

// appendResults appends the JSON of a batch of results,
// wire.InvocationResults, byte for byte as json.Marshal writes it, without
// its reflection: a busy agent posts one batch per two or three
// invocations, and the results' fields are a fixed set of strings,
// numbers and bytes. ok is false for what json.Marshal refuses (a NaN or
// infinite duration).
func appendResults(b []byte, rs []wire.InvocationResult) (_ []byte, ok bool) {
	b = append(b, `{"results":`...)
	if rs == nil {
		return append(b, "null}"...), true
	}
	b = append(b, '[')
	for i := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		if b, ok = appendResult(b, &rs[i]); !ok {
			return b, false
		}
	}
	return append(b, "]}"...), true
}

// appendResult writes one wire.InvocationResult: its fields in their
// order, omitempty as its tags say.
func appendResult(b []byte, r *wire.InvocationResult) (_ []byte, ok bool) {
	b = append(b, '{')
	sep := false
	field := func(name string) {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
	}
	str := func(name, v string) {
		if v != "" {
			field(name)
			b = jsonstr.Append(b, v)
		}
	}
	bytes := func(name string, v []byte) {
		if len(v) > 0 {
			field(name)
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, v)
			b = append(b, '"')
		}
	}
	str("requestId", r.RequestID)
	bytes("payload", r.Payload)
	str("functionError", r.FunctionError)
	str("errorType", r.ErrorType)
	field("durationMs")
	if b, ok = appendFloat(b, r.DurationMs); !ok {
		return b, false
	}
	if r.InitDurationMs != 0 {
		field("initDurationMs")
		if b, ok = appendFloat(b, r.InitDurationMs); !ok {
			return b, false
		}
	}
	if r.MaxMemoryMB != 0 {
		field("maxMemoryMB")
		b = strconv.AppendInt(b, int64(r.MaxMemoryMB), 10)
	}
	if r.Environments != 0 {
		field("environments")
		b = strconv.AppendInt(b, int64(r.Environments), 10)
	}
	str("report", r.Report)
	bytes("logs", r.Logs)
	str("errorKind", r.ErrorKind)
	str("error", r.Error)
	return append(b, '}'), true
}

// appendFloat writes a float64 as encoding/json does (its floatEncoder):
// 'f' form between 1e-6 and 1e21, else 'e' with a one-digit negative
// exponent's zero dropped.
func appendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// encodeResults is the body of a result batch: by hand, or through
// json.Marshal (and its error) for what appendResults cannot write.
func encodeResults(rs []wire.InvocationResult) (rawJSON, error) {
	if b, ok := appendResults(make([]byte, 0, resultsSize(rs)), rs); ok {
		return b, nil
	}
	return json.Marshal(wire.InvocationResults{Results: rs})
}

// resultsSize is about the size of a batch's JSON, so that one buffer
// holds it.
func resultsSize(rs []wire.InvocationResult) int {
	n := 16
	for i := range rs {
		r := &rs[i]
		n += 160 + len(r.RequestID) + base64.StdEncoding.EncodedLen(len(r.Payload)) + len(r.FunctionError) + len(r.ErrorType) +
			len(r.Report)*6/5 + base64.StdEncoding.EncodedLen(len(r.Logs)) + len(r.ErrorKind) + len(r.Error)
	}
	return n
}
