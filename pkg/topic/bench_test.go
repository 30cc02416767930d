package topic

import (
	"context"
	"fmt"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

// BenchmarkPublishFilter measures filter evaluation through the real
// Publish path (stored in etcd, then matched against every subscription):
// a topic with 200 queue subscriptions, each with a 5-key filter policy
// that the message fails on its last key (so every key of every policy is
// evaluated and nothing is delivered), against the same topic with no
// subscriptions, in the same run. The difference per op is the filter cost
// of one message against 200 policies.
//
//	go test -run '^$' -bench PublishFilter -benchtime 2000x ./pkg/topic/
func BenchmarkPublishFilter(b *testing.B) {
	attrs := map[string]model.MessageAttributeValue{
		"store": {DataType: "String", StringValue: "downtown"},
		"kind":  {DataType: "String", StringValue: "coupon"},
		"price": {DataType: "Number", StringValue: "4.5"},
		"drink": {DataType: "String", StringValue: "latte"},
		"size":  {DataType: "String", StringValue: "small"},
	}
	for _, subs := range []int{0, 200} {
		b.Run(fmt.Sprintf("subscriptions=%d", subs), func(b *testing.B) {
			e := newEnv(b)
			arn := e.topic(fmt.Sprintf("bench-filter-%d", subs), nil)
			for i := range subs {
				policy := fmt.Sprintf(`{"store":["downtown","harbour"],"kind":[{"prefix":"coup"}],"price":[{"numeric":[">",0,"<=",%d]}],"drink":[{"anything-but":["tea"]}],"size":["large-%d"]}`, 10+i, i)
				e.subscribe(arn, fmt.Sprintf("bench-q%d", i), map[string]string{model.SAFilterPolicy: policy})
			}
			in := PublishInput{Message: "m", Attributes: attrs}
			b.ResetTimer()
			for range b.N {
				if _, err := e.s.Publish(context.Background(), arn, in); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if n := len(e.q.got("bench-q0")); n != 0 {
				b.Fatalf("%d messages delivered, want 0 (the policies must not match)", n)
			}
		})
	}
}
