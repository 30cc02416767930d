package sns

import (
	"context"
	"encoding/base64"
	"sort"
	"strconv"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/topic"
)

// action runs one SNS action and returns what writes its result element
// (nil for actions without output).
type action func(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error)

// Actions lists every SNS action served, sorted: a test walks it so that
// no action can be added without its policy check.
func Actions() []string {
	out := make([]string, 0, len(actions))
	for a := range actions {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// actions is every SNS action this endpoint serves: Claims recognises
// requests by it, ServeHTTP dispatches by it.
var actions = map[string]action{
	"CreateTopic":               createTopic,
	"DeleteTopic":               deleteTopic,
	"ListTopics":                listTopics,
	"GetTopicAttributes":        getTopicAttributes,
	"SetTopicAttributes":        setTopicAttributes,
	"Subscribe":                 subscribe,
	"ConfirmSubscription":       confirmSubscription,
	"Unsubscribe":               unsubscribe,
	"ListSubscriptions":         listSubscriptions,
	"ListSubscriptionsByTopic":  listSubscriptionsByTopic,
	"GetSubscriptionAttributes": getSubscriptionAttributes,
	"SetSubscriptionAttributes": setSubscriptionAttributes,
	"Publish":                   publish,
	"PublishBatch":              publishBatch,
	"TagResource":               tagResource,
	"UntagResource":             untagResource,
	"ListTagsForResource":       listTagsForResource,
}

func required(c *call, name string) (string, error) {
	v := c.form.Get(name)
	if v == "" {
		return "", topic.ErrInvalidParameter.With("Invalid parameter: %s (the request must contain it)", name)
	}
	return v, nil
}

func createTopic(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	name, err := required(c, "Name")
	if err != nil {
		return nil, err
	}
	arn, err := c.t.CreateTopic(ctx, name, entries(c.form, "Attributes", "key", "value"), tags(c.form, "Tags"))
	if err != nil {
		return nil, err
	}
	return func(w *awsproto.XMLWriter) { w.El("TopicArn", arn) }, nil
}

func deleteTopic(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "TopicArn")
	if err != nil {
		return nil, err
	}
	return nil, c.t.DeleteTopic(ctx, arn)
}

// pageSize is how many items one List* answer carries, as in SNS.
const pageSize = 100

// page returns the slice of n items a NextToken asks for and the next token.
func page(c *call, n int) (from, to int, next string, err error) {
	if tok := c.form.Get("NextToken"); tok != "" {
		from, err = strconv.Atoi(tok)
		if err != nil || from < 0 || from > n {
			return 0, 0, "", topic.ErrInvalidParameter.With("Invalid parameter: NextToken")
		}
	}
	to = min(n, from+pageSize)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next, nil
}

func listTopics(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arns, err := c.t.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	from, to, next, err := page(c, len(arns))
	if err != nil {
		return nil, err
	}
	return func(w *awsproto.XMLWriter) {
		w.Open("Topics")
		for _, a := range arns[from:to] {
			w.Open("member")
			w.El("TopicArn", a)
			w.Close("member")
		}
		w.Close("Topics")
		w.Opt("NextToken", next)
	}, nil
}

func writeAttributes(w *awsproto.XMLWriter, attrs map[string]string) {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.Open("Attributes")
	for _, k := range keys {
		w.Open("entry")
		w.El("key", k)
		w.El("value", attrs[k])
		w.Close("entry")
	}
	w.Close("Attributes")
}

func getTopicAttributes(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "TopicArn")
	if err != nil {
		return nil, err
	}
	attrs, err := c.t.GetTopicAttributes(ctx, arn)
	if err != nil {
		return nil, err
	}
	return func(w *awsproto.XMLWriter) { writeAttributes(w, attrs) }, nil
}

