package topic

import (
	"math"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// SNS's default retry policies when neither the subscription nor the topic
// sets one: for queues and functions 100,015 attempts over about 23 days
// (3 at once, 2 after 1 s, 10 backing off from 1 to 20 s, 100,000 every
// 20 s); for http/https 3 retries 20 s apart.
var (
	defaultManagedRetry = model.RetryPolicy{MinDelayTarget: 1, MaxDelayTarget: 20, NumRetries: 100015,
		NumNoDelayRetries: 3, NumMinDelayRetries: 2, NumMaxDelayRetries: 100000, BackoffFunction: "exponential"}
	defaultHTTPRetry = model.RetryPolicy{MinDelayTarget: 20, MaxDelayTarget: 20, NumRetries: 3, BackoffFunction: "linear"}
)

// effectivePolicy is the retry policy a subscription's deliveries follow.
func effectivePolicy(explicit *model.RetryPolicy, protocol string) *model.RetryPolicy {
	if explicit != nil {
		return explicit
	}
	if protocol == model.ProtocolHTTP || protocol == model.ProtocolHTTPS {
		return &defaultHTTPRetry
	}
	return &defaultManagedRetry
}

// nextDelay is how long to wait before retrying after the given number of
// failed attempts, and false when the policy has no retry left. A
// permanent failure (the endpoint does not exist) is not retried unless a
// policy was set explicitly, as SNS does with client-side errors.
//
// The phases follow SNS: numNoDelayRetries at once, numMinDelayRetries
// after minDelayTarget, the backoff phase from min to max along
// backoffFunction, then numMaxDelayRetries after maxDelayTarget.
func nextDelay(explicit *model.RetryPolicy, protocol string, failures int, permanent bool) (time.Duration, bool) {
	if permanent && explicit == nil {
		return 0, false
	}
	p := effectivePolicy(explicit, protocol)
	r := failures // the retry about to happen, 1-based
	if r > p.NumRetries {
		return 0, false
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	if r <= p.NumNoDelayRetries {
		return 0, true
	}
	r -= p.NumNoDelayRetries
	if r <= p.NumMinDelayRetries {
		return sec(float64(p.MinDelayTarget)), true
	}
	r -= p.NumMinDelayRetries
	backoff := p.NumRetries - p.NumNoDelayRetries - p.NumMinDelayRetries - p.NumMaxDelayRetries
	if r <= backoff {
		f := float64(r) / float64(backoff)
		switch p.BackoffFunction {
		case "arithmetic":
			f = f * f
		case "geometric":
			f = f * f * f
		case "exponential":
			f = (math.Pow(2, float64(r)) - 1) / (math.Pow(2, float64(backoff)) - 1)
		}
		min, max := float64(p.MinDelayTarget), float64(p.MaxDelayTarget)
		return sec(min + (max-min)*f), true
	}
	return sec(float64(p.MaxDelayTarget)), true
}

// effectiveDeliveryPolicy renders what GetTopicAttributes and
// GetSubscriptionAttributes show as EffectiveDeliveryPolicy.
func effectiveDeliveryPolicy(set string) string {
	if set != "" {
		return set
	}
	return `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}`
}
