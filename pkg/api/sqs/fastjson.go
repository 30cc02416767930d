package sqs

import (
	"strconv"
	"unicode/utf8"
)

// decodeJSONFast decodes the bodies the SDKs send for the hot actions
// (SendMessage, ReceiveMessage, DeleteMessage and their batches: a flat
// object of plain strings, integers, string lists and batch entries)
// without reflection, about a tenth of encoding/json's CPU. It accepts
// only what it decodes exactly as json.Unmarshal would and says false
// for anything else (other or differently cased keys, a key given twice,
// null, escapes in strings, invalid UTF-8, numbers with a fraction or
// exponent, nested values it does not know, trailing data); decodeJSON
// then takes the general path, which also writes the error messages.
// TestDecodeJSONFastAgrees and FuzzDecodeJSON hold the two paths equal.
func decodeJSONFast(b []byte) (*input, bool) {
	s := jscan{b: b}
	in := &input{}
	var seen uint64
	ok := s.object(func(key []byte) bool {
		f, known := fastFields[string(key)] // no allocation: a map index by string(bytes)
		if !known || seen&(1<<f.bit) != 0 {
			return false
		}
		seen |= 1 << f.bit
		return f.set(&s, in)
	})
	if !ok {
		return nil, false
	}
	s.ws()
	return in, s.i == len(s.b)
}

type fastField struct {
	bit uint
	set func(*jscan, *input) bool
}

// fastFields are input's fields the fast path decodes, by their exact
// JSON key (encoding/json's first choice; other cases go the slow way).
var fastFields = map[string]fastField{}

func init() {
	strs := map[string]func(*input) *string{
		"QueueUrl": func(in *input) *string { return &in.QueueUrl }, "QueueName": func(in *input) *string { return &in.QueueName },
		"ReceiptHandle":           func(in *input) *string { return &in.ReceiptHandle },
		"MessageDeduplicationId":  func(in *input) *string { return &in.MessageDeduplicationId },
		"MessageGroupId":          func(in *input) *string { return &in.MessageGroupId },
		"ReceiveRequestAttemptId": func(in *input) *string { return &in.ReceiveRequestAttemptId },
		"QueueOwnerAWSAccountId":  func(in *input) *string { return &in.QueueOwnerAWSAccountId },
	}
	ints := map[string]func(*input) **int{
		"MaxNumberOfMessages": func(in *input) **int { return &in.MaxNumberOfMessages },
		"WaitTimeSeconds":     func(in *input) **int { return &in.WaitTimeSeconds },
		"VisibilityTimeout":   func(in *input) **int { return &in.VisibilityTimeout },
		"DelaySeconds":        func(in *input) **int { return &in.DelaySeconds },
	}
	lists := map[string]func(*input) *[]string{
		"AttributeNames":              func(in *input) *[]string { return &in.AttributeNames },
		"MessageAttributeNames":       func(in *input) *[]string { return &in.MessageAttributeNames },
		"MessageSystemAttributeNames": func(in *input) *[]string { return &in.MessageSystemAttributeNames },
	}
	var bit uint
	add := func(key string, set func(*jscan, *input) bool) {
		fastFields[key] = fastField{bit, set}
		bit++
	}
	for k, f := range strs {
		add(k, func(s *jscan, in *input) bool { v, ok := s.str(); *f(in) = v; return ok })
	}
	for k, f := range ints {
		add(k, func(s *jscan, in *input) bool { v, ok := s.int(); *f(in) = v; return ok })
	}
	for k, f := range lists {
		add(k, func(s *jscan, in *input) bool { v, ok := s.strList(); *f(in) = v; return ok })
	}
	add("MessageBody", func(s *jscan, in *input) bool { v, ok := s.str(); in.MessageBody = &v; return ok })
	add("Entries", func(s *jscan, in *input) bool { v, ok := s.entries(); in.Entries = v; return ok })
}

// jscan reads JSON tokens from b[i:].
type jscan struct {
	b []byte
	i int
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips white space and consumes c if it comes next.
func (s *jscan) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object reads {"key": value, ...}, calling member for each key with the
// scanner before the value.
func (s *jscan) object(member func(key []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		k, ok := s.raw()
		if !ok || !s.next(':') || !member(k) {
			return false
		}
		if s.next(',') {
			continue
		}
		return s.next('}')
	}
}

// str reads a string without escapes, control characters or invalid UTF-8.
func (s *jscan) str() (string, bool) {
	v, ok := s.raw()
	return string(v), ok
}

// raw is str's bytes, still in b.
func (s *jscan) raw() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start, ascii := s.i, true
	for ; s.i < len(s.b); s.i++ {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(v) {
				return nil, false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// int reads an integer: -?(0|[1-9][0-9]*) with no fraction or exponent.
func (s *jscan) int() (*int, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == digits || (s.b[digits] == '0' && s.i > digits+1) {
		return nil, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return nil, false
	}
	n, err := strconv.Atoi(string(s.b[start:s.i]))
	return &n, err == nil
}

// strList reads ["a", ...]; [] is an empty, non-nil list (as encoding/json).
func (s *jscan) strList() ([]string, bool) {
	if !s.next('[') {
		return nil, false
	}
	out := []string{}
	if s.next(']') {
		return out, true
	}
	for {
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if s.next(',') {
			continue
		}
		return out, s.next(']')
	}
}

// entries reads a batch's entries: objects of plain strings and integers.
func (s *jscan) entries() ([]entry, bool) {
	if !s.next('[') {
		return nil, false
	}
	out := []entry{}
	if s.next(']') {
		return out, true
	}
	for {
		var e entry
		var seen uint8
		ok := s.object(func(key []byte) bool {
			var bit uint8
			var ok bool
			switch string(key) {
			case "Id":
				bit = 1
				e.Id, ok = s.str()
			case "MessageBody":
				bit = 2
				var v string
				v, ok = s.str()
				e.MessageBody = &v
			case "ReceiptHandle":
				bit = 4
				e.ReceiptHandle, ok = s.str()
			case "MessageDeduplicationId":
				bit = 8
				e.MessageDeduplicationId, ok = s.str()
			case "MessageGroupId":
				bit = 16
				e.MessageGroupId, ok = s.str()
			case "DelaySeconds":
				bit = 32
				e.DelaySeconds, ok = s.int()
			case "VisibilityTimeout":
				bit = 64
				e.VisibilityTimeout, ok = s.int()
			default:
				return false
			}
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			return ok
		})
		if !ok {
			return nil, false
		}
		out = append(out, e)
		if s.next(',') {
			continue
		}
		return out, s.next(']')
	}
}
