package queue

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// TestReceiptHandles: a handle reads back as what made it, is the base64url
// text SQS clients have been given before (so handles outstanding across
// an upgrade still delete), and anything else is not a handle.
func TestReceiptHandles(t *testing.T) {
	long := strings.Repeat("m", 200) // longer than the stack buffers
	for _, c := range []struct {
		qid, id string
		gen     uint32
	}{{"q1", "0a1b2c", 0}, {"queue-id", "message-id", 4294967295}, {"q", long, 7}} {
		h := encodeHandle(c.qid, c.id, c.gen)
		if want := base64.RawURLEncoding.EncodeToString([]byte(c.qid + ":" + c.id + ":" + strconv.FormatUint(uint64(c.gen), 10))); h != want {
			t.Fatalf("encodeHandle(%q, %q, %d) = %q, want %q", c.qid, c.id, c.gen, h, want)
		}
		qid, id, gen, ok := decodeHandle(h)
		if !ok || qid != c.qid || id != c.id || gen != c.gen {
			t.Fatalf("decodeHandle(%q) = %q %q %d %v, want %q %q %d", h, qid, id, gen, ok, c.qid, c.id, c.gen)
		}
	}
	enc := base64.RawURLEncoding.EncodeToString
	for _, bad := range []string{"", "!!!", enc([]byte("q:m")), enc([]byte("q:m:1:2")), enc([]byte("q:m:x")), enc([]byte("q:m:4294967296")), enc([]byte("q:m:1")) + "="} {
		if qid, id, gen, ok := decodeHandle(bad); ok {
			t.Fatalf("decodeHandle(%q) = %q %q %d, want not a handle", bad, qid, id, gen)
		}
	}
}
