package topic

import (
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

func TestNextDelay(t *testing.T) {
	explicit := &model.RetryPolicy{MinDelayTarget: 2, MaxDelayTarget: 10, NumRetries: 6, NumNoDelayRetries: 1,
		NumMinDelayRetries: 1, NumMaxDelayRetries: 1, BackoffFunction: "linear"}
	tests := []struct {
		name      string
		policy    *model.RetryPolicy
		protocol  string
		failures  int
		permanent bool
		want      time.Duration
		again     bool
	}{
		{"sqs default: 3 immediate retries", nil, "sqs", 3, false, 0, true},
		{"sqs default: then 2 after 1 s", nil, "sqs", 4, false, time.Second, true},
		{"sqs default: 2nd min-delay retry", nil, "sqs", 5, false, time.Second, true},
		{"sqs default: backoff ends at 20 s", nil, "sqs", 15, false, 20 * time.Second, true},
		{"sqs default: then every 20 s", nil, "sqs", 5000, false, 20 * time.Second, true},
		{"sqs default: gives up after 100,015 retries", nil, "sqs", 100016, false, 0, false},
		{"permanent failure without a policy: dead-letter at once", nil, "sqs", 1, true, 0, false},
		{"http default: 20 s apart", nil, "http", 1, false, 20 * time.Second, true},
		{"http default: 3 retries", nil, "http", 4, false, 0, false},
		{"explicit: no-delay phase", explicit, "sqs", 1, true, 0, true},
		{"explicit: min-delay phase", explicit, "sqs", 2, true, 2 * time.Second, true},
		{"explicit: linear backoff 1 of 3", explicit, "sqs", 3, false, 2*time.Second + 8*time.Second/3, true},
		{"explicit: linear backoff 3 of 3", explicit, "sqs", 5, false, 10 * time.Second, true},
		{"explicit: max-delay phase", explicit, "sqs", 6, false, 10 * time.Second, true},
		{"explicit: exhausted", explicit, "sqs", 7, false, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, again := nextDelay(tc.policy, tc.protocol, tc.failures, tc.permanent)
			if again != tc.again || (again && (got-tc.want).Abs() > time.Millisecond) {
				t.Fatalf("nextDelay(after %d failures) = %v, %v; want %v, %v", tc.failures, got, again, tc.want, tc.again)
			}
		})
	}
}

func TestParseDeliveryPolicyBounds(t *testing.T) {
	for _, tc := range []struct {
		doc string
		ok  bool
	}{
		{`{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":5,"numRetries":3}}`, true},
		{`{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3}}}`, true},
		{`{"healthyRetryPolicy":{"minDelayTarget":0,"maxDelayTarget":5,"numRetries":3}}`, false},
		{`{"healthyRetryPolicy":{"minDelayTarget":6,"maxDelayTarget":5,"numRetries":3}}`, false},
		{`{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":5,"numRetries":101}}`, false},
		{`{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":5,"numRetries":2,"numNoDelayRetries":3}}`, false},
		{`{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":5,"numRetries":2,"backoffFunction":"cubic"}}`, false},
		{`{"healthyRetryPolicy":{"minDelay":1}}`, false},
	} {
		_, err := model.ParseDeliveryPolicy(tc.doc)
		if (err == nil) != tc.ok {
			t.Errorf("ParseDeliveryPolicy(%s): err %v, want ok=%v", tc.doc, err, tc.ok)
		}
	}
}
