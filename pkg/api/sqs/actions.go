package sqs

import (
	"context"
	"sort"
	"strings"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// call is one decoded request.
type call struct {
	b       *queue.Broker
	action  string
	in      *input
	baseURL string // http://HOST
	path    string // request path, the queue URL's path when QueueUrl is absent
}

// action runs one SQS action: it checks the decoded input, calls the
// broker and builds the output (which renders itself in either protocol,
// see output).
type action func(ctx context.Context, c *call) (output, error)

// actions is every SQS action this endpoint serves. It is the one list:
// Claims recognises query requests by it, ServeHTTP dispatches by it.
var actions = map[string]action{
	"AddPermission":                unsupported,
	"RemovePermission":             unsupported,
	"CreateQueue":                  createQueue,
	"GetQueueUrl":                  getQueueURL,
	"ListQueues":                   listQueues,
	"DeleteQueue":                  deleteQueue,
	"PurgeQueue":                   purgeQueue,
	"GetQueueAttributes":           getQueueAttributes,
	"SetQueueAttributes":           setQueueAttributes,
	"TagQueue":                     tagQueue,
	"UntagQueue":                   untagQueue,
	"ListQueueTags":                listQueueTags,
	"ListDeadLetterSourceQueues":   listDeadLetterSourceQueues,
	"SendMessage":                  sendMessage,
	"SendMessageBatch":             sendMessageBatch,
	"ReceiveMessage":               receiveMessage,
	"DeleteMessage":                deleteMessage,
	"DeleteMessageBatch":           deleteMessageBatch,
	"ChangeMessageVisibility":      changeMessageVisibility,
	"ChangeMessageVisibilityBatch": changeMessageVisibilityBatch,
	"StartMessageMoveTask":         startMessageMoveTask,
	"CancelMessageMoveTask":        cancelMessageMoveTask,
	"ListMessageMoveTasks":         listMessageMoveTasks,
}

// Actions lists every SQS action served, sorted: a test walks it so that
// no action can be added without its policy check.
func Actions() []string {
	out := make([]string, 0, len(actions))
	for a := range actions {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func (c *call) queueURL(name string) string { return c.baseURL + "/" + model.AccountID + "/" + name }

// queueName is the queue a request names by QueueUrl (or its path).
func (c *call) queueName() (string, error) {
	u := c.in.QueueUrl
	if u == "" {
		u = c.path
	}
	if u == "" || u == "/" {
		return "", missing("QueueUrl")
	}
	u = strings.TrimRight(u, "/")
	name := u[strings.LastIndexByte(u, '/')+1:]
	if model.ValidateQueueName(name) != nil {
		return "", queue.ErrQueueDoesNotExist
	}
	return name, nil
}

func missing(param string) error {
	return queue.ErrMissingParameter.With("The request must contain the parameter %s.", param)
}

// withQueue adapts an action on the queue the request names.
func withQueue(f func(ctx context.Context, c *call, name string) (output, error)) action {
	return func(ctx context.Context, c *call) (output, error) {
		name, err := c.queueName()
		if err != nil {
			return nil, err
		}
		return f(ctx, c, name)
	}
}

func unsupported(_ context.Context, c *call) (output, error) {
	return nil, queue.ErrUnsupportedOperation.With("%s is not supported: Orch has one account; use access keys instead.", c.action)
}

func createQueue(ctx context.Context, c *call) (output, error) {
	in := c.in
	if in.QueueName == "" {
		return nil, missing("QueueName")
	}
	tags := in.CreateTags
	if tags == nil {
		tags = in.Tags
	}
	q, err := c.b.CreateQueue(ctx, in.QueueName, in.Attributes, tags)
	if err != nil {
		return nil, err
	}
	return &queueURLOut{c.queueURL(q.Name)}, nil
}

func getQueueURL(ctx context.Context, c *call) (output, error) {
	name := c.in.QueueName
	if name == "" {
		return nil, missing("QueueName")
	}
	if model.ValidateQueueName(name) != nil {
		return nil, queue.ErrQueueDoesNotExist
	}
	q, err := c.b.GetQueue(ctx, name)
	if err != nil {
		return nil, err
	}
	return &queueURLOut{c.queueURL(q.Name)}, nil
}

func listQueues(ctx context.Context, c *call) (output, error) {
	names, err := c.b.ListQueues(ctx, c.in.QueueNamePrefix)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(names, c.in.MaxResults, c.in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &listQueuesOut{NextToken: next}
	for _, n := range page {
		out.QueueUrls = append(out.QueueUrls, c.queueURL(n))
	}
	return out, nil
}

var deleteQueue = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	return emptyOut{}, c.b.DeleteQueue(ctx, name)
})

var purgeQueue = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	return emptyOut{}, c.b.PurgeQueue(ctx, name)
})

