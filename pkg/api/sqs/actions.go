package sqs

import (
	"context"
	"encoding/base64"
	"sort"
	"strconv"
	"strings"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// Actions lists every SQS action this endpoint knows (IsSQSRequest uses it).
var Actions = map[string]bool{
	"AddPermission": true, "CancelMessageMoveTask": true, "ChangeMessageVisibility": true,
	"ChangeMessageVisibilityBatch": true, "CreateQueue": true, "DeleteMessage": true, "DeleteMessageBatch": true,
	"DeleteQueue": true, "GetQueueAttributes": true, "GetQueueUrl": true, "ListDeadLetterSourceQueues": true,
	"ListMessageMoveTasks": true, "ListQueues": true, "ListQueueTags": true, "PurgeQueue": true,
	"ReceiveMessage": true, "RemovePermission": true, "SendMessage": true, "SendMessageBatch": true,
	"SetQueueAttributes": true, "StartMessageMoveTask": true, "TagQueue": true, "UntagQueue": true,
}

// call is one decoded request.
type call struct {
	action  string
	in      *input
	baseURL string // http://HOST
	path    string // request path, the queue URL's path when QueueUrl is absent
}

func (c *call) queueURL(name string) string { return c.baseURL + "/" + model.AccountID + "/" + name }

// queueName is the queue a request names by QueueUrl (or its path).
func (c *call) queueName() (string, error) {
	u := c.in.QueueUrl
	if u == "" {
		u = c.path
	}
	if u == "" || u == "/" {
		return "", queue.ErrMissingParameter.With("The request must contain the parameter QueueUrl.")
	}
	u = strings.TrimRight(u, "/")
	name := u[strings.LastIndexByte(u, '/')+1:]
	if model.ValidateQueueName(name) != nil {
		return "", queue.ErrQueueDoesNotExist
	}
	return name, nil
}

func needName(name string) error {
	if name == "" {
		return queue.ErrMissingParameter.With("The request must contain the parameter QueueName.")
	}
	return nil
}

// Outputs. JSON field names are the SQS JSON protocol's; writeXML renders
// the query protocol's result element.
type (
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
	emptyOut struct{}
)

// dispatch runs one action against the queue service.
func dispatch(ctx context.Context, svc *queue.Service, c *call) (any, error) {
	in := c.in
	switch c.action {
	case "CreateQueue":
		if err := needName(in.QueueName); err != nil {
			return nil, err
		}
		tags := in.CreateTags
		if tags == nil {
			tags = in.Tags
		}
		q, err := svc.CreateQueue(ctx, in.QueueName, in.Attributes, tags)
		if err != nil {
			return nil, err
		}
		return &queueURLOut{c.queueURL(q.Name)}, nil
	case "GetQueueUrl":
		if err := needName(in.QueueName); err != nil {
			return nil, err
		}
		if model.ValidateQueueName(in.QueueName) != nil {
			return nil, queue.ErrQueueDoesNotExist
		}
		q, err := svc.GetQueue(ctx, in.QueueName)
		if err != nil {
			return nil, err
		}
		return &queueURLOut{c.queueURL(q.Name)}, nil
	case "ListQueues":
		names, err := svc.ListQueues(ctx, in.QueueNamePrefix)
		if err != nil {
			return nil, err
		}
		page, next, err := paginate(names, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		out := &listQueuesOut{NextToken: next}
		for _, n := range page {
			out.QueueUrls = append(out.QueueUrls, c.queueURL(n))
		}
		return out, nil
	case "AddPermission", "RemovePermission":
		return nil, queue.ErrUnsupportedOperation.With("%s is not supported: Orch has one account; use access keys instead.", c.action)
	case "StartMessageMoveTask":
		if in.SourceArn == "" {
			return nil, queue.ErrMissingParameter.With("The request must contain the parameter SourceArn.")
		}
		rate := 0
		if in.MaxNumberOfMessagesPerSecond != nil {
			rate = *in.MaxNumberOfMessagesPerSecond
			if rate == 0 {
				rate = -1
			}
		}
		h, err := svc.StartMessageMoveTask(ctx, in.SourceArn, in.DestinationArn, rate)
		if err != nil {
			return nil, err
		}
		return &taskHandleOut{h}, nil
	case "CancelMessageMoveTask":
		if in.TaskHandle == "" {
			return nil, queue.ErrMissingParameter.With("The request must contain the parameter TaskHandle.")
		}
		n, err := svc.CancelMessageMoveTask(ctx, in.TaskHandle)
		if err != nil {
			return nil, err
		}
		return &cancelMoveOut{n}, nil
	case "ListMessageMoveTasks":
		if in.SourceArn == "" {
			return nil, queue.ErrMissingParameter.With("The request must contain the parameter SourceArn.")
		}
		max := 0
		if in.MaxResults != nil {
			max = *in.MaxResults
			if max == 0 {
				max = -1
			}
		}
		ts, err := svc.ListMessageMoveTasks(ctx, in.SourceArn, max)
		if err != nil {
			return nil, err
		}
		out := &listMovesOut{}
		for _, t := range ts {
			mo := moveTaskOut{Status: t.Status, SourceArn: t.SourceArn, DestinationArn: t.DestinationArn,
				ApproximateNumberOfMessagesMoved: t.ApproximateNumberOfMessagesMoved, FailureReason: t.FailureReason,
				ApproximateNumberOfMessagesToMove: t.ApproximateNumberOfMessagesToMove, StartedTimestamp: t.StartedTimestamp,
				MaxNumberOfMessagesPerSecond: t.MaxNumberOfMessagesPerSecond}
			if t.Status == queue.MoveRunning {
				mo.TaskHandle = t.TaskHandle
			}
			out.Results = append(out.Results, mo)
		}
		return out, nil
	}

	name, err := c.queueName()
	if err != nil {
		return nil, err
	}
	switch c.action {
	case "DeleteQueue":
		return &emptyOut{}, svc.DeleteQueue(ctx, name)
	case "PurgeQueue":
		return &emptyOut{}, svc.PurgeQueue(ctx, name)
	case "GetQueueAttributes":
		names := in.AttributeNames
		if len(names) == 0 {
			return &attributesOut{}, svcCheck(svc, ctx, name)
		}
		a, err := svc.GetQueueAttributes(ctx, name, names)
		if err != nil {
			return nil, err
		}
		return &attributesOut{a}, nil
	case "SetQueueAttributes":
		if len(in.Attributes) == 0 {
			return nil, queue.ErrMissingParameter.With("The request must contain the parameter Attributes.")
		}
		return &emptyOut{}, svc.SetQueueAttributes(ctx, name, in.Attributes)
	case "TagQueue":
		if len(in.Tags) == 0 {
			return nil, queue.ErrMissingParameter.With("The request must contain the parameter Tags.")
		}
		return &emptyOut{}, svc.TagQueue(ctx, name, in.Tags)
	case "UntagQueue":
		if len(in.TagKeys) == 0 {
			return nil, queue.ErrMissingParameter.With("The request must contain the parameter TagKeys.")
		}
		return &emptyOut{}, svc.UntagQueue(ctx, name, in.TagKeys)
	case "ListQueueTags":
		t, err := svc.ListQueueTags(ctx, name)
		if err != nil {
			return nil, err
		}
		return &tagsOut{t}, nil
	case "ListDeadLetterSourceQueues":
		names, err := svc.ListDeadLetterSourceQueues(ctx, name)
		if err != nil {
			return nil, err
		}
		page, next, err := paginate(names, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		out := &dlqSourcesOut{QueueUrls: []string{}, NextToken: next}
		for _, n := range page {
			out.QueueUrls = append(out.QueueUrls, c.queueURL(n))
		}
		return out, nil
	case "SendMessage":
		e, err := sendEntry("", in.MessageBody, in.DelaySeconds, in.MessageAttributes, in.MessageSystemAttributes, in.MessageGroupId, in.MessageDeduplicationId)
		if err != nil {
			return nil, err
		}
		r, err := svc.SendMessage(ctx, name, e)
		if err != nil {
			return nil, err
		}
		return &sendOut{MessageId: r.MessageID, MD5OfMessageBody: r.MD5OfBody, MD5OfMessageAttributes: r.MD5OfAttributes,
			MD5OfMessageSystemAttributes: r.MD5OfSysAttrs, SequenceNumber: r.SequenceNumber}, nil
	case "SendMessageBatch":
		if err := queue.CheckBatch(len(in.Entries), func(i int) string { return in.Entries[i].Id }); err != nil {
			return nil, err
		}
		es := make([]queue.SendEntry, 0, len(in.Entries))
		var early []batchFail
		for _, x := range in.Entries {
			e, err := sendEntry(x.Id, x.MessageBody, x.DelaySeconds, x.MessageAttributes, x.MessageSystemAttributes, x.MessageGroupId, x.MessageDeduplicationId)
			if err != nil {
				// An entry that does not decode fails alone.
				qe := queue.AsError(err)
				early = append(early, batchFail{Id: x.Id, SenderFault: qe.Sender, Code: qe.QueryCode, Message: qe.Message})
				continue
			}
			es = append(es, e)
		}
		out := &sendBatchOut{Successful: []sendOut{}, Failed: early}
		if len(es) > 0 {
			res, fails, err := svc.SendMessageBatch(ctx, name, es)
			if err != nil {
				return nil, err
			}
			for _, r := range res {
				out.Successful = append(out.Successful, sendOut{Id: r.ID, MessageId: r.MessageID, MD5OfMessageBody: r.MD5OfBody,
					MD5OfMessageAttributes: r.MD5OfAttributes, MD5OfMessageSystemAttributes: r.MD5OfSysAttrs, SequenceNumber: r.SequenceNumber})
			}
			for _, f := range fails {
				out.Failed = append(out.Failed, batchFail{Id: f.ID, SenderFault: f.SenderFault, Code: f.Code, Message: f.Message})
			}
		}
		if out.Failed == nil {
			out.Failed = []batchFail{}
		}
		return out, nil
	case "ReceiveMessage":
		ri := queue.ReceiveInput{WaitTimeSeconds: in.WaitTimeSeconds, VisibilityTimeout: in.VisibilityTimeout,
			MessageAttributeNames: in.MessageAttributeNames}
		if in.MaxNumberOfMessages != nil {
			ri.MaxNumberOfMessages = *in.MaxNumberOfMessages
			if ri.MaxNumberOfMessages == 0 {
				ri.MaxNumberOfMessages = -1
			}
		}
		ri.AttributeNames = append(append([]string{}, in.AttributeNames...), in.MessageSystemAttributeNames...)
		ms, err := svc.ReceiveMessage(ctx, name, ri)
		if err != nil {
			return nil, err
		}
		out := &receiveOut{}
		for _, m := range ms {
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
			out.Messages = append(out.Messages, om)
		}
		return out, nil
	case "DeleteMessage":
		return &emptyOut{}, svc.DeleteMessage(ctx, name, in.ReceiptHandle)
	case "ChangeMessageVisibility":
		if in.VisibilityTimeout == nil {
			return nil, queue.ErrMissingParameter.With("The request must contain the parameter VisibilityTimeout.")
		}
		return &emptyOut{}, svc.ChangeMessageVisibility(ctx, name, in.ReceiptHandle, *in.VisibilityTimeout)
	case "DeleteMessageBatch", "ChangeMessageVisibilityBatch":
		if err := queue.CheckBatch(len(in.Entries), func(i int) string { return in.Entries[i].Id }); err != nil {
			return nil, err
		}
		es := make([]queue.BatchHandle, 0, len(in.Entries))
		var early []batchFail
		for _, x := range in.Entries {
			e := queue.BatchHandle{ID: x.Id, Handle: x.ReceiptHandle}
			if c.action == "ChangeMessageVisibilityBatch" {
				if x.VisibilityTimeout == nil {
					early = append(early, batchFail{Id: x.Id, SenderFault: true, Code: "MissingParameter", Message: "The request must contain the parameter VisibilityTimeout."})
					continue
				}
				e.VisibilityTimeout = *x.VisibilityTimeout
			}
			es = append(es, e)
		}
		var ok []string
		var fails []queue.BatchError
		var err error
		switch {
		case len(es) == 0:
			err = svcCheck(svc, ctx, name)
		case c.action == "DeleteMessageBatch":
			ok, fails, err = svc.DeleteMessageBatch(ctx, name, es)
		default:
			ok, fails, err = svc.ChangeMessageVisibilityBatch(ctx, name, es)
		}
		if err != nil {
			return nil, err
		}
		out := &idBatchOut{Successful: []batchID{}, Failed: []batchFail{}, kind: c.action}
		out.Failed = append(out.Failed, early...)
		for _, id := range ok {
			out.Successful = append(out.Successful, batchID{id})
		}
		for _, f := range fails {
			out.Failed = append(out.Failed, batchFail{Id: f.ID, SenderFault: f.SenderFault, Code: f.Code, Message: f.Message})
		}
		return out, nil
	}
	return nil, errInvalidAction(c.action)
}

func svcCheck(svc *queue.Service, ctx context.Context, name string) error {
	_, err := svc.GetQueue(ctx, name)
	return err
}

func errInvalidAction(a string) error {
	return &queue.Error{Code: "InvalidAction", QueryCode: "InvalidAction", Status: 400, Sender: true,
		Message: "The action " + a + " is not valid for this endpoint."}
}

func sendEntry(id string, body *string, delay *int, attrs, sys map[string]msgAttr, group, dedup string) (queue.SendEntry, error) {
	e := queue.SendEntry{ID: id, DelaySeconds: delay, GroupID: group, DeduplicationID: dedup}
	if body == nil {
		return e, queue.ErrMissingParameter.With("The request must contain the parameter MessageBody.")
	}
	e.Body = *body
	if len(attrs) > 0 {
		e.Attributes = make(map[string]model.MessageAttributeValue, len(attrs))
		for k, v := range attrs {
			mv := model.MessageAttributeValue{DataType: v.DataType, BinaryValue: v.BinaryValue}
			if v.StringValue != nil {
				mv.StringValue = *v.StringValue
			}
			if len(v.StringListValues) > 0 || len(v.BinaryListValues) > 0 {
				return e, queue.ErrInvalidParameterValue.With("Message attribute list values are not supported (attribute '%s').", k)
			}
			e.Attributes[k] = mv
		}
	}
	for k, v := range sys {
		if k != "AWSTraceHeader" {
			return e, queue.ErrInvalidParameterValue.With("Message system attribute name '%s' is invalid.", k)
		}
		if v.DataType != "String" || v.StringValue == nil || *v.StringValue == "" {
			return e, queue.ErrInvalidParameterValue.With("Message system attribute 'AWSTraceHeader' must be a non-empty String.")
		}
		e.TraceHeader = *v.StringValue
	}
	return e, nil
}

// paginate pages a sorted list; tokens are base64 of the last name given.
func paginate(names []string, max *int, token string) ([]string, string, error) {
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", queue.ErrInvalidParameterValue.With("Invalid NextToken.")
		}
		i := sort.SearchStrings(names, string(b)+"\x00")
		names = names[i:]
	}
	if max == nil {
		if len(names) > 1000 {
			names = names[:1000]
		}
		return names, "", nil
	}
	if *max < 1 || *max > 1000 {
		return nil, "", badParam("MaxResults", strconv.Itoa(*max), "Must be between 1 and 1000.")
	}
	if len(names) <= *max {
		return names, "", nil
	}
	page := names[:*max]
	return page, base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1])), nil
}
