package sqs

import (
	"encoding/base64"
	"sort"
	"strconv"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/queue"
)

// output is an action's result. JSON 1.0 answers are its json.Marshal
// (field names are the SQS JSON protocol's); query answers are what
// writeXML puts inside the <ActionResult> element.
type output interface {
	writeXML(w *awsproto.XMLWriter)
}

type (
	emptyOut    struct{} // actions without output: no Result element at all
	queueURLOut struct {
		QueueUrl string
	}
	listQueuesOut struct {
		QueueUrls []string `json:",omitempty"`
		NextToken string   `json:",omitempty"`
	}
	dlqSourcesOut struct {
		QueueUrls []string `json:"queueUrls"`
		NextToken string   `json:",omitempty"`
	}
	attributesOut struct {
		Attributes map[string]string `json:",omitempty"`
	}
	tagsOut struct {
		Tags map[string]string `json:",omitempty"`
	}
	sendOut struct {
		Id                           string `json:",omitempty"`
		MessageId                    string
		MD5OfMessageBody             string
		MD5OfMessageAttributes       string `json:",omitempty"`
		MD5OfMessageSystemAttributes string `json:",omitempty"`
		SequenceNumber               string `json:",omitempty"`
	}
	batchFail struct {
		Id          string
		SenderFault bool
		Code        string
		Message     string `json:",omitempty"`
	}
	batchID struct {
		Id string
	}
	sendBatchOut struct {
		Successful []sendOut
		Failed     []batchFail
	}
	idBatchOut struct {
		Successful []batchID
		Failed     []batchFail
		kind       string // DeleteMessageBatch or ChangeMessageVisibilityBatch
	}
	outAttr struct {
		DataType    string
		StringValue *string `json:",omitempty"`
		BinaryValue []byte  `json:",omitempty"`
	}
	outMessage struct {
		MessageId              string
		ReceiptHandle          string
		MD5OfBody              string
		Body                   string
		Attributes             map[string]string  `json:",omitempty"`
		MD5OfMessageAttributes string             `json:",omitempty"`
		MessageAttributes      map[string]outAttr `json:",omitempty"`
	}
	receiveOut struct {
		Messages []outMessage `json:",omitempty"`
	}
	taskHandleOut struct {
		TaskHandle string
	}
	cancelMoveOut struct {
		ApproximateNumberOfMessagesMoved int64
	}
	moveTaskOut struct {
		TaskHandle                        string `json:",omitempty"`
		Status                            string
		SourceArn                         string
		DestinationArn                    string `json:",omitempty"`
		MaxNumberOfMessagesPerSecond      int    `json:",omitempty"`
		ApproximateNumberOfMessagesMoved  int64
		ApproximateNumberOfMessagesToMove int64
		FailureReason                     string `json:",omitempty"`
		StartedTimestamp                  int64
	}
	listMovesOut struct {
		Results []moveTaskOut `json:",omitempty"`
	}
)

// Conversions from the broker's results.

func sendResult(r queue.SendResult) sendOut {
	return sendOut{Id: r.ID, MessageId: r.MessageID, MD5OfMessageBody: r.MD5OfBody, MD5OfMessageAttributes: r.MD5OfAttributes,
		MD5OfMessageSystemAttributes: r.MD5OfSysAttrs, SequenceNumber: r.SequenceNumber}
}

// failure is a failed batch entry with err's SQS query code.
func failure(id string, err error) batchFail {
	e := toWire(err)
	return batchFail{Id: id, SenderFault: e.Fault() == "Sender", Code: e.Query(), Message: e.Message}
}

func receivedMessage(m queue.ReceivedMessage) outMessage {
	om := outMessage{MessageId: m.MessageID, ReceiptHandle: m.ReceiptHandle, MD5OfBody: m.MD5OfBody, Body: m.Body,
		Attributes: m.Attributes, MD5OfMessageAttributes: m.MD5OfMessageAttributes}
	if len(m.MessageAttributes) > 0 {
		om.MessageAttributes = map[string]outAttr{}
		for k, v := range m.MessageAttributes {
			oa := outAttr{DataType: v.DataType}
			if v.IsBinary() {
				oa.BinaryValue = v.BinaryValue
			} else {
				s := v.StringValue
				oa.StringValue = &s
			}
			om.MessageAttributes[k] = oa
		}
	}
	return om
}

func moveTask(t queue.MoveTask) moveTaskOut {
	mo := moveTaskOut{Status: t.Status, SourceArn: t.SourceArn, DestinationArn: t.DestinationArn,
		ApproximateNumberOfMessagesMoved: t.ApproximateNumberOfMessagesMoved, FailureReason: t.FailureReason,
		ApproximateNumberOfMessagesToMove: t.ApproximateNumberOfMessagesToMove, StartedTimestamp: t.StartedTimestamp,
		MaxNumberOfMessagesPerSecond: t.MaxNumberOfMessagesPerSecond}
	if t.Status == queue.MoveRunning {
		mo.TaskHandle = t.TaskHandle // only a running task can be cancelled
	}
	return mo
}

// The query protocol's result elements.

func (emptyOut) writeXML(*awsproto.XMLWriter) {}

func (o *queueURLOut) writeXML(w *awsproto.XMLWriter) { w.El("QueueUrl", o.QueueUrl) }