func setTopicAttributes(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "TopicArn")
	if err != nil {
		return nil, err
	}
	name, err := required(c, "AttributeName")
	if err != nil {
		return nil, err
	}
	return nil, c.t.SetTopicAttributes(ctx, arn, name, c.form.Get("AttributeValue"))
}

func subscribe(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "TopicArn")
	if err != nil {
		return nil, err
	}
	proto, err := required(c, "Protocol")
	if err != nil {
		return nil, err
	}
	subArn, pending, err := c.t.Subscribe(ctx, topic.SubscribeInput{TopicArn: arn, Protocol: proto, Endpoint: c.form.Get("Endpoint"),
		Attributes: entries(c.form, "Attributes", "key", "value")})
	if err != nil {
		return nil, err
	}
	if pending && c.form.Get("ReturnSubscriptionArn") != "true" {
		subArn = "pending confirmation"
	}
	return func(w *awsproto.XMLWriter) { w.El("SubscriptionArn", subArn) }, nil
}

func confirmSubscription(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "TopicArn")
	if err != nil {
		return nil, err
	}
	tok, err := required(c, "Token")
	if err != nil {
		return nil, err
	}
	subArn, err := c.t.ConfirmSubscription(ctx, arn, tok)
	if err != nil {
		return nil, err
	}
	// A confirmation by its token alone passes no key check, so it is
	// noted for the audit log here, once it has succeeded (failed
	// anonymous attempts are not recorded: anyone could fill the log).
	if n := awsproto.NoteOf(ctx); n != nil && n.Action == "" {
		n.Action, n.Resource = "sns:ConfirmSubscription", subArn
	}
	return func(w *awsproto.XMLWriter) { w.El("SubscriptionArn", subArn) }, nil
}

func unsubscribe(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "SubscriptionArn")
	if err != nil {
		return nil, err
	}
	return nil, c.t.Unsubscribe(ctx, arn)
}

func writeSubscriptions(c *call, subs []topic.SubscriptionInfo) (func(*awsproto.XMLWriter), error) {
	from, to, next, err := page(c, len(subs))
	if err != nil {
		return nil, err
	}
	return func(w *awsproto.XMLWriter) {
		w.Open("Subscriptions")
		for _, s := range subs[from:to] {
			arn := s.Arn
			if s.PendingConfirmation {
				arn = "PendingConfirmation"
			}
			w.Open("member")
			w.El("TopicArn", s.TopicArn)
			w.El("Protocol", s.Protocol)
			w.El("SubscriptionArn", arn)
			w.El("Owner", s.Owner)
			w.El("Endpoint", s.Endpoint)
			w.Close("member")
		}
		w.Close("Subscriptions")
		w.Opt("NextToken", next)
	}, nil
}

func listSubscriptions(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	subs, err := c.t.ListSubscriptions(ctx, "")
	if err != nil {
		return nil, err
	}
	return writeSubscriptions(c, subs)
}

func listSubscriptionsByTopic(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "TopicArn")
	if err != nil {
		return nil, err
	}
	subs, err := c.t.ListSubscriptions(ctx, arn)
	if err != nil {
		return nil, err
	}
	return writeSubscriptions(c, subs)
}

func getSubscriptionAttributes(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "SubscriptionArn")
	if err != nil {
		return nil, err
	}
	attrs, err := c.t.GetSubscriptionAttributes(ctx, arn)
	if err != nil {
		return nil, err
	}
	return func(w *awsproto.XMLWriter) { writeAttributes(w, attrs) }, nil
}

func setSubscriptionAttributes(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "SubscriptionArn")
	if err != nil {
		return nil, err
	}
	name, err := required(c, "AttributeName")
	if err != nil {
		return nil, err
	}
	return nil, c.t.SetSubscriptionAttributes(ctx, arn, name, c.form.Get("AttributeValue"))
}

