package topic

import "github.com/orch-project/orch/pkg/model"

// Matcher decides whether a message reaches a subscription (its filter
// policy); nil matches everything.
type Matcher interface {
	Match(attrs map[string]model.MessageAttributeValue, body string) bool
}

// compileFilter parses a subscription's FilterPolicy in its scope; "" is
// no policy (nil).
func compileFilter(policy, scope string) (Matcher, error) {
	if policy == "" {
		return nil, nil
	}
	return nil, invalid("FilterPolicy: filter policies arrive with pkg/topic/filter, which this build does not have yet")
}
