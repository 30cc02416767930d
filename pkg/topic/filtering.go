package topic

import (
	"errors"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/topic/filter"
)

// compileFilter parses a subscription's FilterPolicy in its scope
// (pkg/topic/filter); "" is no policy (nil, which matches everything).
func compileFilter(policy, scope string) (*filter.Policy, error) {
	sc, err := filter.ParseScope(scope)
	if err != nil {
		return nil, invalid("FilterPolicyScope: %v", err)
	}
	if policy == "" {
		return nil, nil
	}
	p, err := filter.Parse(policy, sc)
	if err != nil {
		var fe *filter.Error
		if errors.As(err, &fe) {
			return nil, invalid("FilterPolicy: %s", fe.Reason)
		}
		return nil, invalid("FilterPolicy: %v", err)
	}
	return p, nil
}

// filterMessage is what filter policies see of a published message: its
// attributes (binary ones never match) and its body.
func filterMessage(rec *model.TopicMessage) filter.Message {
	m := filter.Message{Body: rec.Message}
	if len(rec.Attributes) > 0 {
		m.Attributes = make(map[string]filter.Attribute, len(rec.Attributes))
		for k, v := range rec.Attributes {
			m.Attributes[k] = filter.Attribute{DataType: v.DataType, Value: v.StringValue}
		}
	}
	return m
}
