package topic

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
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
