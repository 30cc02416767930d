package sqs

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
)

// rtState is what a round trip remembers between actions.
type rtState struct {
	base, name, dlq string // server URL, queue names
	handles         []string
	task            string
}

func (s *rtState) url(name string) string { return s.base + "/" + model.AccountID + "/" + name }
func (s *rtState) arn(name string) string { return model.QueueArn(model.DefaultRegion, name) }

// rtStep is one call of a round trip: its parameters in the JSON shape
// (flattened for the query protocol by toForm), the error it must answer
// with (nil for success), and what to remember from the answer.
type rtStep struct {
	action  string
	params  func(s *rtState) map[string]any
	wantErr error
	keep    func(s *rtState, body string)
}

var rtSteps = []rtStep{
	{action: "CreateQueue", params: func(s *rtState) map[string]any { return map[string]any{"QueueName": s.dlq} }},
	{action: "CreateQueue", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueName": s.name, "Attributes": map[string]string{
			model.QARedrivePolicy: `{"deadLetterTargetArn":"` + s.arn(s.dlq) + `","maxReceiveCount":5}`}}
	}},
	{action: "GetQueueUrl", params: func(s *rtState) map[string]any { return map[string]any{"QueueName": s.name} }},
	{action: "ListQueues", params: func(s *rtState) map[string]any { return map[string]any{"QueueNamePrefix": s.name} }},
	{action: "SetQueueAttributes", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "Attributes": map[string]string{model.QAVisibilityTimeout: "30"}}
	}},
	{action: "GetQueueAttributes", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "AttributeNames": []string{"All"}}
	}},
	{action: "TagQueue", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "Tags": map[string]string{"team": "coffee", "env": "dev"}}
	}},
	{action: "UntagQueue", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "TagKeys": []string{"env"}}
	}},
	{action: "ListQueueTags", params: func(s *rtState) map[string]any { return map[string]any{"QueueUrl": s.url(s.name)} }},
	{action: "ListDeadLetterSourceQueues", params: func(s *rtState) map[string]any { return map[string]any{"QueueUrl": s.url(s.dlq)} }},
	{action: "SendMessage", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "MessageBody": "hello"}
	}},
	{action: "SendMessageBatch", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "Entries": []map[string]any{
			{"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two", "DelaySeconds": 0}}}
	}},
	{action: "ReceiveMessage", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "MaxNumberOfMessages": 10, "AttributeNames": []string{"All"}}
	}, keep: func(s *rtState, body string) { s.handles = extract(body, "ReceiptHandle") }},
	{action: "ChangeMessageVisibility", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "ReceiptHandle": s.handles[0], "VisibilityTimeout": 60}
	}},
	{action: "ChangeMessageVisibilityBatch", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "Entries": []map[string]any{
			{"Id": "x", "ReceiptHandle": s.handles[1], "VisibilityTimeout": 60}}}
	}},
	{action: "DeleteMessage", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "ReceiptHandle": s.handles[0]}
	}},
	{action: "DeleteMessageBatch", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "Entries": []map[string]any{{"Id": "y", "ReceiptHandle": s.handles[1]}}}
	}},
	{action: "PurgeQueue", params: func(s *rtState) map[string]any { return map[string]any{"QueueUrl": s.url(s.name)} }},
	{action: "SendMessageBatch", params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.dlq), "Entries": []map[string]any{
			{"Id": "a", "MessageBody": "1"}, {"Id": "b", "MessageBody": "2"}, {"Id": "c", "MessageBody": "3"}}}
	}},
	// One message a second: the task is still running when it is cancelled.
	{action: "StartMessageMoveTask", params: func(s *rtState) map[string]any {
		return map[string]any{"SourceArn": s.arn(s.dlq), "DestinationArn": s.arn(s.name), "MaxNumberOfMessagesPerSecond": 1}
	}, keep: func(s *rtState, body string) { s.task = extract(body, "TaskHandle")[0] }},
	{action: "ListMessageMoveTasks", params: func(s *rtState) map[string]any { return map[string]any{"SourceArn": s.arn(s.dlq)} }},
	{action: "CancelMessageMoveTask", params: func(s *rtState) map[string]any { return map[string]any{"TaskHandle": s.task} }},
	{action: "AddPermission", wantErr: queue.ErrUnsupportedOperation, params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "Label": "l"}
	}},
	{action: "RemovePermission", wantErr: queue.ErrUnsupportedOperation, params: func(s *rtState) map[string]any {
		return map[string]any{"QueueUrl": s.url(s.name), "Label": "l"}
	}},
	{action: "DeleteQueue", params: func(s *rtState) map[string]any { return map[string]any{"QueueUrl": s.url(s.name)} }},
	{action: "DeleteQueue", params: func(s *rtState) map[string]any { return map[string]any{"QueueUrl": s.url(s.dlq)} }},
}