// publishTarget is the topic a Publish names (TopicArn or TargetArn).
func publishTarget(c *call) (string, error) {
	if arn := c.form.Get("TopicArn"); arn != "" {
		return arn, nil
	}
	if arn := c.form.Get("TargetArn"); arn != "" {
		return arn, nil
	}
	if c.form.Get("PhoneNumber") != "" {
		return "", topic.ErrInvalidParameter.With("Invalid parameter: PhoneNumber Reason: SMS is not supported by Orch; publish to a topic")
	}
	return "", topic.ErrInvalidParameter.With("Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
}

func publishInput(c *call, prefix string) (topic.PublishInput, error) {
	attrs, err := messageAttributes(c.form, prefix+"MessageAttributes")
	if err != nil {
		return topic.PublishInput{}, err
	}
	return topic.PublishInput{
		ID: c.form.Get(prefix + "Id"), Message: c.form.Get(prefix + "Message"), Subject: c.form.Get(prefix + "Subject"),
		MessageStructure: c.form.Get(prefix + "MessageStructure"), Attributes: attrs,
		MessageGroupID: c.form.Get(prefix + "MessageGroupId"), MessageDeduplicationID: c.form.Get(prefix + "MessageDeduplicationId"),
	}, nil
}

func publish(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := publishTarget(c)
	if err != nil {
		return nil, err
	}
	in, err := publishInput(c, "")
	if err != nil {
		return nil, err
	}
	res, err := c.t.Publish(ctx, arn, in)
	if err != nil {
		return nil, err
	}
	return func(w *awsproto.XMLWriter) {
		w.El("MessageId", res.MessageID)
		w.Opt("SequenceNumber", res.SequenceNumber)
	}, nil
}

func publishBatch(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "TopicArn")
	if err != nil {
		return nil, err
	}
	var ins []topic.PublishInput
	for i := 1; ; i++ {
		prefix := "PublishBatchRequestEntries.member." + strconv.Itoa(i) + "."
		if !hasPrefix(c.form, prefix) {
			break
		}
		in, err := publishInput(c, prefix)
		if err != nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	res, fails, err := c.t.PublishBatch(ctx, arn, ins)
	if err != nil {
		return nil, err
	}
	return func(w *awsproto.XMLWriter) {
		w.Open("Successful")
		for _, r := range res {
			w.Open("member")
			w.El("Id", r.ID)
			w.El("MessageId", r.MessageID)
			w.Opt("SequenceNumber", r.SequenceNumber)
			w.Close("member")
		}
		w.Close("Successful")
		w.Open("Failed")
		for _, f := range fails {
			e := toWire(f.Err)
			w.Open("member")
			w.El("Id", f.ID)
			w.El("Code", e.Code)
			w.El("Message", e.Message)
			w.El("SenderFault", strconv.FormatBool(e.HTTPStatus() < 500))
			w.Close("member")
		}
		w.Close("Failed")
	}, nil
}

func tagResource(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "ResourceArn")
	if err != nil {
		return nil, err
	}
	// TagResource and UntagResource answer an empty Result element (their
	// output shapes exist but have no members; clients expect it).
	return func(*awsproto.XMLWriter) {}, c.t.TagResource(ctx, arn, tags(c.form, "Tags"))
}

func untagResource(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "ResourceArn")
	if err != nil {
		return nil, err
	}
	return func(*awsproto.XMLWriter) {}, c.t.UntagResource(ctx, arn, members(c.form, "TagKeys"))
}

func listTagsForResource(ctx context.Context, c *call) (func(*awsproto.XMLWriter), error) {
	arn, err := required(c, "ResourceArn")
	if err != nil {
		return nil, err
	}
	ts, err := c.t.ListTagsForResource(ctx, arn)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(ts))
	for k := range ts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return func(w *awsproto.XMLWriter) {
		w.Open("Tags")
		for _, k := range keys {
			w.Open("member")
			w.El("Key", k)
			w.El("Value", ts[k])
			w.Close("member")
		}
		w.Close("Tags")
	}, nil
}

// binary decodes a query BinaryValue (base64).
func binary(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
