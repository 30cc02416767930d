package store

import (
	"encoding/json"
	"strconv"

	"github.com/orch-project/orch/internal/jsonstr"
	"github.com/orch-project/orch/pkg/model"
)

// appendQueueMessage appends m encoded exactly as json.Marshal encodes it
// (same fields, order, omitempty and escaping), without reflection: every
// send encodes its message once, and reflection was the largest part of
// the engine's own CPU per message after the local log took etcd away. It
// returns ok=false for what it does not encode byte for byte as
// encoding/json would (attributes); the caller then uses json.Marshal. TestQueueMessageCodecMatchesJSON holds
// the two equal.
func appendQueueMessage(b []byte, m *model.QueueMessage) ([]byte, bool) {
	if len(m.Attributes) > 0 {
		return b, false
	}
	str := func(key string, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		b = append(b, key...)
		b = jsonstr.Append(b, v)
	}
	num := func(key string, v int64, omitEmpty bool) {
		if omitEmpty && v == 0 {
			return
		}
		b = append(b, key...)
		b = strconv.AppendInt(b, v, 10)
	}
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
	return b, true
}

// EncodeQueueMessage encodes a message the way CommitQueueOps stores it, so
// callers can do it outside a commit loop.
func EncodeQueueMessage(m *model.QueueMessage) ([]byte, error) {
	if b, ok := appendQueueMessage(make([]byte, 0, 192+len(m.Body)), m); ok {
		return b, nil
	}
	return json.Marshal(m)
}
