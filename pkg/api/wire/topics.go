package wire

// TopicView is a topic as GET /v1/topics and GET /v1/topics/{name} show it.
type TopicView struct {
	Name          string             `json:"name"`
	Arn           string             `json:"arn"`
	Fifo          bool               `json:"fifo"`
	Attributes    map[string]string  `json:"attributes,omitempty"`
	Tags          map[string]string  `json:"tags,omitempty"`
	Subscriptions []SubscriptionView `json:"subscriptions"`
}

// SubscriptionView is one subscription with its delivery counters (since
// the serving replica took over the topics).
type SubscriptionView struct {
	Arn          string            `json:"arn"`
	Protocol     string            `json:"protocol"`
	Endpoint     string            `json:"endpoint"`
	State        string            `json:"state"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	Delivered    int64             `json:"delivered"`
	Failures     int64             `json:"failures"`
	DeadLettered int64             `json:"deadLettered"`
	Pending      int64             `json:"pending"`
	Dropped      int64             `json:"dropped"`
}

// TopicList is a page of GET /v1/topics (maxResults, nextToken as the
// other /v1 lists; NextToken is "" on the last page).
type TopicList struct {
	Topics    []TopicView `json:"topics"`
	NextToken string      `json:"nextToken"`
}

// PublishRequest is POST /v1/topics/{name}/publish.
type PublishRequest struct {
	Message         string            `json:"message"`
	Subject         string            `json:"subject,omitempty"`
	Attributes      map[string]string `json:"attributes,omitempty"`
	GroupID         string            `json:"groupId,omitempty"`
	DeduplicationID string            `json:"deduplicationId,omitempty"`
}

// SubscribeRequest is POST /v1/topics/{name}/subscriptions; an sqs
// Endpoint may be a queue name.
type SubscribeRequest struct {
	Protocol   string            `json:"protocol"`
	Endpoint   string            `json:"endpoint"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// UnsubscribeRequest is POST /v1/topics/{name}/unsubscribe.
type UnsubscribeRequest struct {
	SubscriptionArn string `json:"subscriptionArn"`
}
