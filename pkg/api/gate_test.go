package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/awsauth"
	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/model"
)

// formProtocol is an AWS query-protocol API that, like SQS, sniffs the
// form body to claim a request (reading it).
type formProtocol struct{ claimed atomic.Int64 }

func (f *formProtocol) Routes(r Routes) {
	r.Protocol(func(r *http.Request) bool {
		return awsproto.FormAction(r, 8<<20) == "Known"
	}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.claimed.Add(1)
		io.WriteString(w, "known")
	}))
}
func (f *formProtocol) Kinds() []Kind { return nil }

// slowBody sends a form prefix and then nothing until closed: a server that
// reads bodies before checking the signature never answers it.
type slowBody struct {
	prefix io.Reader
	done   chan struct{}
}

func (b *slowBody) Read(p []byte) (int, error) {
	if n, err := b.prefix.Read(p); n > 0 || !errors.Is(err, io.EOF) {
		return n, err
	}
	<-b.done
	return 0, io.EOF
}

// Issue 12 item 2: an unsigned body was read (up to 8 MiB) before the
// signature was looked at. With the gate the answer comes from the headers.
func TestAWSGateRefusesUnsignedBodiesBeforeReadingThem(t *testing.T) {
	keys := func(_ context.Context, id string) (string, error) { return "", model.ErrNotFound }
	v := awsauth.New(keys, awsauth.Options{})
	f := &formProtocol{}
	srv := newGatedServer(t, &awsproto.Gate{Precheck: v.Precheck, Bytes: awsproto.NewByteLimiter(1 << 20)}, f)

	for _, auth := range []string{"", "AWS4-HMAC-SHA256 Credential=AKIDNOBODY/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00"} {
		done := make(chan struct{})
		body := &slowBody{prefix: strings.NewReader("Action=Known&MessageBody="), done: done}
		req, _ := http.NewRequest("POST", srv.URL+"/", body)
		req.ContentLength = 8 << 20
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := srv.Client().Do(req.WithContext(ctx))
		close(done)
		cancel()
		if err != nil {
			t.Fatalf("authorization %q: no answer while the body was still being sent (the server read it first): %v", auth, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "<Code>") {
			t.Errorf("authorization %q: got %d %s, want 403 with an AWS error document", auth, resp.StatusCode, b)
		}
	}
	if n := f.claimed.Load(); n != 0 {
		t.Errorf("the protocol served %d unauthenticated requests", n)
	}
}

// Issue 12 item 8: an AWS call no adapter claims got a text/plain 404,
// which SDKs report as "deserialization failed, EOF".
func TestUnknownAWSActionsGetAWSErrors(t *testing.T) {
	srv := newGatedServer(t, nil, &formProtocol{})
	for _, tc := range []struct {
		name        string
		body        string
		header      []string
		want        int
		wantType    string
		wantContain string
	}{
		{"query action", "Action=Publish&TopicArn=x", []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "text/xml", "<Code>InvalidAction</Code>"},
		{"json target", "{}", []string{"X-Amz-Target", "AmazonSNS.Publish", "Content-Type", "application/x-amz-json-1.0"}, 400, "application/x-amz-json-1.0", `"__type":"UnknownOperationException"`},
		{"form without action", "Foo=bar", []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "text/xml", "<Code>MissingAction</Code>"},
		{"a claimed action still works", "Action=Known", []string{"Content-Type", "application/x-www-form-urlencoded"}, 200, "", "known"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(tc.body))
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.wantContain) || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) {
				t.Errorf("got %d %s %s, want %d %s with %s", resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.want, tc.wantType, tc.wantContain)
			}
		})
	}
}

func TestByteLimiterBoundsBodiesInFlight(t *testing.T) {
	l := awsproto.NewByteLimiter(10)
	if !l.Acquire(context.Background(), 6) {
		t.Fatal("first 6 of 10 bytes refused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if l.Acquire(ctx, 6) {
		t.Fatal("12 of 10 bytes granted")
	}
	got := make(chan bool)
	go func() { got <- l.Acquire(context.Background(), 6) }()
	l.Release(6)
	select {
	case ok := <-got:
		if !ok || l.InUse() != 6 {
			t.Errorf("after release: granted %v, in use %d; want true, 6", ok, l.InUse())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter was not woken by a release")
	}
}
