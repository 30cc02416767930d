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

// lambdaSNS is the Sns object of a Lambda SNS event record: the envelope
// under Lambda's own names (SigningCertUrl, UnsubscribeUrl), with Subject
// null when the message has none and MessageAttributes always present.
type lambdaSNS struct {
	SignatureVersion  string                  `json:"SignatureVersion"`
	Timestamp         string                  `json:"Timestamp"`
	Signature         string                  `json:"Signature"`
	SigningCertURL    string                  `json:"SigningCertUrl"`
	MessageID         string                  `json:"MessageId"`
	Message           string                  `json:"Message"`
	MessageAttributes map[string]EnvelopeAttr `json:"MessageAttributes"`
	Type              string                  `json:"Type"`
	UnsubscribeURL    string                  `json:"UnsubscribeUrl"`
	TopicArn          string                  `json:"TopicArn"`
	Subject           *string                 `json:"Subject"`
}

type lambdaRecord struct {
	EventSource          string    `json:"EventSource"`
	EventVersion         string    `json:"EventVersion"`
	EventSubscriptionArn string    `json:"EventSubscriptionArn"`
	Sns                  lambdaSNS `json:"Sns"`
}

// lambdaEvent is the SNS event a function receives: one record carrying
// the subscription's signed envelope (n.Envelope; rebuilt unsigned if
// absent).
func lambdaEvent(n *Notification, baseURL string) []byte {
	e := &Envelope{}
	if n.Envelope == nil || json.Unmarshal(n.Envelope, e) != nil {
		e = envelopeOf(n, baseURL)
	}
	sns := lambdaSNS{SignatureVersion: e.SignatureVersion, Timestamp: e.Timestamp, Signature: e.Signature, SigningCertURL: e.SigningCertURL,
		MessageID: e.MessageID, Message: e.Message, MessageAttributes: e.Attributes, Type: e.Type, UnsubscribeURL: e.UnsubscribeURL, TopicArn: e.TopicArn}
	if sns.MessageAttributes == nil {
		sns.MessageAttributes = map[string]EnvelopeAttr{}
	}
	if e.Subject != "" {
		sns.Subject = &e.Subject
	}
	ev := struct {
		Records []lambdaRecord `json:"Records"`
	}{[]lambdaRecord{{EventSource: "aws:sns", EventVersion: "1.0", EventSubscriptionArn: n.SubscriptionArn, Sns: sns}}}
	b, _ := jsonMarshal(ev)
	return b
}
