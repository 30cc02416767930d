package sqs

import (
	"encoding/json"
	"unicode/utf8"
)

// appendJSON writes the hot actions' answers (SendMessage, ReceiveMessage,
// DeleteMessage and their batches) without reflection, byte for byte what
// json.Marshal writes (TestAppendJSONAgrees); it says false for an output
// it leaves to json.Marshal (other actions, messages with attributes).
func appendJSON(dst []byte, out output) ([]byte, bool) {
	switch o := out.(type) {
	case emptyOut:
		return append(dst, "{}"...), true
	case *sendOut:
		return o.appendJSON(dst), true
	case *sendBatchOut:
		dst = append(dst, `{"Successful":`...)
		if o.Successful == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, '[')
			for i := range o.Successful {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = o.Successful[i].appendJSON(dst)
			}
			dst = append(dst, ']')
		}
		return appendFails(append(dst, `,"Failed":`...), o.Failed), true
	case *idBatchOut:
		dst = append(dst, `{"Successful":`...)
		if o.Successful == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, '[')
			for i := range o.Successful {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendStr(append(dst, `{"Id":`...), o.Successful[i].Id)
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		return appendFails(append(dst, `,"Failed":`...), o.Failed), true
	case *receiveOut:
		if len(o.Messages) == 0 {
			return append(dst, "{}"...), true
		}
		dst = append(dst, `{"Messages":[`...)
		for i := range o.Messages {
			m := &o.Messages[i]
			if len(m.Attributes) > 0 || len(m.MessageAttributes) > 0 {
				return dst, false
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendStr(append(dst, `{"MessageId":`...), m.MessageId)
			dst = appendStr(append(dst, `,"ReceiptHandle":`...), m.ReceiptHandle)
			dst = appendStr(append(dst, `,"MD5OfBody":`...), m.MD5OfBody)
			dst = appendStr(append(dst, `,"Body":`...), m.Body)
			if m.MD5OfMessageAttributes != "" {
				dst = appendStr(append(dst, `,"MD5OfMessageAttributes":`...), m.MD5OfMessageAttributes)
			}
			dst = append(dst, '}')
		}
		return append(dst, "]}"...), true
	}
	return dst, false
}

func (o *sendOut) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	if o.Id != "" {
		dst = appendStr(append(dst, `"Id":`...), o.Id)
		dst = append(dst, ',')
	}
	dst = appendStr(append(dst, `"MessageId":`...), o.MessageId)
	dst = appendStr(append(dst, `,"MD5OfMessageBody":`...), o.MD5OfMessageBody)
	for _, f := range [...]struct{ key, v string }{
		{`,"MD5OfMessageAttributes":`, o.MD5OfMessageAttributes},
		{`,"MD5OfMessageSystemAttributes":`, o.MD5OfMessageSystemAttributes},
		{`,"SequenceNumber":`, o.SequenceNumber},
	} {
		if f.v != "" {
			dst = appendStr(append(dst, f.key...), f.v)
		}
	}
	return append(dst, '}')
}

func appendFails(dst []byte, fs []batchFail) []byte {
	if fs == nil {
		return append(dst, "null}"...)
	}
	dst = append(dst, '[')
	for i := range fs {
		if i > 0 {
			dst = append(dst, ',')
		}
		f := &fs[i]
		dst = appendStr(append(dst, `{"Id":`...), f.Id)
		if f.SenderFault {
			dst = append(dst, `,"SenderFault":true`...)
		} else {
			dst = append(dst, `,"SenderFault":false`...)
		}
		dst = appendStr(append(dst, `,"Code":`...), f.Code)
		if f.Message != "" {
			dst = appendStr(append(dst, `,"Message":`...), f.Message)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// appendStr appends s as a JSON string. Printable ASCII other than the
// characters encoding/json escapes goes as it is; anything else takes
// json.Marshal's escaping (HTML characters, control characters, U+2028,
// invalid UTF-8), so the bytes are always json.Marshal's.
func appendStr(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
