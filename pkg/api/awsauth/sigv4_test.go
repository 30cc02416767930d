package awsauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/orch-project/orch/pkg/model"
)

func lookup(ctx context.Context, id string) (string, error) {
	if id == "AKIDORCH" {
		return "s3cr3t", nil
	}
	return "", fmt.Errorf("key %s: %w", id, model.ErrNotFound)
}

// signed builds a request signed by the real aws-sdk-go-v2 signer, then
// turns it into what a server sees.
func signed(t *testing.T, key, secret, body string, at time.Time, presign bool, edits ...func(*http.Request)) *http.Request {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://127.0.0.1:7070/000000000000/my-queue?x=a%20b", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, e := range edits {
		e(req)
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
	s := v4.NewSigner()
	if presign {
		u, hdr, err := s.PresignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sqs", "us-east-1", at)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewRequest("POST", u, strings.NewReader(body))
		for k, v := range hdr {
			srv.Header[k] = v
		}
		return srv
	}
	if err := s.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sqs", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewRequest("POST", req.URL.String(), strings.NewReader(body))
	srv.Header = req.Header.Clone()
	srv.Host = req.URL.Host
	return srv
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := New(lookup, Options{Now: func() time.Time { return now }})
	body := "Action=SendMessage&MessageBody=hi"
	cases := []struct {
		name    string
		req     *http.Request
		body    string
		code    string
		presign bool
	}{
		{"header ok", signed(t, "AKIDORCH", "s3cr3t", body, now, false), body, "", false},
		{"presigned ok", signed(t, "AKIDORCH", "s3cr3t", body, now, true), body, "", true},
		{"wrong secret", signed(t, "AKIDORCH", "nope", body, now, false), body, "SignatureDoesNotMatch", false},
		{"unknown key", signed(t, "AKIDNOPE", "s3cr3t", body, now, false), body, "InvalidClientTokenId", false},
		{"body changed", signed(t, "AKIDORCH", "s3cr3t", body, now, false), body + "x", "SignatureDoesNotMatch", false},
		{"skewed", signed(t, "AKIDORCH", "s3cr3t", body, now.Add(-20*time.Minute), false), body, "SignatureDoesNotMatch", false},
		{"small skew ok", signed(t, "AKIDORCH", "s3cr3t", body, now.Add(-10*time.Minute), false), body, "", false},
		{"presign expired", signed(t, "AKIDORCH", "s3cr3t", body, now.Add(-20*time.Minute), true), body, "RequestExpired", true},
		{"unsigned", httptest.NewRequest("POST", "/", nil), "", "MissingAuthenticationToken", false},
	}
	bad := httptest.NewRequest("POST", "/", nil)
	bad.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDORCH/20260102/us-east-1/sqs/aws4_request")
	cases = append(cases, struct {
		name    string
		req     *http.Request
		body    string
		code    string
		presign bool
	}{"incomplete", bad, "", "IncompleteSignature", false})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := v.Verify(c.req, []byte(c.body))
			var ae *Error
			switch {
			case c.code == "" && err != nil:
				t.Fatalf("Verify = %v, want success", err)
			case c.code != "" && (!errors.As(err, &ae) || ae.Code != c.code):
				t.Fatalf("Verify = %v, want code %s", err, c.code)
			}
		})
	}
	if id := AccessKeyID(signed(t, "AKIDORCH", "s3cr3t", body, now, false)); id != "AKIDORCH" {
		t.Fatalf("AccessKeyID = %q", id)
	}
	_ = bytes.MinRead
}

