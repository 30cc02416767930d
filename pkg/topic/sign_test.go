package topic

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

// checkSignature verifies a delivered envelope the way AWS documents it:
// the certificate named by SigningCertURL, the string to sign from the
// envelope's own fields, SHA1withRSA for version 1 and SHA256withRSA for 2.
// (test/topic checks the same with openssl, an independent verifier.)
func checkSignature(t *testing.T, s *Service, env map[string]any) {
	t.Helper()
	url, _ := env["SigningCertURL"].(string)
	i := strings.Index(url, CertPathPrefix)
	if i < 0 || !strings.HasSuffix(url, ".pem") {
		t.Fatalf("SigningCertURL = %q, want .../sns/SimpleNotificationService-<id>.pem", url)
	}
	certPEM, ok := s.SigningCert(context.Background(), strings.TrimSuffix(url[i+len(CertPathPrefix):], ".pem"))
	if !ok {
		t.Fatalf("no certificate served for %s", url)
	}
	blk, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	str := func(k string) string { v, _ := env[k].(string); return v }
	e := &Envelope{Type: str("Type"), MessageID: str("MessageId"), Token: str("Token"), TopicArn: str("TopicArn"),
		Subject: str("Subject"), Message: str("Message"), SubscribeURL: str("SubscribeURL"), Timestamp: str("Timestamp")}
	sig, err := base64.StdEncoding.DecodeString(str("Signature"))
	if err != nil || len(sig) == 0 {
		t.Fatalf("Signature %q is not base64: %v", str("Signature"), err)
	}
	alg := x509.SHA1WithRSA
	if str("SignatureVersion") == "2" {
		alg = x509.SHA256WithRSA
	} else if str("SignatureVersion") != "1" {
		t.Fatalf("SignatureVersion = %q, want 1 or 2", str("SignatureVersion"))
	}
	if err := cert.CheckSignature(alg, []byte(stringToSign(e)), sig); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
}

func TestStringToSign(t *testing.T) {
	n := &Envelope{Type: "Notification", MessageID: "m1", TopicArn: "arn:t", Message: "hi", Timestamp: "ts"}
	if got, want := stringToSign(n), "Message\nhi\nMessageId\nm1\nTimestamp\nts\nTopicArn\narn:t\nType\nNotification\n"; got != want {
		t.Errorf("notification without subject: %q, want %q", got, want)
	}
	n.Subject = "s"
	if got := stringToSign(n); !strings.Contains(got, "MessageId\nm1\nSubject\ns\nTimestamp\n") {
		t.Errorf("notification with subject: %q", got)
	}
	c := &Envelope{Type: "SubscriptionConfirmation", MessageID: "m", Token: "tok", TopicArn: "arn:t", Message: "msg", SubscribeURL: "u", Timestamp: "ts"}
	if got, want := stringToSign(c), "Message\nmsg\nMessageId\nm\nSubscribeURL\nu\nTimestamp\nts\nToken\ntok\nTopicArn\narn:t\nType\nSubscriptionConfirmation\n"; got != want {
		t.Errorf("confirmation: %q, want %q", got, want)
	}
}

func certID(t *testing.T, url string) string {
	t.Helper()
	i := strings.Index(url, CertPathPrefix)
	if i < 0 {
		t.Fatalf("SigningCertURL %q has no %s", url, CertPathPrefix)
	}
	return strings.TrimSuffix(url[i+len(CertPathPrefix):], ".pem")
}

// TestSigningKeyRotation: after a rotation messages are signed with the
// new key (retries of older messages too), served at a new URL; the old
// certificate stays served until its time is up, so what it signed still
// verifies; another replica (a restarted service) signs with the new key.
func TestSigningKeyRotation(t *testing.T) {
	e := newEnv(t)
	arn := e.topic("t-rotate", nil)
	ep := newEndpoint(t)
	e.subscribeHTTP(arn, ep, nil)
	ctx := context.Background()

	e.publish(arn, PublishInput{Message: "before"})
	eventually(t, "the first notification", func() bool { return len(ep.of("Notification")) == 1 })
	before := ep.of("Notification")[0].body
	checkSignature(t, e.s, before)

	if _, err := e.s.RotateSigningKey(ctx, 30*time.Second); KindOf(err) != KindInvalidParameter {
		t.Fatalf("RotateSigningKey(30s) = %v, want InvalidParameter (at least 1m)", err)
	}
	r, err := e.s.RotateSigningKey(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r.PreviousCertURL != before["SigningCertURL"] || r.SigningCertURL == r.PreviousCertURL || !r.PreviousServedUntil.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("rotation = %+v, want a new URL and the old one %v served for an hour", r, before["SigningCertURL"])
	}

	// A delivery failing before the rotation is retried with the new key.
	ep.status.Store(500)
	e.publish(arn, PublishInput{Message: "retried"})
	eventually(t, "the failed attempt", func() bool { return len(ep.of("Notification")) == 2 })
	ep.status.Store(200)
	e.publish(arn, PublishInput{Message: "after"})
	eventually(t, "the notification after the rotation", func() bool { return len(ep.of("Notification")) == 3 })
	e.clock.Advance(20 * time.Second)
	eventually(t, "the retry", func() bool { return len(ep.of("Notification")) == 4 })
	for _, n := range ep.of("Notification")[1:] {
		if n.body["SigningCertURL"] != r.SigningCertURL {
			t.Errorf("%v signed with %v after the rotation, want %v", n.body["Message"], n.body["SigningCertURL"], r.SigningCertURL)
		}
		checkSignature(t, e.s, n.body)
	}
	checkSignature(t, e.s, before) // the old certificate is still served

	// Another replica taking over signs with the new key.
	e.stop()
	e.start()
	e.publish(arn, PublishInput{Message: "restarted"})
	eventually(t, "the notification after the restart", func() bool { return len(ep.of("Notification")) == 5 })
	if u := ep.of("Notification")[4].body["SigningCertURL"]; u != r.SigningCertURL {
		t.Errorf("signed with %v after the restart, want %v", u, r.SigningCertURL)
	}

	// Past its time the old certificate is no longer served.
	e.clock.Advance(time.Hour)
	if _, ok := e.s.SigningCert(ctx, certID(t, r.PreviousCertURL)); ok {
		t.Error("the old certificate is still served past its time")
	}
	if _, ok := e.s.SigningCert(ctx, certID(t, r.SigningCertURL)); !ok {
		t.Error("the current certificate is not served")
	}
}
