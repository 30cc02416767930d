package store

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

func TestQueueMessageCodecMatchesJSON(t *testing.T) {
	for _, m := range []*model.QueueMessage{
		{},
		{MessageID: "0190-abc", Body: "hello", SentMs: 1, Seq: 2, MD5OfBody: "5d41"},
		{MessageID: "i", Body: `{"a":"<b>&\u0001\t\n\r\b\f\\"}`, TraceHeader: "Root=1", SenderID: "AKID", SentMs: -5, VisibleAtMs: 9,
			Seq: 1 << 62, GroupID: "g", DeduplicationID: "d", MD5OfBody: "m", MD5OfAttributes: "n", MD5OfSysAttrs: "o",
			ReceiveCount: 3, FirstReceiveMs: 4, DeadLetterSourceArn: "arn:aws:sqs:r:1:q"},
		{MessageID: "i", Body: "héllo \u2028 \xff"},
		{MessageID: "i", Body: "b", Attributes: map[string]model.MessageAttributeValue{"k": {DataType: "String", StringValue: "v"}}},
	} {
		checkCodec(t, m)
	}
}

func checkCodec(t *testing.T, m *model.QueueMessage) {
	t.Helper()
	want, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EncodeQueueMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeQueueMessage(%+v)\n got %s\nwant %s", m, got, want)
	}
	// Only attributes take the reflective path; any body, ASCII or not,
	// is encoded by hand.
	if _, ok := appendQueueMessage(nil, m); !ok && len(m.Attributes) == 0 {
		t.Fatalf("appendQueueMessage(%+v) fell back to encoding/json", m)
	}
}

func FuzzQueueMessageCodec(f *testing.F) {
	f.Add("id", "body", "trace", "g", "d", int64(1), int64(2))
	f.Add("", "<&>\"\\\x00\x1f\x7f", "", "", "", int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, id, body, trace, group, dedup string, sent, seq int64) {
		checkCodec(t, &model.QueueMessage{MessageID: id, Body: body, TraceHeader: trace, GroupID: group, DeduplicationID: dedup,
			SentMs: sent, Seq: seq, VisibleAtMs: seq, MD5OfBody: body})
	})
}
