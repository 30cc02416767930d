package queue

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Receipt handles are base64url("<queueId>:<messageId>:<receive generation>").
// One is made for every message received and read for every one deleted,
// so both work in stack buffers and allocate only the string they return
// (encodeHandle) or the decoded text (decodeHandle), instead of three or
// four times each.
func encodeHandle(qid, msgID string, gen uint32) string {
	var raw [128]byte
	b := append(raw[:0], qid...)
	b = append(b, ':')
	b = append(b, msgID...)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(gen), 10)
	var enc [176]byte // base64 of 128 bytes is 171
	return string(base64.RawURLEncoding.AppendEncode(enc[:0], b))
}

func decodeHandle(h string) (qid, msgID string, gen uint32, ok bool) {
	var buf [128]byte
	b, err := base64.RawURLEncoding.AppendDecode(buf[:0], []byte(h))
	if err != nil {
		return "", "", 0, false
	}
	s := string(b)
	qid, rest, ok1 := strings.Cut(s, ":")
	msgID, g, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || strings.Contains(g, ":") {
		return "", "", 0, false
	}
	n, err := strconv.ParseUint(g, 10, 32)
	if err != nil {
		return "", "", 0, false
	}
	return qid, msgID, uint32(n), true
}

func (q *queue) parseHandle(h string) (msgID string, gen uint32, err error) {
	if h == "" {
		return "", 0, ErrMissingParameter.With("The request must contain the parameter ReceiptHandle.")
	}
	qid, id, g, ok := decodeHandle(h)
	if !ok || qid != q.meta.ID {
		return "", 0, ErrReceiptHandleIsInvalid.With("The input receipt handle %q is not a valid receipt handle.", h)
	}
	return id, g, nil
}
