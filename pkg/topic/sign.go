package topic

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// CertPathPrefix is where the signing certificate is served, without
// authentication (a verifier fetches it from SigningCertURL):
// /sns/SimpleNotificationService-<id>.pem, SNS's file name.
const CertPathPrefix = "/sns/SimpleNotificationService-"

// signer signs envelopes with the cluster's SNS key.
type signer struct {
	key     *rsa.PrivateKey
	certPEM []byte
	certURL string
}

// signerState loads the key once per Service (retrying after an error).
type signerState struct {
	mu sync.Mutex
	s  *signer
}

// signingKey returns the cluster's signer, loading (or creating) the key
// stored in etcd on first use.
func (s *Service) signingKey(ctx context.Context) (*signer, error) {
	s.sig.mu.Lock()
	defer s.sig.mu.Unlock()
	if s.sig.s != nil {
		return s.sig.s, nil
	}
	k, err := s.st.SNSSigningKey(ctx, newSigningKey)
	if err != nil {
		return nil, fmt.Errorf("loading the SNS signing key: %w", err)
	}
	kb, _ := pem.Decode([]byte(k.KeyPEM))
	if kb == nil {
		return nil, errors.New("the stored SNS signing key is not PEM")
	}
	pk, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the SNS signing key: %w", err)
	}
	rk, ok := pk.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the stored SNS signing key is not RSA")
	}
	s.sig.s = &signer{key: rk, certPEM: []byte(k.CertPEM), certURL: s.opts.BaseURL + CertPathPrefix + k.ID + ".pem"}
	return s.sig.s, nil
}

// newSigningKey makes a 2048-bit RSA key (SNS's size) and a self-signed
// certificate for it, valid for ten years.
func newSigningKey() (*store.SigningKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "sns.orch.local", Organization: []string{"Orch"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	return &store.SigningKey{ID: hex.EncodeToString(id[:]),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})),
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}, nil
}

// SigningCert returns the PEM certificate named id (the file name's
// <id>), for the unauthenticated GET of SigningCertURL.
func (s *Service) SigningCert(ctx context.Context, id string) ([]byte, bool) {
	sg, err := s.signingKey(ctx)
	if err != nil || !strings.HasSuffix(sg.certURL, CertPathPrefix+id+".pem") {
		return nil, false
	}
	return sg.certPEM, true
}

// stringToSign is SNS's string to sign: "Key\nValue\n" for each signed
// field in byte order of the names, Subject only when present.
func stringToSign(e *Envelope) string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", e.Message)
	add("MessageId", e.MessageID)
	if e.Type == "Notification" {
		if e.Subject != "" {
			add("Subject", e.Subject)
		}
	} else {
		add("SubscribeURL", e.SubscribeURL)
	}
	add("Timestamp", e.Timestamp)
	if e.Type != "Notification" {
		add("Token", e.Token)
	}
	add("TopicArn", e.TopicArn)
	add("Type", e.Type)
	return b.String()
}

// sign fills e's SignatureVersion, Signature and SigningCertURL: version
// "2" is SHA256withRSA, anything else SNS's default "1", SHA1withRSA.
func (sg *signer) sign(e *Envelope, version string) {
	if version != "2" {
		version = "1"
	}
	var sum []byte
	h := crypto.SHA1
	if version == "2" {
		h = crypto.SHA256
		s := sha256.Sum256([]byte(stringToSign(e)))
		sum = s[:]
	} else {
		s := sha1.Sum([]byte(stringToSign(e)))
		sum = s[:]
	}
	sig, err := rsa.SignPKCS1v15(nil, sg.key, h, sum)
	if err != nil {
		return
	}
	e.SignatureVersion, e.Signature, e.SigningCertURL = version, base64.StdEncoding.EncodeToString(sig), sg.certURL
}

// signEnvelope signs e with the topic's SignatureVersion; without a key
// (etcd unreachable) the envelope goes out unsigned and a warning is
// logged, rather than holding every delivery.
func (s *Service) signEnvelope(ctx context.Context, e *Envelope, version string) {
	sg, err := s.signingKey(ctx)
	if err != nil {
		s.log.Warn("sending an unsigned SNS message", "err", err)
		return
	}
	sg.sign(e, version)
}

// signatureVersion is a topic's SignatureVersion attribute.
func signatureVersion(t *model.Topic) string { return t.Attributes[model.TASignatureVersion] }

// signedEnvelope renders and signs n's envelope (under o.mu). The
// signature is computed once per message and text and reused for every
// subscription: an RSA signature costs about a millisecond.
func (o *owner) signedEnvelope(d *delivery, n *Notification) []byte {
	e := envelopeOf(n, o.s.opts.BaseURL)
	version := signatureVersion(d.m.topic.t)
	key := version + "\x00" + n.Text
	if v, ok := d.m.sigs.Load(key); ok {
		c := v.(*Envelope)
		e.SignatureVersion, e.Signature, e.SigningCertURL = c.SignatureVersion, c.Signature, c.SigningCertURL
	} else {
		o.s.signEnvelope(o.ctx, e, version)
		d.m.sigs.Store(key, &Envelope{SignatureVersion: e.SignatureVersion, Signature: e.Signature, SigningCertURL: e.SigningCertURL})
	}
	b, _ := jsonMarshal(e)
	return b
}
