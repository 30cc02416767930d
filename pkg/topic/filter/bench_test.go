package filter

import (
	"fmt"
	"testing"
)

// benchPolicies returns n policies of five keys each, mixing the operators
// a real topic's subscriptions use.
func benchPolicies(n int) []string {
	out := make([]string, n)
	for i := range out {
		var interests, ip string
		switch i % 4 {
		case 0:
			interests = `[{"prefix": "rug"}, "tennis"]`
		case 1:
			interests = `[{"equals-ignore-case": "SOCCER"}]`
		case 2:
			interests = `[{"suffix": "key"}, "golf"]`
		default:
			interests = `[{"anything-but": ["chess", "darts"]}]`
		}
		if i%3 == 0 {
			ip = `[{"exists": true}]`
		} else {
			ip = fmt.Sprintf(`[{"cidr": "10.%d.0.0/16"}]`, i%256)
		}
		out[i] = fmt.Sprintf(`{"store": ["store-%d", "example_corp"], "event": [{"anything-but": ["order_cancelled", "order_%d"]}], `+
			`"customer_interests": %s, "price_usd": [{"numeric": [">=", %d, "<", 1000]}], "source_ip": %s}`,
			i%20, i, interests, i, ip)
	}
	return out
}

var benchMessage = Message{
	Attributes: map[string]Attribute{
		"customer_interests": {DataType: "String.Array", Value: `["soccer", "rugby", "hockey"]`},
		"store":              {DataType: "String", Value: "example_corp"},
		"event":              {DataType: "String", Value: "order_placed"},
		"price_usd":          {DataType: "Number", Value: "210.75"},
		"source_ip":          {DataType: "String", Value: "10.7.1.20"},
		"region":             {DataType: "String", Value: "eu-west-1"},
		"trace":              {DataType: "String", Value: "Root=1-5759e988-bd862e3fe1be46a994272793"},
	},
	Body: `{"customer_interests": ["soccer", "rugby", "hockey"], "store": "example_corp", "event": "order_placed", ` +
		`"price_usd": 210.75, "source_ip": "10.7.1.20", "region": "eu-west-1", "items": [{"sku": "A1", "qty": 2}]}`,
}

// BenchmarkMatch200x5 evaluates one message against 200 subscriptions with
// a 5-key policy each. One op is one message; ns/policy is the cost of one
// policy evaluation, and cpu-ns/policy the process CPU time per policy
// evaluation (what the work costs when the machine is shared and the wall
// clock includes waiting for a core). "naive-reparse" is the baseline: the
// same policies parsed again for every message instead of compiled once.
func BenchmarkMatch200x5(b *testing.B) {
	texts := benchPolicies(200)
	for _, scope := range []Scope{ScopeMessageAttributes, ScopeMessageBody} {
		compiled := make([]*Policy, len(texts))
		for i, t := range texts {
			p, err := Parse(t, scope)
			if err != nil {
				b.Fatalf("policy %d: %v", i, err)
			}
			compiled[i] = p
		}
		want := 0
		for _, p := range compiled {
			if p.Match(benchMessage) {
				want++
			}
		}
		if want == 0 || want == len(compiled) {
			b.Fatalf("%s: %d of %d policies match: the benchmark should exercise both outcomes", scope, want, len(compiled))
		}
		suffix := ""
		if scope == ScopeMessageBody {
			suffix = "-body"
		}
		b.Run("compiled"+suffix, func(b *testing.B) {
			b.ReportAllocs()
			matched := 0
			cpu0 := processCPU()
			for b.Loop() {
				matched = 0
				for _, p := range compiled {
					if p.Match(benchMessage) {
						matched++
					}
				}
			}
			if matched != want {
				b.Fatalf("matched %d, want %d", matched, want)
			}
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N)/float64(len(compiled)), "cpu-ns/policy")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(compiled)), "ns/policy")
			b.ReportMetric(float64(matched), "matched")
		})
		b.Run("naive-reparse"+suffix, func(b *testing.B) {
			b.ReportAllocs()
			matched := 0
			cpu0 := processCPU()
			for b.Loop() {
				matched = 0
				for _, t := range texts {
					p, err := Parse(t, scope)
					if err != nil {
						b.Fatal(err)
					}
					if p.Match(benchMessage) {
						matched++
					}
				}
			}
			if matched != want {
				b.Fatalf("matched %d, want %d", matched, want)
			}
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N)/float64(len(texts)), "cpu-ns/policy")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(texts)), "ns/policy")
			b.ReportMetric(float64(matched), "matched")
		})
	}
}