func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	v := New(lookup, Options{})
	t := &testing.T{}
	body := strings.Repeat("x", 200)
	req := signed(t, "AKIDORCH", "s3cr3t", body, now, false)
	for b.Loop() {
		if err := v.Verify(req, []byte(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// Precheck decides from the headers alone (issue 12 item 2), and a key
// looked up before an etcd outage stays usable during it (item 5).
func TestPrecheck(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	down := false
	keys := func(ctx context.Context, id string) (string, error) {
		if down {
			return "", errors.New("etcdserver: request timed out")
		}
		return lookup(ctx, id)
	}
	clock := now
	v := New(keys, Options{Now: func() time.Time { return clock }, CacheTTL: time.Second})
	if err := v.Precheck(signed(t, "AKIDORCH", "any", "x", now, false)); err != nil {
		t.Errorf("known key, current date: %v", err)
	}
	for name, r := range map[string]*http.Request{
		"unknown key": signed(t, "AKIDNOBODY", "s3cr3t", "x", now, false),
		"old date":    signed(t, "AKIDORCH", "s3cr3t", "x", now.Add(-time.Hour), false),
		"unsigned":    httptest.NewRequest("POST", "/", nil),
	} {
		var ae *Error
		if err := v.Precheck(r); !errors.As(err, &ae) || ae.Status/100 != 4 {
			t.Errorf("%s: got %v, want a 4xx *Error", name, err)
		}
	}
	down, clock = true, now.Add(time.Minute) // past the cache ttl
	if err := v.Precheck(signed(t, "AKIDORCH", "s3cr3t", "x", clock, false)); err != nil {
		t.Errorf("etcd away, key known before: %v", err)
	}
	var ae *Error
	if err := v.Precheck(signed(t, "AKIDOTHER", "s3cr3t", "x", clock, false)); !errors.As(err, &ae) || ae.Status != 503 {
		t.Errorf("etcd away, key never seen: got %v, want 503", err)
	}
}

// Issue 11 item 4: a signature binds the whole request. Each case below
// passed before (a captured or presigned request could be bent to another
// body, action, service or region) and is refused now.
func TestSignatureBindsTheRequest(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := New(lookup, Options{Now: func() time.Time { return now }})
	body := "Action=SendMessage&MessageBody=hi"
	code := func(err error) string {
		var ae *Error
		if errors.As(err, &ae) {
			return ae.Code
		}
		if err != nil {
			return err.Error()
		}
		return ""
	}
	t.Run("X-Amz-Content-Sha256 must be the body's hash", func(t *testing.T) {
		r := signed(t, "AKIDORCH", "s3cr3t", body, now, false, func(r *http.Request) {
			sum := sha256.Sum256([]byte(body))
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		})
		if err := v.Verify(r, []byte(body)); err != nil {
			t.Fatalf("the signed body: %v", err)
		}
		if got := code(v.Verify(r, []byte("Action=DeleteQueue"))); got != "XAmzContentSHA256Mismatch" {
			t.Fatalf("a replay with another body: got %q, want XAmzContentSHA256Mismatch", got)
		}
	})
	t.Run("UNSIGNED-PAYLOAD only without a body", func(t *testing.T) {
		r := signedManual(t, "POST", "http://127.0.0.1:7070/", "", []string{"host", "x-amz-content-sha256", "x-amz-date"}, "20260102/us-east-1/sqs", now, func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		}, "UNSIGNED-PAYLOAD")
		if err := v.Verify(r, nil); err != nil {
			t.Fatalf("UNSIGNED-PAYLOAD, empty body: %v", err)
		}
		if got := code(v.Verify(r, []byte("Action=DeleteQueue&QueueUrl=q"))); got != "InvalidRequest" {
			t.Fatalf("UNSIGNED-PAYLOAD with a body: got %q, want InvalidRequest", got)
		}
	})
	t.Run("a presigned read cannot carry a body", func(t *testing.T) {
		// A read-only URL, presigned as botocore does (the action in the
		// query, the payload the empty body's), then POSTed with a body.
		r := signedManual(t, "POST", "http://127.0.0.1:7070/000000000000/q?Action=ReceiveMessage", "presign", []string{"host"}, "20260102/us-east-1/sqs", now, nil, "UNSIGNED-PAYLOAD")
		if err := v.Verify(r, nil); err != nil {
			t.Fatalf("the URL as presigned: %v", err)
		}
		if got := code(v.Verify(r, []byte("Action=DeleteQueue"))); got != "SignatureDoesNotMatch" {
			t.Fatalf("the URL with a DeleteQueue body: got %q, want SignatureDoesNotMatch", got)
		}
	})
	t.Run("the scope's date is the request's day", func(t *testing.T) {
		r := signedManual(t, "POST", "http://127.0.0.1:7070/", "", []string{"host", "x-amz-date"}, "20260101/us-east-1/sqs", now, nil, "")
		if got := code(v.Verify(r, nil)); got != "SignatureDoesNotMatch" {
			t.Fatalf("scope of another day: got %q", got)
		}
	})
	t.Run("the scope's region is the server's", func(t *testing.T) {
		r := signedManual(t, "POST", "http://127.0.0.1:7070/", "", []string{"host", "x-amz-date"}, "20260102/eu-west-9/sqs", now, nil, "")
		err := v.Verify(r, nil)
		if got := code(err); got != "SignatureDoesNotMatch" || !strings.Contains(err.Error(), "eu-west-9") {
			t.Fatalf("scope of another region: got %v", err)
		}
	})
	t.Run("the scope's service is the endpoint's", func(t *testing.T) {
		r := signed(t, "AKIDORCH", "s3cr3t", body, now, false)
		if err := v.For("sqs").Verify(r, []byte(body)); err != nil {
			t.Fatalf("sqs: %v", err)
		}
		err := v.For("sns").Verify(r, []byte(body))
		if got := code(err); got != "SignatureDoesNotMatch" || !strings.Contains(err.Error(), "'sns'") {
			t.Fatalf("an sqs signature at sns: got %v", err)
		}
	})
	t.Run("host must be signed", func(t *testing.T) {
		r := signedManual(t, "POST", "http://127.0.0.1:7070/", "", []string{"x-amz-date"}, "20260102/us-east-1/sqs", now, nil, "")
		if got := code(v.Verify(r, nil)); got != "SignatureDoesNotMatch" {
			t.Fatalf("host unsigned: got %q", got)
		}
	})
	t.Run("every x-amz header must be signed", func(t *testing.T) {
		r := signed(t, "AKIDORCH", "s3cr3t", "{}", now, false)
		r.Header.Set("X-Amz-Target", "AmazonSQS.DeleteQueue") // added after signing
		err := v.Verify(r, []byte("{}"))
		if got := code(err); got != "SignatureDoesNotMatch" || !strings.Contains(err.Error(), "x-amz-target") {
			t.Fatalf("unsigned X-Amz-Target: got %v", err)
		}
	})
	t.Run("X-Amz-Expires is honoured", func(t *testing.T) {
		r := signedManual(t, "GET", "http://127.0.0.1:7070/?Action=ListQueues&X-Amz-Expires=60", "presign", []string{"host"}, "20260102/us-east-1/sqs", now.Add(-2*time.Minute), nil, "UNSIGNED-PAYLOAD")
		if got := code(v.Verify(r, nil)); got != "RequestExpired" {
			t.Fatalf("a 60 s URL after 2 minutes: got %q", got)
		}
		r = signedManual(t, "GET", "http://127.0.0.1:7070/?Action=ListQueues&X-Amz-Expires=forever", "presign", []string{"host"}, "20260102/us-east-1/sqs", now, nil, "UNSIGNED-PAYLOAD")
		if got := code(v.Verify(r, nil)); got != "AuthorizationQueryParametersError" {
			t.Fatalf("X-Amz-Expires=forever: got %q", got)
		}
	})
}

// Temporary keys (a task's) need their session token and stop at expiry.
func TestTemporaryKeys(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := now
	v := NewWithKeys(func(_ context.Context, id string) (Key, error) {
		if id == "ASIATASK" {
			return Key{Secret: "s3cr3t", SessionToken: "tok", Expires: now.Add(time.Hour)}, nil
		}
		return Key{}, model.ErrNotFound
	}, Options{Now: func() time.Time { return clock }, CacheTTL: time.Nanosecond})
	withToken := func(tok string) func(*http.Request) {
		return func(r *http.Request) {
			if tok != "" {
				r.Header.Set("X-Amz-Security-Token", tok)
			}
		}
	}
	for _, c := range []struct {
		name, tok string
		at        time.Duration
		want      string
	}{
		{"with its token", "tok", 0, ""},
		{"without its token", "", 0, "InvalidClientTokenId"},
		{"another token", "nope", 0, "InvalidClientTokenId"},
		{"after expiry", "tok", time.Hour + time.Second, "ExpiredToken"},
	} {
		clock = now.Add(c.at)
		r := signed(t, "ASIATASK", "s3cr3t", "x", clock, false, withToken(c.tok))
		var ae *Error
		err := v.Verify(r, []byte("x"))
		if c.want == "" && err != nil || c.want != "" && (!errors.As(err, &ae) || ae.Code != c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// signedManual signs a request with this package's own canonical form, so
// a test can choose what no SDK would (an unsigned host, another scope).
// mode "presign" puts the signature in the query.
func signedManual(t *testing.T, method, rawURL, mode string, signedHeaders []string, scope string, at time.Time, edit func(*http.Request), payloadHash string) *http.Request {
	t.Helper()
	amz := at.UTC().Format("20060102T150405Z")
	cred := "AKIDORCH/" + scope + "/aws4_request"
	r := httptest.NewRequest(method, rawURL, nil)
	if mode == "presign" {
		q := r.URL.RawQuery
		if q != "" {
			q += "&"
		}
		q += "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + strings.ReplaceAll(cred, "/", "%2F") + "&X-Amz-Date=" + amz + "&X-Amz-SignedHeaders=" + strings.Join(signedHeaders, "%3B")
		r.URL.RawQuery = q
	} else {
		r.Header.Set("X-Amz-Date", amz)
	}
	if edit != nil {
		edit(r)
	}
	if payloadHash == "" {
		sum := sha256.Sum256(nil)
		payloadHash = hex.EncodeToString(sum[:])
	}
	p := &parsed{signedHeaders: signedHeaders, presigned: mode == "presign"}
	creq := canonicalRequest(r, p, payloadHash, true)
	sum := sha256.Sum256([]byte(creq))
	parts := strings.Split(scope, "/")
	k := hmacSHA256([]byte("AWS4s3cr3t"), []byte(parts[0]))
	k = hmacSHA256(k, []byte(parts[1]))
	k = hmacSHA256(k, []byte(parts[2]))
	k = hmacSHA256(k, []byte("aws4_request"))
	sig := hex.EncodeToString(hmacSHA256(k, []byte(algorithm+"\n"+amz+"\n"+scope+"/aws4_request\n"+hex.EncodeToString(sum[:]))))
	if mode == "presign" {
		r.URL.RawQuery += "&X-Amz-Signature=" + sig
		r.RequestURI = r.URL.RequestURI()
	} else {
		r.Header.Set("Authorization", algorithm+" Credential="+cred+", SignedHeaders="+strings.Join(signedHeaders, ";")+", Signature="+sig)
	}
	return r
}
