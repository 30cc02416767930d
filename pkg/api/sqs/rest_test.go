package sqs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orch-project/orch/pkg/api/sqs"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

func TestRESTAndApplier(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	for p, h := range sqs.NewREST(e.broker, nil).Routes() {
		mux.HandleFunc(p, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	call := func(method, path string, body any, wantStatus int) []byte {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+path, r)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, wantStatus)
		}
		return b
	}
	a := sqs.Applier{Broker: e.broker}
	ctx := context.Background()
	obj, err := a.Decode(json.RawMessage(`{"QueueName":"orders","Attributes":{"VisibilityTimeout":"10"},"tags":{"team":"coffee"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := a.Apply(ctx, obj); err != nil || r.Action != "created" {
		t.Fatalf("apply = %+v %v", r, err)
	}
	if r, err := a.Apply(ctx, obj); err != nil || r.Action != "unchanged" {
		t.Fatalf("re-apply = %+v %v", r, err)
	}
	if _, err := a.Decode(json.RawMessage(`{"QueueName":"bad name","Attributes":{"DelaySeconds":"5000"}}`)); err == nil {
		t.Fatal("bad spec accepted")
	}
	call("POST", "/v1/queues/orders/messages", wire.SendMessageRequest{Body: "latte"}, 200)
	var list wire.QueueList
	json.Unmarshal(call("GET", "/v1/queues", nil, 200), &list)
	if views := list.Queues; len(views) != 1 || views[0].Visible != 1 || views[0].Name != "orders" || list.NextToken != "" {
		t.Fatalf("list = %+v", list)
	}
	call("GET", "/v1/queues?maxResults=0", nil, 400)
	call("GET", "/v1/queues?nextToken=!!", nil, 400)
	var ms []wire.QueueMessage
	json.Unmarshal(call("POST", "/v1/queues/orders/receive", wire.ReceiveMessagesRequest{Delete: true}, 200), &ms)
	if len(ms) != 1 || ms[0].Body != "latte" {
		t.Fatalf("receive = %+v", ms)
	}
	var v wire.QueueView
	json.Unmarshal(call("GET", "/v1/queues/orders", nil, 200), &v)
	if v.Visible != 0 || v.InFlight != 0 || v.Attributes[model.QAVisibilityTimeout] != "10" || v.Tags["team"] != "coffee" {
		t.Fatalf("describe = %+v", v)
	}
	call("GET", "/v1/queues/nope", nil, 404)
	call("POST", "/v1/queues/orders/purge", nil, 200)
	call("DELETE", "/v1/queues/orders", nil, 200)
	call("POST", "/v1/queues", model.QueueSpec{QueueName: "x", Attributes: map[string]string{"Nope": "1"}}, 400)
}
