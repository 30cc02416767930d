package awsproto

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
)

// Request ids only have to be unique (they name a request in logs and
// answers; nothing trusts them), so each is a random per-process prefix
// and a counter rather than 16 fresh random bytes: reading crypto/rand
// for every request was about 1 % of the server's CPU at one message per
// request.
var (
	reqIDPrefix = randomUint64()
	// The counter starts at a random point too, so that two processes
	// with the same prefix (a 1 in 2^64 chance) still differ.
	reqIDSeq = func() *atomic.Uint64 { var n atomic.Uint64; n.Store(randomUint64()); return &n }()
)

func randomUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// NewRequestID returns a request id in the UUID form AWS services use
// (x-amzn-RequestId, the query protocol's RequestId element).
func NewRequestID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], reqIDPrefix)
	binary.BigEndian.PutUint64(b[8:], reqIDSeq.Add(1))
	const hexd = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexd[c>>4], hexd[c&15]
		j += 2
	}
	return string(out[:])
}
