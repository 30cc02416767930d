package lambda

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/orch-project/orch/pkg/api/wire"
)

// decodeResults decodes a batch of results (wire.InvocationResults). A
// busy agent posts one per two or three invocations, in the one shape
// pkg/api/client writes (json.Marshal's: the fields in their order, empty
// ones left out), which resultParser reads without encoding/json's
// reflection; anything else (other field orders, escapes it does not
// handle, nulls, trailing bytes) goes through encoding/json as before, so
// the result is the same either way.
func decodeResults(b []byte) (wire.InvocationResults, error) {
	p := resultParser{b: b}
	if batch, ok := p.batch(); ok {
		return batch, nil
	}
	var batch wire.InvocationResults
	err := json.NewDecoder(bytes.NewReader(b)).Decode(&batch)
	return batch, err
}

// resultParser reads json.Marshal's encoding of wire.InvocationResults.
// Every method reports false for anything outside that shape.
type resultParser struct {
	b   []byte
	i   int
	buf []byte // unescaping
}

func (p *resultParser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

func (p *resultParser) batch() (wire.InvocationResults, bool) {
	var out wire.InvocationResults
	if !p.lit(`{"results":[`) {
		return out, false
	}
	if p.lit("]}") {
		return wire.InvocationResults{Results: []wire.InvocationResult{}}, p.i == len(p.b)
	}
	out.Results = make([]wire.InvocationResult, 0, 4)
	for {
		out.Results = append(out.Results, wire.InvocationResult{})
		if !p.result(&out.Results[len(out.Results)-1]) {
			return out, false
		}
		if p.lit(",") {
			continue
		}
		return out, p.lit("]}") && p.i == len(p.b)
	}
}

// field consumes the next field's name when it is name (the fields come
// in the struct's order, each one optional but durationMs).
func (p *resultParser) field(first *bool, name string) bool {
	save := p.i
	if !*first && !p.lit(",") {
		return false
	}
	if p.lit(`"`) && p.lit(name) && p.lit(`":`) {
		*first = false
		return true
	}
	p.i = save
	return false
}

func (p *resultParser) result(r *wire.InvocationResult) bool {
	if !p.lit("{") {
		return false
	}
	first, ok := true, true
	str := func(name string, v *string) {
		if ok && p.field(&first, name) {
			*v, ok = p.str()
			ok = ok && *v != "" // json.Marshal leaves an empty one out
		}
	}
	bin := func(name string, v *[]byte) {
		if ok && p.field(&first, name) {
			*v, ok = p.base64()
		}
	}
	num := func(name string, v *int) {
		if ok && p.field(&first, name) {
			*v, ok = p.int()
			ok = ok && *v != 0
		}
	}
	str("requestId", &r.RequestID)
	bin("payload", &r.Payload)
	str("functionError", &r.FunctionError)
	str("errorType", &r.ErrorType)
	if !ok || !p.field(&first, "durationMs") {
		return false
	}
	if r.DurationMs, ok = p.float(); !ok {
		return false
	}
	if p.field(&first, "initDurationMs") {
		r.InitDurationMs, ok = p.float()
		ok = ok && r.InitDurationMs != 0
	}
	num("maxMemoryMB", &r.MaxMemoryMB)
	num("environments", &r.Environments)
	str("report", &r.Report)
	bin("logs", &r.Logs)
	str("errorKind", &r.ErrorKind)
	str("error", &r.Error)
	return ok && p.lit("}")
}

// str reads a string without \u escapes (json.Marshal writes those only
// for control bytes, <, >, &, U+2028 and U+2029) and of valid UTF-8.
func (p *resultParser) str() (string, bool) {
	if !p.lit(`"`) {
		return "", false
	}
	start, esc := p.i, false
	p.buf = p.buf[:0]
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			raw := p.b[start:p.i]
			p.i++
			if esc {
				raw = p.buf
			}
			if !utf8.Valid(raw) {
				return "", false
			}
			return string(raw), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if !esc {
				p.buf = append(p.buf, p.b[start:p.i]...)
				esc = true
			}
			if p.i+1 >= len(p.b) {
				return "", false
			}
			switch e := p.b[p.i+1]; e {
			case '"', '\\', '/':
				p.buf = append(p.buf, e)
			case 'b':
				p.buf = append(p.buf, '\b')
			case 'f':
				p.buf = append(p.buf, '\f')
			case 'n':
				p.buf = append(p.buf, '\n')
			case 'r':
				p.buf = append(p.buf, '\r')
			case 't':
				p.buf = append(p.buf, '\t')
			default:
				return "", false
			}
			p.i += 2
		default:
			if esc {
				p.buf = append(p.buf, c)
			}
			p.i++
		}
	}
	return "", false
}

// base64 reads a []byte (a base64 string without escapes, not empty).
func (p *resultParser) base64() ([]byte, bool) {
	if !p.lit(`"`) {
		return nil, false
	}
	end := bytes.IndexByte(p.b[p.i:], '"')
	if end <= 0 {
		return nil, false
	}
	enc := p.b[p.i : p.i+end]
	p.i += end + 1
	for _, c := range enc {
		if c < 0x20 || c == '\\' { // base64 skips \r and \n; a JSON string holds neither raw
			return nil, false
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	n, err := base64.StdEncoding.Decode(out, enc)
	if err != nil {
		return nil, false
	}
	return out[:n], n > 0
}

// number returns the next JSON number's text (RFC 8259's grammar).
func (p *resultParser) number() ([]byte, bool) {
	b, i := p.b, p.i
	digits := func() bool {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > s
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false
		}
	}
	tok := b[p.i:i]
	p.i = i
	return tok, true
}

func (p *resultParser) float() (float64, bool) {
	tok, ok := p.number()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	return f, err == nil
}

// int reads an int as encoding/json does: a number without fraction or
// exponent that fits.
func (p *resultParser) int() (int, bool) {
	tok, ok := p.number()
	if !ok || bytes.ContainsAny(tok, ".eE") {
		return 0, false
	}
	n, err := strconv.ParseInt(string(tok), 10, 0)
	return int(n), err == nil
}
