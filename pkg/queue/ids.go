package queue

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newMessageID returns a UUID of version 7 (RFC 9562): 48 bits of Unix
// milliseconds, then 74 random bits. SQS message ids are UUIDs that clients
// treat as opaque; the time-ordered form matters to the store, not to them.
// A message's etcd key ends in its id, and etcd looks every put and delete
// up in an in-memory B-tree that also holds the keys deleted since the last
// compaction (a minute of history). Random (version 4) ids sent each lookup
// down a different path of that tree, missing the CPU cache at every level;
// time-ordered ids put new keys at its right edge and deletes near the
// oldest live messages, so the paths stay hot (docs/queues.md, cost model).
// The 74 random bits keep ids unguessable and unique; receipt handles, not
// ids, are what a delete needs.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(time.Now().UnixMilli()))
	copy(b[0:6], ms[2:8])
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
