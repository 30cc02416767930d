package wire

import "github.com/orch-project/orch/pkg/model"

// QueueView is a queue as GET /v1/queues and GET /v1/queues/{name} show it:
// its counts, and (for one queue) its attributes, tags and the queues that
// use it as their dead-letter queue.
type QueueView struct {
	Name             string            `json:"name"`
	Fifo             bool              `json:"fifo"`
	Visible          int               `json:"visible"`
	InFlight         int               `json:"inFlight"`
	Delayed          int               `json:"delayed"`
	OldestAgeSeconds int64             `json:"oldestAgeSeconds"`
	DeadLetterQueue  string            `json:"deadLetterQueue,omitempty"`
	MaxReceiveCount  int               `json:"maxReceiveCount,omitempty"`
	URL              string            `json:"url"`
	Arn              string            `json:"arn"`
	Attributes       map[string]string `json:"attributes,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	Sources          []string          `json:"deadLetterSources,omitempty"`
	// Owner is the advertised URL of the server replica serving the
	// queue (its shard's owner); empty on a single server.
	Owner string `json:"owner,omitempty"`
}

// QueueList is a page of GET /v1/queues (maxResults, nextToken as the
// other /v1 lists; NextToken is "" on the last page).
type QueueList struct {
	Queues    []*QueueView `json:"queues"`
	NextToken string       `json:"nextToken"`
}

// SendMessageRequest is POST /v1/queues/{name}/messages.
type SendMessageRequest struct {
	Body            string                                 `json:"body"`
	DelaySeconds    *int                                   `json:"delaySeconds,omitempty"`
	Attributes      map[string]model.MessageAttributeValue `json:"attributes,omitempty"`
	GroupID         string                                 `json:"groupId,omitempty"`
	DeduplicationID string                                 `json:"deduplicationId,omitempty"`
}

// ReceiveMessagesRequest is POST /v1/queues/{name}/receive.
type ReceiveMessagesRequest struct {
	Max               int  `json:"max,omitempty"`
	WaitSeconds       int  `json:"waitSeconds,omitempty"`
	VisibilityTimeout *int `json:"visibilityTimeout,omitempty"`
	// Delete deletes what was received (orch queue receive --delete).
	Delete bool `json:"delete,omitempty"`
}

// QueueMessage is one message in a receive answer.
type QueueMessage struct {
	MessageID     string            `json:"messageId"`
	ReceiptHandle string            `json:"receiptHandle"`
	Body          string            `json:"body"`
	Attributes    map[string]string `json:"attributes,omitempty"`
}

// RedriveRequest is POST /v1/queues/{name}/redrive: move a dead-letter
// queue's messages back to their source (or to Destination).
type RedriveRequest struct {
	Destination string `json:"destination,omitempty"`
	RatePerSec  int    `json:"ratePerSecond,omitempty"`
}
