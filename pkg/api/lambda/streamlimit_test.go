package lambda

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// A server never writes a line the agents would refuse: an invocation
// whose line would be over wire.MaxInvocationLine (a function stored with
// a spec larger than validation now allows, and a 6 MB payload) fails at
// once with ErrPayloadTooLarge, and the stream carries the next one.
func TestTheServerFailsAnInvocationTooLargeForTheStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := function.New(function.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := NewHandler(svc, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mux := http.NewServeMux()
	for pattern, hf := range h.AgentRoutes() {
		mux.HandleFunc(pattern, hf)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/agent/nodes/n1/invocations", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReaderSize(resp.Body, 64<<10)
	if l, err := lines.ReadBytes('\n'); err != nil || !bytes.Contains(l, []byte(`"ping"`)) {
		t.Fatalf("the stream's first line %q %v, want a ping", l, err)
	}

	fn := func(image string) *model.StoredFunction {
		return &model.StoredFunction{Function: model.Function{FunctionName: "f", MemorySize: 128, Timeout: 3,
			Code: model.FunctionCode{ImageUri: image}}, FunctionArn: model.FunctionARN("f"), RevisionId: image[:1]}
	}
	big := fn(strings.Repeat("i", 2<<20)) // 2 MiB of spec: 8 MiB of payload no longer fits
	_, err = svc.Hub().Call(ctx, function.Request{ID: "too-large", Function: big, Payload: bytes.Repeat([]byte("x"), model.SyncMaxPayload)})
	if !errors.Is(err, function.ErrPayloadTooLarge) || !strings.Contains(err.Error(), "over its 9437184 byte limit") {
		t.Fatalf("an invocation over the stream's limit: %v, want ErrPayloadTooLarge naming the limit", err)
	}

	// The stream goes on: the next invocation arrives as its line.
	answered := make(chan error, 1)
	go func() {
		_, err := svc.Hub().Call(ctx, function.Request{ID: "next", Function: fn("small"), Payload: []byte(`{}`)})
		answered <- err
	}()
	l, err := lines.ReadBytes('\n')
	var ev wire.InvocationEvent
	if err != nil || json.Unmarshal(l, &ev) != nil || ev.RequestID != "next" {
		t.Fatalf("the line after the refused invocation: %.200q %v, want the next invocation", l, err)
	}
	if !svc.Hub().Complete("n1", "next", function.Result{Payload: []byte(`"ok"`)}) {
		t.Fatal("the next invocation was not waiting for its answer")
	}
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
}
