package queue

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Receipt handles are base64url("<queueId>:<messageId>:<receive generation>").
func encodeHandle(qid, msgID string, gen uint32) string {
	return base64.RawURLEncoding.EncodeToString([]byte(qid + ":" + msgID + ":" + strconv.FormatUint(uint64(gen), 10)))
}

func decodeHandle(h string) (qid, msgID string, gen uint32, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", "", 0, false
	}
	p := strings.Split(string(b), ":")
	if len(p) != 3 {
		return "", "", 0, false
	}
	g, err := strconv.ParseUint(p[2], 10, 32)
	if err != nil {
		return "", "", 0, false
	}
	return p[0], p[1], uint32(g), true
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
