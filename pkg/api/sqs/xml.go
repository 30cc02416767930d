package sqs

import (
	"encoding/base64"
	"sort"
	"strconv"
	"strings"
)

const xmlns = "http://queue.amazonaws.com/doc/2012-11-05/"

// xw writes the query protocol's XML.
type xw struct{ strings.Builder }

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;", "\r", "&#xD;")

func (w *xw) el(name, text string) {
	w.WriteString("<" + name + ">")
	xmlEscaper.WriteString(w, text)
	w.WriteString("</" + name + ">")
}

func (w *xw) open(name string)  { w.WriteString("<" + name + ">") }
func (w *xw) close(name string) { w.WriteString("</" + name + ">") }

func (w *xw) opt(name, text string) {
	if text != "" {
		w.el(name, text)
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

// renderXML writes <ActionResponse><ActionResult>...</ActionResult><ResponseMetadata/>.
func renderXML(action string, out any, requestID string) []byte {
	var w xw
	w.WriteString(`<?xml version="1.0"?><` + action + `Response xmlns="` + xmlns + `">`)
	if _, empty := out.(*emptyOut); !empty {
		w.open(action + "Result")
		writeResult(&w, out)
		w.close(action + "Result")
	}
	w.open("ResponseMetadata")
	w.el("RequestId", requestID)
	w.close("ResponseMetadata")
	w.close(action + "Response")
	return []byte(w.String())
}

func writeBatchFails(w *xw, fs []batchFail) {
	for _, f := range fs {
		w.open("BatchResultErrorEntry")
		w.el("Id", f.Id)
		w.el("SenderFault", strconv.FormatBool(f.SenderFault))
		w.el("Code", f.Code)
		w.opt("Message", f.Message)
		w.close("BatchResultErrorEntry")
	}
}

func writeResult(w *xw, out any) {
	switch o := out.(type) {
	case *queueURLOut:
		w.el("QueueUrl", o.QueueUrl)
	case *listQueuesOut:
		for _, u := range o.QueueUrls {
			w.el("QueueUrl", u)
		}
		w.opt("NextToken", o.NextToken)
	case *dlqSourcesOut:
		for _, u := range o.QueueUrls {
			w.el("QueueUrl", u)
		}
		w.opt("NextToken", o.NextToken)
	case *attributesOut:
		for _, k := range sortedKeys(o.Attributes) {
			w.open("Attribute")
			w.el("Name", k)
			w.el("Value", o.Attributes[k])
			w.close("Attribute")
		}
	case *tagsOut:
		for _, k := range sortedKeys(o.Tags) {
			w.open("Tag")
			w.el("Key", k)
			w.el("Value", o.Tags[k])
			w.close("Tag")
		}
	case *sendOut:
		writeSend(w, o)
	case *sendBatchOut:
		for i := range o.Successful {
			w.open("SendMessageBatchResultEntry")
			w.el("Id", o.Successful[i].Id)
			writeSend(w, &o.Successful[i])
			w.close("SendMessageBatchResultEntry")
		}
		writeBatchFails(w, o.Failed)
	case *idBatchOut:
		for _, s := range o.Successful {
			w.open(o.kind + "ResultEntry")
			w.el("Id", s.Id)
			w.close(o.kind + "ResultEntry")
		}
		writeBatchFails(w, o.Failed)
	case *receiveOut:
		for _, m := range o.Messages {
			w.open("Message")
			w.el("MessageId", m.MessageId)
			w.el("ReceiptHandle", m.ReceiptHandle)
			w.el("MD5OfBody", m.MD5OfBody)
			w.el("Body", m.Body)
			for _, k := range sortedKeys(m.Attributes) {
				w.open("Attribute")
				w.el("Name", k)
				w.el("Value", m.Attributes[k])
				w.close("Attribute")
			}
			w.opt("MD5OfMessageAttributes", m.MD5OfMessageAttributes)
			for _, k := range sortedKeys(m.MessageAttributes) {
				a := m.MessageAttributes[k]
				w.open("MessageAttribute")
				w.el("Name", k)
				w.open("Value")
				if a.StringValue != nil {
					w.el("StringValue", *a.StringValue)
				}
				if a.BinaryValue != nil {
					w.el("BinaryValue", base64.StdEncoding.EncodeToString(a.BinaryValue))
				}
				w.el("DataType", a.DataType)
				w.close("Value")
				w.close("MessageAttribute")
			}
			w.close("Message")
		}
	case *taskHandleOut:
		w.el("TaskHandle", o.TaskHandle)
	case *cancelMoveOut:
		w.el("ApproximateNumberOfMessagesMoved", strconv.FormatInt(o.ApproximateNumberOfMessagesMoved, 10))
	case *listMovesOut:
		for _, t := range o.Results {
			w.open("ListMessageMoveTasksResultEntry")
			w.opt("TaskHandle", t.TaskHandle)
			w.el("Status", t.Status)
			w.el("SourceArn", t.SourceArn)
			w.opt("DestinationArn", t.DestinationArn)
			if t.MaxNumberOfMessagesPerSecond > 0 {
				w.el("MaxNumberOfMessagesPerSecond", strconv.Itoa(t.MaxNumberOfMessagesPerSecond))
			}
			w.el("ApproximateNumberOfMessagesMoved", strconv.FormatInt(t.ApproximateNumberOfMessagesMoved, 10))
			w.el("ApproximateNumberOfMessagesToMove", strconv.FormatInt(t.ApproximateNumberOfMessagesToMove, 10))
			w.opt("FailureReason", t.FailureReason)
			w.el("StartedTimestamp", strconv.FormatInt(t.StartedTimestamp, 10))
			w.close("ListMessageMoveTasksResultEntry")
		}
	}
}

func writeSend(w *xw, o *sendOut) {
	w.el("MessageId", o.MessageId)
	w.el("MD5OfMessageBody", o.MD5OfMessageBody)
	w.opt("MD5OfMessageAttributes", o.MD5OfMessageAttributes)
	w.opt("MD5OfMessageSystemAttributes", o.MD5OfMessageSystemAttributes)
	w.opt("SequenceNumber", o.SequenceNumber)
}

// renderXMLError is the query protocol's error document.
func renderXMLError(code, msg string, sender bool, requestID string) []byte {
	var w xw
	typ := "Sender"
	if !sender {
		typ = "Receiver"
	}
	w.WriteString(`<?xml version="1.0"?><ErrorResponse xmlns="` + xmlns + `"><Error>`)
	w.el("Type", typ)
	w.el("Code", code)
	w.el("Message", msg)
	w.WriteString("<Detail/></Error>")
	w.el("RequestId", requestID)
	w.WriteString("</ErrorResponse>")
	return []byte(w.String())
}