func (o *listQueuesOut) writeXML(w *awsproto.XMLWriter) {
	for _, u := range o.QueueUrls {
		w.El("QueueUrl", u)
	}
	w.Opt("NextToken", o.NextToken)
}

func (o *dlqSourcesOut) writeXML(w *awsproto.XMLWriter) {
	for _, u := range o.QueueUrls {
		w.El("QueueUrl", u)
	}
	w.Opt("NextToken", o.NextToken)
}

func (o *attributesOut) writeXML(w *awsproto.XMLWriter) {
	writePairs(w, "Attribute", "Name", o.Attributes)
}

func (o *tagsOut) writeXML(w *awsproto.XMLWriter) { writePairs(w, "Tag", "Key", o.Tags) }

func (o *sendOut) writeXML(w *awsproto.XMLWriter) {
	w.El("MessageId", o.MessageId)
	w.El("MD5OfMessageBody", o.MD5OfMessageBody)
	w.Opt("MD5OfMessageAttributes", o.MD5OfMessageAttributes)
	w.Opt("MD5OfMessageSystemAttributes", o.MD5OfMessageSystemAttributes)
	w.Opt("SequenceNumber", o.SequenceNumber)
}

func (o *sendBatchOut) writeXML(w *awsproto.XMLWriter) {
	for i := range o.Successful {
		w.Open("SendMessageBatchResultEntry")
		w.El("Id", o.Successful[i].Id)
		o.Successful[i].writeXML(w)
		w.Close("SendMessageBatchResultEntry")
	}
	writeBatchFails(w, o.Failed)
}

func (o *idBatchOut) writeXML(w *awsproto.XMLWriter) {
	for _, s := range o.Successful {
		w.Open(o.kind + "ResultEntry")
		w.El("Id", s.Id)
		w.Close(o.kind + "ResultEntry")
	}
	writeBatchFails(w, o.Failed)
}

func (o *receiveOut) writeXML(w *awsproto.XMLWriter) {
	for _, m := range o.Messages {
		w.Open("Message")
		w.El("MessageId", m.MessageId)
		w.El("ReceiptHandle", m.ReceiptHandle)
		w.El("MD5OfBody", m.MD5OfBody)
		w.El("Body", m.Body)
		writePairs(w, "Attribute", "Name", m.Attributes)
		w.Opt("MD5OfMessageAttributes", m.MD5OfMessageAttributes)
		for _, k := range sortedKeys(m.MessageAttributes) {
			a := m.MessageAttributes[k]
			w.Open("MessageAttribute")
			w.El("Name", k)
			w.Open("Value")
			if a.StringValue != nil {
				w.El("StringValue", *a.StringValue)
			}
			if a.BinaryValue != nil {
				w.El("BinaryValue", base64.StdEncoding.EncodeToString(a.BinaryValue))
			}
			w.El("DataType", a.DataType)
			w.Close("Value")
			w.Close("MessageAttribute")
		}
		w.Close("Message")
	}
}

func (o *taskHandleOut) writeXML(w *awsproto.XMLWriter) { w.El("TaskHandle", o.TaskHandle) }

func (o *cancelMoveOut) writeXML(w *awsproto.XMLWriter) {
	w.El("ApproximateNumberOfMessagesMoved", strconv.FormatInt(o.ApproximateNumberOfMessagesMoved, 10))
}

func (o *listMovesOut) writeXML(w *awsproto.XMLWriter) {
	for _, t := range o.Results {
		w.Open("ListMessageMoveTasksResultEntry")
		w.Opt("TaskHandle", t.TaskHandle)
		w.El("Status", t.Status)
		w.El("SourceArn", t.SourceArn)
		w.Opt("DestinationArn", t.DestinationArn)
		if t.MaxNumberOfMessagesPerSecond > 0 {
			w.El("MaxNumberOfMessagesPerSecond", strconv.Itoa(t.MaxNumberOfMessagesPerSecond))
		}
		w.El("ApproximateNumberOfMessagesMoved", strconv.FormatInt(t.ApproximateNumberOfMessagesMoved, 10))
		w.El("ApproximateNumberOfMessagesToMove", strconv.FormatInt(t.ApproximateNumberOfMessagesToMove, 10))
		w.Opt("FailureReason", t.FailureReason)
		w.El("StartedTimestamp", strconv.FormatInt(t.StartedTimestamp, 10))
		w.Close("ListMessageMoveTasksResultEntry")
	}
}

// writePairs writes <elem><key>k</key><Value>v</Value></elem> per entry, by key.
func writePairs(w *awsproto.XMLWriter, elem, key string, m map[string]string) {
	for _, k := range sortedKeys(m) {
		w.Open(elem)
		w.El(key, k)
		w.El("Value", m[k])
		w.Close(elem)
	}
}

func writeBatchFails(w *awsproto.XMLWriter, fs []batchFail) {
	for _, f := range fs {
		w.Open("BatchResultErrorEntry")
		w.El("Id", f.Id)
		w.El("SenderFault", strconv.FormatBool(f.SenderFault))
		w.El("Code", f.Code)
		w.Opt("Message", f.Message)
		w.Close("BatchResultErrorEntry")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
