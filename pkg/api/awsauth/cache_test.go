package awsauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/orch-project/orch/pkg/model"
)

// keyStore is a key lookup whose keys a test can rotate and revoke.
type keyStore struct {
	mu      sync.Mutex
	secrets map[string]string
	lookups int
}

func (s *keyStore) lookup(_ context.Context, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	if sec, ok := s.secrets[id]; ok {
		return sec, nil
	}
	return "", fmt.Errorf("key %s: %w", id, model.ErrNotFound)
}

func (s *keyStore) set(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if secret == "" {
		delete(s.secrets, id)
	} else {
		s.secrets[id] = secret
	}
}

func errCode(err error) string {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// The signing key derived from a secret is cached, but only for as long as
// the secret itself is: a rotated secret takes effect, and a revoked key
// stops working, as soon as the key's cache entry is dropped (Forget, which
// the server calls when it changes a key), not after a day's reuse of the
// derived key.
func TestSigningKeyCacheFollowsTheSecret(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ks := &keyStore{secrets: map[string]string{"AKIDORCH": "old-secret"}}
	v := New(ks.lookup, Options{Now: func() time.Time { return now }, CacheTTL: time.Hour})
	body := "Action=SendMessage&MessageBody=hi"
	verify := func(secret string) string {
		t.Helper()
		return errCode(v.Verify(signed(t, "AKIDORCH", secret, body, now, false), []byte(body)))
	}
	for i := 0; i < 3; i++ { // derived once, reused
		if got := verify("old-secret"); got != "" {
			t.Fatalf("request %d with the current secret: %s", i, got)
		}
	}
	if ks.lookups != 1 {
		t.Fatalf("key looked up %d times for 3 requests, want 1 (cached)", ks.lookups)
	}

	// Rotation: the new secret signs, the old one is refused at once.
	ks.set("AKIDORCH", "new-secret")
	v.Forget("AKIDORCH")
	if got := verify("old-secret"); got != "SignatureDoesNotMatch" {
		t.Fatalf("old secret after rotation: got %q, want SignatureDoesNotMatch", got)
	}
	if got := verify("new-secret"); got != "" {
		t.Fatalf("new secret after rotation: %s", got)
	}

	// Revocation: refused at once, with either secret.
	ks.set("AKIDORCH", "")
	v.Forget("AKIDORCH")
	for _, sec := range []string{"old-secret", "new-secret"} {
		if got := verify(sec); got != "InvalidClientTokenId" {
			t.Fatalf("revoked key signed with %s: got %q, want InvalidClientTokenId", sec, got)
		}
	}
}

// Without Forget the cache TTL bounds how long a rotated secret's old
// derived key keeps verifying.
func TestSigningKeyCacheExpiresWithTheTTL(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := now
	ks := &keyStore{secrets: map[string]string{"AKIDORCH": "old-secret"}}
	v := New(ks.lookup, Options{Now: func() time.Time { return clock }, CacheTTL: 30 * time.Second})
	body := "x"
	if got := errCode(v.Verify(signed(t, "AKIDORCH", "old-secret", body, clock, false), []byte(body))); got != "" {
		t.Fatalf("current secret: %s", got)
	}
	ks.set("AKIDORCH", "new-secret")
	clock = now.Add(31 * time.Second)
	if got := errCode(v.Verify(signed(t, "AKIDORCH", "old-secret", body, clock, false), []byte(body))); got != "SignatureDoesNotMatch" {
		t.Fatalf("old secret past the ttl: got %q, want SignatureDoesNotMatch", got)
	}
	if got := errCode(v.Verify(signed(t, "AKIDORCH", "new-secret", body, clock, false), []byte(body))); got != "" {
		t.Fatalf("new secret past the ttl: %s", got)
	}
}

// A key derived for one day, region or service is never used for another:
// each scope gets its own, and a signature for a scope the server refuses
// stays refused however warm the cache is.
func TestSigningKeyPerScope(t *testing.T) {
	day1 := time.Date(2026, 1, 2, 23, 59, 0, 0, time.UTC)
	clock := day1
	ks := &keyStore{secrets: map[string]string{"AKIDORCH": "s3cr3t"}}
	v := New(ks.lookup, Options{Now: func() time.Time { return clock }, CacheTTL: time.Hour})
	body := "x"
	sign := func(at time.Time, service string) *http.Request {
		t.Helper()
		return signedService(t, "AKIDORCH", "s3cr3t", body, at, service)
	}
	for _, service := range []string{"sqs", "sns", "sqs"} {
		if got := errCode(v.For(service).Verify(sign(clock, service), []byte(body))); got != "" {
			t.Fatalf("%s on day 1: %s", service, got)
		}
	}
	if got := errCode(v.For("sqs").Verify(sign(clock, "sns"), []byte(body))); got != "SignatureDoesNotMatch" {
		t.Fatalf("an sns signature at sqs: got %q, want SignatureDoesNotMatch", got)
	}
	clock = day1.Add(2 * time.Minute) // the next day
	if got := errCode(v.For("sqs").Verify(sign(clock, "sqs"), []byte(body))); got != "" {
		t.Fatalf("sqs on day 2: %s", got)
	}
	if got := errCode(v.For("sqs").Verify(sign(day1, "sqs"), []byte(body))); got != "" {
		t.Fatalf("a day-1 signature 2 minutes old (within the skew): %s", got)
	}
	v.mu.Lock()
	n := len(v.secrets["AKIDORCH"].signing)
	v.mu.Unlock()
	if n != 3 {
		t.Fatalf("derived keys cached: %d, want 3 (day1/sqs, day1/sns, day2/sqs)", n)
	}
}

// signedService signs like signed but for any service.
func signedService(t *testing.T, key, secret, body string, at time.Time, service string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://127.0.0.1:7070/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	sum := sha256Hex(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, sum, service, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	srv, _ := http.NewRequest("POST", req.URL.String(), strings.NewReader(body))
	srv.Header = req.Header.Clone()
	srv.Host = req.URL.Host
	return srv
}

// BenchmarkVerifySDK is what the server does per SQS call of the stock
// SDK: Precheck (before the body is read), then Verify, on a JSON request
// carrying the headers aws-sdk-go-v2 signs.
func BenchmarkVerifySDK(b *testing.B) {
	v := New(lookup, Options{})
	body := `{"QueueUrl":"https://127.0.0.1:7070/000000000000/bench","MessageBody":"` + strings.Repeat("x", 100) + `"}`
	req, _ := http.NewRequest("POST", "https://127.0.0.1:7070/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	req.Header.Set("Amz-Sdk-Invocation-Id", "0c2f1c0e-8d7f-4a43-a5a4-0b4f5d3c2a10")
	req.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	req.Header.Set("User-Agent", "aws-sdk-go-v2/1.30.0 os/linux lang/go#1.26 md/GOOS#linux md/GOARCH#amd64 api/sqs#1.34.0")
	req.Header.Set("X-Amz-Query-Mode", "true")
	req.ContentLength = int64(len(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDORCH", SecretAccessKey: "s3cr3t"}, req, sha256Hex(body), "sqs", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	sv := v.For("sqs")
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Precheck(req); err != nil {
			b.Fatal(err)
		}
		if err := sv.Verify(req, []byte(body)); err != nil {
			b.Fatal(err)
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// FuzzVerify: whatever the signature headers say, Precheck and Verify
// answer with an *Error (never a panic), and only the real signature
// passes.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	good := signed(&testing.T{}, "AKIDORCH", "s3cr3t", "x", now, false)
	f.Add(good.Header.Get("Authorization"), good.Header.Get("X-Amz-Date"), "", "x")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDORCH/20260102/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20260102T030405Z", "X-Amz-Signature=1", "")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;, Signature=zz", "bad", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Signature=1&X-Amz-Expires=-1", "y")
	v := New(lookup, Options{Now: func() time.Time { return now }})
	f.Fuzz(func(t *testing.T, authz, date, query, body string) {
		r, err := http.NewRequest("POST", "http://127.0.0.1:7070/?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		r.Host = "127.0.0.1:7070"
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if date != "" {
			r.Header.Set("X-Amz-Date", date)
		}
		for _, err := range []error{v.Precheck(r), v.For("sqs").Verify(r, []byte(body))} {
			var ae *Error
			if err != nil && !errors.As(err, &ae) {
				t.Fatalf("not an *Error: %v", err)
			}
		}
		goodSig := good.Header.Get("Authorization")[strings.LastIndex(good.Header.Get("Authorization"), "=")+1:]
		if v.Verify(r, []byte(body)) == nil && !strings.Contains(authz+query, goodSig) {
			t.Fatalf("a made-up signature passed: %q %q", authz, query)
		}
	})
}

// A lookup may refuse a key that exists (an inactive admin key) with an
// *Error of its own: the client gets that code and message, not a 503.
func TestLookupRefusalIsTheAnswer(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := New(func(context.Context, string) (string, error) {
		return "", &Error{Code: "InvalidClientTokenId", Status: 403, Message: "The security token included in the request is invalid: access key AKIDORCH is inactive."}
	}, Options{Now: func() time.Time { return now }})
	body := "Action=ListQueues"
	err := v.Verify(signed(t, "AKIDORCH", "s3cr3t", body, now, false), []byte(body))
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != "InvalidClientTokenId" || ae.Status != 403 || !strings.Contains(ae.Message, "inactive") {
		t.Fatalf("got %v, want 403 InvalidClientTokenId saying the key is inactive", err)
	}
}

// A lookup that read the key before it was revoked, and finishes after
// the revocation's Forget, must not put the old key back in the cache.
func TestForgetWinsOverALookupUnderWay(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ks := &keyStore{secrets: map[string]string{"AKIDORCH": "s3cr3t"}}
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	v := New(func(ctx context.Context, id string) (string, error) {
		sec, err := ks.lookup(ctx, id)
		if first {
			first = false
			close(entered)
			<-release // the key is revoked and forgotten meanwhile
		}
		return sec, err
	}, Options{Now: func() time.Time { return now }, CacheTTL: time.Hour})
	body := "Action=ListQueues"
	done := make(chan string)
	go func() { done <- errCode(v.Verify(signed(t, "AKIDORCH", "s3cr3t", body, now, false), []byte(body))) }()
	<-entered
	ks.set("AKIDORCH", "")
	v.Forget("AKIDORCH")
	close(release)
	if got := <-done; got != "" {
		t.Fatalf("the request signed before the revocation: %q, want accepted (it was read in time)", got)
	}
	if got := errCode(v.Verify(signed(t, "AKIDORCH", "s3cr3t", body, now, false), []byte(body))); got != "InvalidClientTokenId" {
		t.Fatalf("after the revocation: got %q, want InvalidClientTokenId (the stale lookup was cached)", got)
	}
}
