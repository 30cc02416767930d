package manifest

import (
	"errors"

	"github.com/orch-project/orch/pkg/model"
)

// KindTopic is the manifest kind of topics: the shape of SNS CreateTopic
// (Name, Attributes, Tags) plus a subscriptions list (Protocol, Endpoint,
// Attributes; an sqs Endpoint may name a queue of the cluster).
const KindTopic = "Topic"

// TopicKind reads topics (pkg/topic serves them; pkg/api/sns applies them).
var TopicKind = Kind{Name: KindTopic, Decode: decodeTopic}

func decodeTopic(b *Body) (any, string, error) {
	var s model.TopicSpec
	if err := b.Decode(&s, nil); err != nil {
		return nil, s.Name, err
	}
	if err := s.Validate(); err != nil {
		var fes model.FieldErrors
		if errors.As(err, &fes) {
			return nil, s.Name, fes
		}
		return nil, s.Name, err
	}
	return &s, s.Name, nil
}
