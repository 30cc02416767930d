package topic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// Envelope is the SNS JSON document subscribers receive unless
// RawMessageDelivery is on, its fields in SNS's order; it is also the
// SubscriptionConfirmation document (Token and SubscribeURL, no
// UnsubscribeURL). sign.go fills SignatureVersion, Signature and
// SigningCertURL.
type Envelope struct {
	Type             string                  `json:"Type"`
	MessageID        string                  `json:"MessageId"`
	Token            string                  `json:"Token,omitempty"`
	SequenceNumber   string                  `json:"SequenceNumber,omitempty"`
	TopicArn         string                  `json:"TopicArn"`
	Subject          string                  `json:"Subject,omitempty"`
	Message          string                  `json:"Message"`
	SubscribeURL     string                  `json:"SubscribeURL,omitempty"`
	Timestamp        string                  `json:"Timestamp"`
	SignatureVersion string                  `json:"SignatureVersion,omitempty"`
	Signature        string                  `json:"Signature,omitempty"`
	SigningCertURL   string                  `json:"SigningCertURL,omitempty"`
	UnsubscribeURL   string                  `json:"UnsubscribeURL,omitempty"`
	Attributes       map[string]EnvelopeAttr `json:"MessageAttributes,omitempty"`
}

// EnvelopeAttr is one message attribute in an envelope.
type EnvelopeAttr struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// envelopeOf is n's Notification envelope, unsigned; baseURL is where
// the UnsubscribeURL points.
func envelopeOf(n *Notification, baseURL string) *Envelope {
	rec := n.Message
	e := &Envelope{Type: "Notification", MessageID: rec.ID, TopicArn: n.TopicArn, Subject: rec.Subject, Message: n.Text,
		Timestamp:      time.UnixMilli(rec.PublishMs).UTC().Format("2006-01-02T15:04:05.000Z"),
		UnsubscribeURL: baseURL + "/?Action=Unsubscribe&SubscriptionArn=" + url.QueryEscape(n.SubscriptionArn)}
	if rec.GroupID != "" {
		e.SequenceNumber = seqString(rec.Seq)
	}
	if len(rec.Attributes) > 0 {
		e.Attributes = make(map[string]EnvelopeAttr, len(rec.Attributes))
		for k, v := range rec.Attributes {
			val := v.StringValue
			if v.IsBinary() {
				val = base64.StdEncoding.EncodeToString(v.BinaryValue)
			}
			e.Attributes[k] = EnvelopeAttr{Type: v.DataType, Value: val}
		}
	}
	return e
}

// jsonMarshal encodes without escaping <, > and & (as SNS writes them).
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// textFor is the text protocol p receives of rec: with MessageStructure
// json, the protocol's entry or "default".
func textFor(rec *model.TopicMessage, p string) string {
	if rec.Structure != "json" {
		return rec.Message
	}
	var m map[string]string
	if json.Unmarshal([]byte(rec.Message), &m) != nil {
		return rec.Message
	}
	if t, ok := m[p]; ok {
		return t
	}
	return m["default"]
}

// lambdaEvent is the SNS event a function receives.
func lambdaEvent(n *Notification) []byte {
	rec := n.Message
	attrs := map[string]EnvelopeAttr{}
	for k, v := range rec.Attributes {
		val := v.StringValue
		if v.IsBinary() {
			val = base64.StdEncoding.EncodeToString(v.BinaryValue)
		}
		attrs[k] = EnvelopeAttr{Type: v.DataType, Value: val}
	}
	ev := map[string]any{"Records": []any{map[string]any{
		"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": n.SubscriptionArn,
		"Sns": map[string]any{
			"Type": "Notification", "MessageId": rec.ID, "TopicArn": n.TopicArn, "Subject": rec.Subject, "Message": n.Text,
			"Timestamp": time.UnixMilli(rec.PublishMs).UTC().Format("2006-01-02T15:04:05.000Z"), "MessageAttributes": attrs,
		},
	}}}
	b, _ := jsonMarshal(ev)
	return b
}
