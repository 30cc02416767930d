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
func signed(t *testing.T, key, secret, body string, at time.Time, presign bool) *http.Request {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://127.0.0.1:7070/000000000000/my-queue?x=a%20b", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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
