package topic_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
)

// webSubscriber is a web server subscribed over http, as a user writes
// one: it confirms by GETting the SubscribeURL (no credentials) and keeps
// the notifications.
type webSubscriber struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []map[string]any
	hdr []http.Header
	// confirmErr is what the SubscribeURL GET answered when not 200.
	confirmed chan string
}

func newWebSubscriber(t *testing.T) *webSubscriber {
	w := &webSubscriber{confirmed: make(chan string, 1)}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			rw.WriteHeader(400)
			return
		}
		w.mu.Lock()
		w.got, w.hdr = append(w.got, m), append(w.hdr, r.Header.Clone())
		w.mu.Unlock()
		if m["Type"] == "SubscriptionConfirmation" {
			resp, err := http.Get(m["SubscribeURL"].(string))
			if err != nil {
				w.confirmed <- "GET SubscribeURL: " + err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			w.confirmed <- resp.Status + " " + string(body)
		}
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webSubscriber) messages(typ string) []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []map[string]any
	for _, m := range w.got {
		if m["Type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

// verifyWithOpenSSL checks a message's signature with AWS's documented
// procedure and stock tools: fetch SigningCertURL with curl (no
// credentials), take its public key with openssl x509, build the string
// to sign from the message's fields, and check the signature with openssl
// dgst (-sha1 for SignatureVersion 1, -sha256 for 2). It returns openssl's
// verdict.
func verifyWithOpenSSL(t *testing.T, m map[string]any) error {
	t.Helper()
	_, errCurl := exec.LookPath("curl")
	_, errSSL := exec.LookPath("openssl")
	need(t, "curl and openssl", "apt-get install -y curl openssl", errCurl == nil && errSSL == nil)
	dir := t.TempDir()
	certURL, _ := m["SigningCertURL"].(string)
	if !strings.HasSuffix(certURL, ".pem") {
		t.Fatalf("SigningCertURL %q", certURL)
	}
	run := func(name string, args ...string) ([]byte, error) {
		return exec.Command(name, args...).CombinedOutput()
	}
	if out, err := run("curl", "-fsS", "-o", filepath.Join(dir, "cert.pem"), certURL); err != nil {
		t.Fatalf("curl %s: %v %s", certURL, err, out)
	}
	if out, err := run("openssl", "x509", "-in", filepath.Join(dir, "cert.pem"), "-pubkey", "-noout", "-out", filepath.Join(dir, "pub.pem")); err != nil {
		t.Fatalf("openssl x509: %v %s", err, out)
	}
	fields := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		fields = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var sts strings.Builder
	for _, f := range fields {
		if v, ok := m[f].(string); ok {
			sts.WriteString(f + "\n" + v + "\n")
		}
	}
	sig, err := base64.StdEncoding.DecodeString(m["Signature"].(string))
	if err != nil {
		t.Fatalf("Signature is not base64: %v", err)
	}
	_ = os.WriteFile(filepath.Join(dir, "msg"), []byte(sts.String()), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "sig"), sig, 0o600)
	digest := "-sha1"
	if m["SignatureVersion"] == "2" {
		digest = "-sha256"
	}
	out, err := run("openssl", "dgst", digest, "-verify", filepath.Join(dir, "pub.pem"), "-signature", filepath.Join(dir, "sig"), filepath.Join(dir, "msg"))
	if err != nil || !strings.Contains(string(out), "Verified OK") {
		return &verifyError{string(out)}
	}
	return nil
}

type verifyError struct{ out string }

func (e *verifyError) Error() string { return "openssl: " + strings.TrimSpace(e.out) }

func TestHTTPSubscriberConfirmsAndVerifies(t *testing.T) {
	srv := startServer(t, t.TempDir(), freeAddr(t))
	ctx := ctxT(t, 2*time.Minute)
	sn, sq := srv.sns(), srv.sqs()
	for _, version := range []string{"1", "2"} {
		ct, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("web-news-v" + version), Attributes: map[string]string{"SignatureVersion": version}})
		if err != nil {
			t.Fatal(err)
		}
		web := newWebSubscriber(t)
		sub, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(web.srv.URL + "/sns")})
		if err != nil || *sub.SubscriptionArn != "pending confirmation" {
			t.Fatalf("Subscribe(http) = %v, %v; want pending confirmation", sub, err)
		}
		select {
		case got := <-web.confirmed:
			if !strings.HasPrefix(got, "200 ") || !strings.Contains(got, "<SubscriptionArn>"+*ct.TopicArn+":") {
				t.Fatalf("GET SubscribeURL answered %s", got)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no SubscriptionConfirmation within 30s")
		}
		conf := web.messages("SubscriptionConfirmation")[0]
		if err := verifyWithOpenSSL(t, conf); err != nil {
			t.Errorf("v%s confirmation: %v", version, err)
		}
		q := createQueue(t, ctx, sq, "web-copy-v"+version, nil)
		if _, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(q.arn)}); err != nil {
			t.Fatal(err)
		}
		pub, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: ct.TopicArn, Message: aws.String("espresso <&> \"ristretto\"\nline 2"), Subject: aws.String("daily")})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(web.messages("Notification")) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		ns := web.messages("Notification")
		if len(ns) != 1 || ns[0]["MessageId"] != *pub.MessageId || ns[0]["SignatureVersion"] != version {
			t.Fatalf("v%s notifications %v", version, ns)
		}
		if err := verifyWithOpenSSL(t, ns[0]); err != nil {
			t.Errorf("v%s http notification: %v", version, err)
		}
		web.mu.Lock()
		h := web.hdr[len(web.hdr)-1]
		web.mu.Unlock()
		if h.Get("x-amz-sns-message-type") != "Notification" || h.Get("x-amz-sns-message-id") != *pub.MessageId ||
			h.Get("x-amz-sns-topic-arn") != *ct.TopicArn || !strings.HasPrefix(h.Get("x-amz-sns-subscription-arn"), *ct.TopicArn+":") {
			t.Errorf("notification headers %v", h)
		}
		tampered := map[string]any{}
		for k, v := range ns[0] {
			tampered[k] = v
		}
		tampered["Message"] = "espresso (cheaper)"
		if err := verifyWithOpenSSL(t, tampered); err == nil {
			t.Error("openssl accepted a tampered message: the check proves nothing")
		}
		msgs := receive(t, ctx, sq, q.url, 1, 20*time.Second)
		if len(msgs) != 1 {
			t.Fatalf("queue got %d messages", len(msgs))
		}
		var env map[string]any
		if err := json.Unmarshal([]byte(*msgs[0].Body), &env); err != nil {
			t.Fatal(err)
		}
		if err := verifyWithOpenSSL(t, env); err != nil {
			t.Errorf("v%s queue envelope: %v", version, err)
		}
	}
}

