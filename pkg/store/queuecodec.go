package store

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/orch-project/orch/pkg/model"
)

// appendQueueMessage appends m encoded exactly as json.Marshal encodes it
// (same fields, order, omitempty and escaping), without reflection: every
// send encodes its message once, and reflection was the largest part of
// the engine's own CPU per message after the local log took etcd away. It
// returns ok=false for anything it does not encode byte for byte as
// encoding/json would (attributes, strings with non-ASCII bytes); the
// caller then uses json.Marshal. TestQueueMessageCodecMatchesJSON holds
// the two equal.
func appendQueueMessage(b []byte, m *model.QueueMessage) ([]byte, bool) {
	if len(m.Attributes) > 0 {
		return b, false
	}
	var ok bool
	str := func(key string, v string, omitEmpty bool) {
		if !ok || (omitEmpty && v == "") {
			return
		}
		b = append(b, key...)
		b, ok = appendJSONString(b, v)
	}
	num := func(key string, v int64, omitEmpty bool) {
		if omitEmpty && v == 0 {
			return
		}
		b = append(b, key...)
		b = strconv.AppendInt(b, v, 10)
	}
	ok = true
	b = append(b, '{')
	str(`"i":`, m.MessageID, false)
	str(`,"b":`, m.Body, false)
	str(`,"x":`, m.TraceHeader, true)
	str(`,"u":`, m.SenderID, true)
	num(`,"t":`, m.SentMs, false)
	num(`,"v":`, m.VisibleAtMs, true)
	num(`,"q":`, m.Seq, false)
	str(`,"g":`, m.GroupID, true)
	str(`,"d":`, m.DeduplicationID, true)
	str(`,"m":`, m.MD5OfBody, false)
	str(`,"n":`, m.MD5OfAttributes, true)
	str(`,"o":`, m.MD5OfSysAttrs, true)
	num(`,"r":`, int64(m.ReceiveCount), true)
	num(`,"f":`, m.FirstReceiveMs, true)
	str(`,"s":`, m.DeadLetterSourceArn, true)
	b = append(b, '}')
	return b, ok
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does (HTML-safe:
// <, > and & as \u00XX); ok=false for a string with bytes outside ASCII,
// left to encoding/json (invalid UTF-8, U+2028 and U+2029 have rules of
// their own there).
func appendJSONString(b []byte, s string) ([]byte, bool) {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return b, false
		}
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}

// EncodeQueueMessage encodes a message the way CommitQueueOps stores it, so
// callers can do it outside a commit loop.
func EncodeQueueMessage(m *model.QueueMessage) ([]byte, error) {
	if b, ok := appendQueueMessage(make([]byte, 0, 192+len(m.Body)), m); ok {
		return b, nil
	}
	return json.Marshal(m)
}
