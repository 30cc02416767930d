package awsproto

import "crypto/rand"

// NewRequestID returns a request id in the UUID form AWS services use
// (x-amzn-RequestId, the query protocol's RequestId element).
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[c>>4], hexd[c&15])
	}
	return string(out)
}