// TestSigningKeyRotationVerifies: `orch topic rotate-signing-key` makes
// new messages carry a new SigningCertURL whose certificate verifies them
// (curl and openssl, as a subscriber would), while a message signed
// before the rotation still verifies against the old certificate, which
// stays served; the old URL is refused once its time is up (unit-tested
// with a fake clock in pkg/topic).
func TestSigningKeyRotationVerifies(t *testing.T) {
	srv := startServer(t, t.TempDir(), freeAddr(t))
	ctx := ctxT(t, 2*time.Minute)
	sn, sq := srv.sns(), srv.sqs()
	ct, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("rotating")})
	if err != nil {
		t.Fatal(err)
	}
	q := createQueue(t, ctx, sq, "rotating-copy", nil)
	if _, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(q.arn)}); err != nil {
		t.Fatal(err)
	}
	envelope := func(msg string) map[string]any {
		t.Helper()
		if _, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: ct.TopicArn, Message: aws.String(msg)}); err != nil {
			t.Fatal(err)
		}
		ms := receive(t, ctx, sq, q.url, 1, 20*time.Second)
		if len(ms) != 1 {
			t.Fatalf("the queue got %d messages, want 1", len(ms))
		}
		var env map[string]any
		if err := json.Unmarshal([]byte(*ms[0].Body), &env); err != nil {
			t.Fatal(err)
		}
		return env
	}
	before := envelope("before")
	if err := verifyWithOpenSSL(t, before); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	out := srv.orch(t, "topic", "rotate-signing-key", "--keep-old", "2h")
	if !strings.Contains(out, "signing with a new key") || !strings.Contains(out, before["SigningCertURL"].(string)+" stays served until") {
		t.Fatalf("orch topic rotate-signing-key:\n%s", out)
	}
	after := envelope("after")
	if after["SigningCertURL"] == before["SigningCertURL"] {
		t.Fatalf("SigningCertURL unchanged by the rotation: %v", after["SigningCertURL"])
	}
	if !strings.Contains(out, after["SigningCertURL"].(string)) {
		t.Errorf("the rotation announced another URL than the one used:\n%s\nused: %v", out, after["SigningCertURL"])
	}
	if err := verifyWithOpenSSL(t, after); err != nil {
		t.Errorf("after the rotation: %v", err)
	}
	if err := verifyWithOpenSSL(t, before); err != nil {
		t.Errorf("a message signed before the rotation no longer verifies: %v", err)
	}
	crossed := map[string]any{}
	for k, v := range after {
		crossed[k] = v
	}
	crossed["SigningCertURL"] = before["SigningCertURL"]
	if err := verifyWithOpenSSL(t, crossed); err == nil {
		t.Error("the old certificate verifies a message signed with the new key: the check proves nothing")
	}
	if out, err := srv.orchCmd("topic", "rotate-signing-key", "--keep-old", "5s").CombinedOutput(); err == nil || !strings.Contains(string(out), "out of range") {
		t.Errorf("rotate with --keep-old 5s: err %v\n%s", err, out)
	}
}