var getQueueAttributes = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	if len(c.in.AttributeNames) == 0 {
		_, err := c.b.GetQueue(ctx, name) // still a QueueDoesNotExist for a missing queue
		return &attributesOut{}, err
	}
	a, err := c.b.GetQueueAttributes(ctx, name, c.in.AttributeNames)
	if err != nil {
		return nil, err
	}
	return &attributesOut{a}, nil
})

var setQueueAttributes = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	if len(c.in.Attributes) == 0 {
		return nil, missing("Attributes")
	}
	return emptyOut{}, c.b.SetQueueAttributes(ctx, name, c.in.Attributes)
})

var tagQueue = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	if len(c.in.Tags) == 0 {
		return nil, missing("Tags")
	}
	return emptyOut{}, c.b.TagQueue(ctx, name, c.in.Tags)
})

var untagQueue = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	if len(c.in.TagKeys) == 0 {
		return nil, missing("TagKeys")
	}
	return emptyOut{}, c.b.UntagQueue(ctx, name, c.in.TagKeys)
})

var listQueueTags = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	t, err := c.b.ListQueueTags(ctx, name)
	if err != nil {
		return nil, err
	}
	return &tagsOut{t}, nil
})

var listDeadLetterSourceQueues = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	names, err := c.b.ListDeadLetterSourceQueues(ctx, name)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(names, c.in.MaxResults, c.in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &dlqSourcesOut{QueueUrls: []string{}, NextToken: next}
	for _, n := range page {
		out.QueueUrls = append(out.QueueUrls, c.queueURL(n))
	}
	return out, nil
})

var sendMessage = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	in := c.in
	e, err := sendEntry("", in.MessageBody, in.DelaySeconds, in.MessageAttributes, in.MessageSystemAttributes, in.MessageGroupId, in.MessageDeduplicationId)
	if err != nil {
		return nil, err
	}
	r, err := c.b.SendMessage(ctx, name, e)
	if err != nil {
		return nil, err
	}
	out := sendResult(*r)
	return &out, nil
})

var sendMessageBatch = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	in := c.in
	if err := queue.CheckBatch(len(in.Entries), func(i int) string { return in.Entries[i].Id }); err != nil {
		return nil, err
	}
	es := make([]queue.SendEntry, 0, len(in.Entries))
	out := &sendBatchOut{Successful: []sendOut{}, Failed: []batchFail{}}
	for _, x := range in.Entries {
		e, err := sendEntry(x.Id, x.MessageBody, x.DelaySeconds, x.MessageAttributes, x.MessageSystemAttributes, x.MessageGroupId, x.MessageDeduplicationId)
		if err != nil {
			out.Failed = append(out.Failed, failure(x.Id, err)) // an entry that does not decode fails alone
			continue
		}
		es = append(es, e)
	}
	if len(es) == 0 {
		return out, nil
	}
	res, fails, err := c.b.SendMessageBatch(ctx, name, es)
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		out.Successful = append(out.Successful, sendResult(r))
	}
	for _, f := range fails {
		out.Failed = append(out.Failed, failure(f.ID, f.Err))
	}
	return out, nil
})

var receiveMessage = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	in := c.in
	ri := queue.ReceiveInput{WaitTimeSeconds: in.WaitTimeSeconds, VisibilityTimeout: in.VisibilityTimeout,
		MessageAttributeNames: in.MessageAttributeNames}
	if in.MaxNumberOfMessages != nil {
		ri.MaxNumberOfMessages = *in.MaxNumberOfMessages
		if ri.MaxNumberOfMessages == 0 {
			ri.MaxNumberOfMessages = -1 // given as 0: out of range, not the default
		}
	}
	ri.AttributeNames = append(append([]string{}, in.AttributeNames...), in.MessageSystemAttributeNames...)
	ms, err := c.b.ReceiveMessage(ctx, name, ri)
	if err != nil {
		return nil, err
	}
	out := &receiveOut{}
	for _, m := range ms {
		out.Messages = append(out.Messages, receivedMessage(m))
	}
	return out, nil
})

