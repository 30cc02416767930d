package queue

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"

	"github.com/orch-project/orch/pkg/model"
)

// MD5OfBody is the hex MD5 of a message body, as SQS returns it.
func MD5OfBody(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// MD5OfAttributes is the MD5 SQS computes over message attributes: names
// sorted; for each, length-prefixed name and data type, a transport byte (1
// string/number, 2 binary) and the length-prefixed value. "" when there
// are none.
func MD5OfAttributes(attrs map[string]model.MessageAttributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	for _, n := range names {
		v := attrs[n]
		writeLen(h, []byte(n))
		writeLen(h, []byte(v.DataType))
		if v.IsBinary() {
			h.Write([]byte{2})
			writeLen(h, v.BinaryValue)
		} else {
			h.Write([]byte{1})
			writeLen(h, []byte(v.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MD5OfSystemAttributes is the same digest over the AWSTraceHeader system
// attribute, the only one a sender may set.
func MD5OfSystemAttributes(traceHeader string) string {
	if traceHeader == "" {
		return ""
	}
	return MD5OfAttributes(map[string]model.MessageAttributeValue{
		"AWSTraceHeader": {DataType: "String", StringValue: traceHeader},
	})
}

func writeLen(h hash.Hash, b []byte) {
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(b)))
	h.Write(l[:])
	h.Write(b)
}