// extract finds every value of field in a JSON ("Field":"v") or XML
// (<Field>v</Field>) answer.
func extract(body, field string) []string {
	re := regexp.MustCompile(`"` + field + `":"([^"]*)"|<` + field + `>([^<]*)</` + field + `>`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

// toForm flattens JSON-shaped parameters into the query protocol's form.
func toForm(action string, params map[string]any) url.Values {
	f := url.Values{"Action": {action}}
	for k, v := range params {
		switch v := v.(type) {
		case string:
			f.Set(k, v)
		case int:
			f.Set(k, strconv.Itoa(v))
		case map[string]string:
			prefix, key := "Attribute", "Name"
			if k == "Tags" {
				prefix, key = "Tag", "Key"
			}
			keys := make([]string, 0, len(v))
			for kk := range v {
				keys = append(keys, kk)
			}
			sort.Strings(keys)
			for i, kk := range keys {
				n := prefix + "." + strconv.Itoa(i+1) + "."
				f.Set(n+key, kk)
				f.Set(n+"Value", v[kk])
			}
		case []string:
			name := strings.TrimSuffix(k, "s") // AttributeNames → AttributeName.1, TagKeys → TagKey.1
			for i, s := range v {
				f.Set(name+"."+strconv.Itoa(i+1), s)
			}
		case []map[string]any:
			for i, e := range v {
				for ek, ev := range e {
					n := action + "RequestEntry." + strconv.Itoa(i+1) + "." + ek
					if s, ok := ev.(string); ok {
						f.Set(n, s)
					} else {
						f.Set(n, strconv.Itoa(ev.(int)))
					}
				}
			}
		default:
			panic("toForm: no query form for " + k)
		}
	}
	return f
}

// TestEveryActionRoundTrips sends every action of the table in both
// protocols through the handler and a real broker, and checks that each
// answers in its protocol's shape.
func TestEveryActionRoundTrips(t *testing.T) {
	covered := map[string]bool{}
	for _, s := range rtSteps {
		covered[s.action] = true
	}
	for a := range actions {
		if !covered[a] {
			t.Errorf("action %s has no round-trip step: add one to rtSteps", a)
		}
	}

	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := queue.New(st, queue.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LogDir: t.TempDir()})
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	srv := httptest.NewServer(NewHandler(b, nil, nil))
	t.Cleanup(func() { srv.Close(); cancel(); <-done; st.Close() })

	for _, proto := range []string{"json", "query"} {
		t.Run(proto, func(t *testing.T) {
			s := &rtState{base: srv.URL, name: "rt-" + proto, dlq: "rt-" + proto + "-dlq"}
			for i, step := range rtSteps {
				params := step.params(s)
				var req *http.Request
				if proto == "json" {
					b, _ := json.Marshal(params)
					req, _ = http.NewRequest("POST", srv.URL+"/", strings.NewReader(string(b)))
					req.Header.Set("X-Amz-Target", targetPrefix+step.action)
					req.Header.Set("Content-Type", "application/x-amz-json-1.0")
				} else {
					req, _ = http.NewRequest("POST", srv.URL+"/", strings.NewReader(toForm(step.action, params).Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("step %d %s: %v", i, step.action, err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body := string(raw)
				if step.wantErr != nil {
					want := toWire(step.wantErr)
					code, wantCode := "", want.Query()
					if proto == "json" {
						code, wantCode = strings.TrimPrefix(extractJSON(t, body)["__type"], jsonDialect.TypePrefix), want.Code
					} else if c := extract(body, "Code"); len(c) > 0 {
						code = c[0]
					}
					if resp.StatusCode != want.HTTPStatus() || code != wantCode {
						t.Fatalf("step %d %s = %d %s, want %d %s", i, step.action, resp.StatusCode, body, want.HTTPStatus(), wantCode)
					}
					continue
				}
				if resp.StatusCode != 200 {
					t.Fatalf("step %d %s = %d %s, want 200", i, step.action, resp.StatusCode, body)
				}
				if proto == "json" {
					extractJSON(t, body)
					// The SDKs pick the decoder by Content-Type and report
					// the request id from this header.
					if ct, id := resp.Header.Get("Content-Type"), resp.Header.Get("X-Amzn-RequestId"); ct != "application/x-amz-json-1.0" || len(id) != 36 {
						t.Fatalf("step %d %s: Content-Type %q, x-amzn-RequestId %q; want application/x-amz-json-1.0 and a UUID", i, step.action, ct, id)
					}
				} else {
					var root struct{ XMLName xml.Name }
					if err := xml.Unmarshal(raw, &root); err != nil || root.XMLName.Local != step.action+"Response" {
						t.Fatalf("step %d %s: XML root %q (%v), want %sResponse: %s", i, step.action, root.XMLName.Local, err, step.action, body)
					}
				}
				if step.keep != nil {
					step.keep(s, body)
				}
			}
		})
	}
}

// extractJSON parses a JSON answer whose values are all wanted as text.
func extractJSON(t *testing.T, body string) map[string]string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, body)
	}
	out := map[string]string{}
	for k, x := range v {
		if s, ok := x.(string); ok {
			out[k] = s
		}
	}
	return out
}