var deleteMessage = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	return emptyOut{}, c.b.DeleteMessage(ctx, name, c.in.ReceiptHandle)
})

var changeMessageVisibility = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	if c.in.VisibilityTimeout == nil {
		return nil, missing("VisibilityTimeout")
	}
	return emptyOut{}, c.b.ChangeMessageVisibility(ctx, name, c.in.ReceiptHandle, *c.in.VisibilityTimeout)
})

var deleteMessageBatch = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	return handleBatch(ctx, c, name, false)
})

var changeMessageVisibilityBatch = withQueue(func(ctx context.Context, c *call, name string) (output, error) {
	return handleBatch(ctx, c, name, true)
})

// handleBatch runs DeleteMessageBatch or ChangeMessageVisibilityBatch.
func handleBatch(ctx context.Context, c *call, name string, visibility bool) (output, error) {
	in := c.in
	if err := queue.CheckBatch(len(in.Entries), func(i int) string { return in.Entries[i].Id }); err != nil {
		return nil, err
	}
	out := &idBatchOut{Successful: []batchID{}, Failed: []batchFail{}, kind: c.action}
	es := make([]queue.BatchHandle, 0, len(in.Entries))
	for _, x := range in.Entries {
		e := queue.BatchHandle{ID: x.Id, Handle: x.ReceiptHandle}
		if visibility {
			if x.VisibilityTimeout == nil {
				out.Failed = append(out.Failed, failure(x.Id, missing("VisibilityTimeout")))
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
		_, err = c.b.GetQueue(ctx, name) // still a QueueDoesNotExist for a missing queue
	case visibility:
		ok, fails, err = c.b.ChangeMessageVisibilityBatch(ctx, name, es)
	default:
		ok, fails, err = c.b.DeleteMessageBatch(ctx, name, es)
	}
	if err != nil {
		return nil, err
	}
	for _, id := range ok {
		out.Successful = append(out.Successful, batchID{id})
	}
	for _, f := range fails {
		out.Failed = append(out.Failed, failure(f.ID, f.Err))
	}
	return out, nil
}

func startMessageMoveTask(ctx context.Context, c *call) (output, error) {
	in := c.in
	if in.SourceArn == "" {
		return nil, missing("SourceArn")
	}
	rate := 0
	if in.MaxNumberOfMessagesPerSecond != nil {
		rate = *in.MaxNumberOfMessagesPerSecond
		if rate == 0 {
			rate = -1 // given as 0: out of range, not the default
		}
	}
	h, err := c.b.StartMessageMoveTask(ctx, in.SourceArn, in.DestinationArn, rate)
	if err != nil {
		return nil, err
	}
	return &taskHandleOut{h}, nil
}

func cancelMessageMoveTask(ctx context.Context, c *call) (output, error) {
	if c.in.TaskHandle == "" {
		return nil, missing("TaskHandle")
	}
	n, err := c.b.CancelMessageMoveTask(ctx, c.in.TaskHandle)
	if err != nil {
		return nil, err
	}
	return &cancelMoveOut{n}, nil
}

func listMessageMoveTasks(ctx context.Context, c *call) (output, error) {
	in := c.in
	if in.SourceArn == "" {
		return nil, missing("SourceArn")
	}
	max := 0
	if in.MaxResults != nil {
		max = *in.MaxResults
		if max == 0 {
			max = -1 // given as 0: out of range, not the default
		}
	}
	ts, err := c.b.ListMessageMoveTasks(ctx, in.SourceArn, max)
	if err != nil {
		return nil, err
	}
	out := &listMovesOut{}
	for _, t := range ts {
		out.Results = append(out.Results, moveTask(t))
	}
	return out, nil
}

func sendEntry(id string, body *string, delay *int, attrs, sys map[string]msgAttr, group, dedup string) (queue.SendEntry, error) {
	e := queue.SendEntry{ID: id, DelaySeconds: delay, GroupID: group, DeduplicationID: dedup}
	if body == nil {
		return e, missing("MessageBody")
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
