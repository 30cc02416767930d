package model

import (
	"errors"
	"strings"
)

// QueueSpec is a `kind: Queue` manifest document and the body of
// POST /v1/queues: the shape of SQS CreateQueue.
type QueueSpec struct {
	QueueName  string            `json:"QueueName"`
	Attributes map[string]string `json:"Attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// Validate checks the name and attribute values (not references to other
// queues, which only the queue service can check).
func (s *QueueSpec) Validate() error {
	var es FieldErrors
	if err := ValidateQueueName(s.QueueName); err != nil {
		es.Add("QueueName", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	fifo := strings.HasSuffix(s.QueueName, ".fifo")
	if fifo && !strings.EqualFold(s.Attributes[QAFifoQueue], "true") {
		es.Add("Attributes.FifoQueue", "must be \"true\" for a queue whose name ends in .fifo (or drop the .fifo suffix for a standard queue)")
	}
	if _, err := ParseQueueAttributes(s.Attributes, fifo); err != nil {
		var ae *AttributeError
		if errors.As(err, &ae) {
			msg := ae.Message
			if ae.Unknown {
				msg = "unknown attribute (see the SQS CreateQueue reference)"
			}
			es.Add("Attributes."+ae.Name, msg)
		} else {
			es.Add("Attributes", err.Error())
		}
	}
	return es.Err()
}
