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

// signer signs envelopes with the cluster's current SNS key.
type signer struct {
	id      string
	key     *rsa.PrivateKey
	certPEM []byte
	certURL string
}

// signerState holds the cluster's signing keys as last loaded: the
// current key and the retired certificates still served.
type signerState struct {
	mu       sync.Mutex
	s        *signer
	retired  map[string]retiredCert
	loadedAt time.Time
}

type retiredCert struct {
	certPEM []byte
	until   time.Time
}

// DefaultKeepRetiredCert is how long a rotated-out certificate stays
// served by default: an envelope signed just before a rotation can wait
// in a queue for up to 14 days (SQS's longest retention) before its
// consumer verifies it. Deliveries after a rotation are signed with the
// new key, retries included.
const DefaultKeepRetiredCert = 14 * 24 * time.Hour

// signingKey returns the cluster's current signer, loading the keys
// stored in etcd (or creating the first) on first use.
func (s *Service) signingKey(ctx context.Context) (*signer, error) {
	s.sig.mu.Lock()
	defer s.sig.mu.Unlock()
	if s.sig.s != nil {
		return s.sig.s, nil
	}
	return s.loadKeys(ctx)
}

// loadKeys (re)reads the signing keys (under s.sig.mu).
func (s *Service) loadKeys(ctx context.Context) (*signer, error) {
	ks, err := s.st.SNSSigningKeys(ctx, newSigningKey)
	if err != nil {
		return nil, fmt.Errorf("loading the SNS signing key: %w", err)
	}
	return s.setKeys(ks)
}

// setKeys makes ks the keys in use (under s.sig.mu).
func (s *Service) setKeys(ks *store.SigningKeys) (*signer, error) {
	sg, err := parseSigner(&ks.Current, s.opts.BaseURL)
	if err != nil {
		return nil, err
	}
	retired := map[string]retiredCert{}
	for _, r := range ks.Retired {
		retired[r.ID] = retiredCert{certPEM: []byte(r.CertPEM), until: time.UnixMilli(r.ServeUntilMs)}
	}
	s.sig.s, s.sig.retired, s.sig.loadedAt = sg, retired, time.Now()
	return sg, nil
}

func parseSigner(k *store.SigningKey, baseURL string) (*signer, error) {
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
	return &signer{id: k.ID, key: rk, certPEM: []byte(k.CertPEM), certURL: certURL(baseURL, k.ID)}, nil
}

func certURL(baseURL, id string) string { return baseURL + CertPathPrefix + id + ".pem" }

// refreshKeys reloads the signing keys, so a replica taking over signs
// with the key the previous owner last rotated to.
func (s *Service) refreshKeys(ctx context.Context) error {
	s.sig.mu.Lock()
	defer s.sig.mu.Unlock()
	_, err := s.loadKeys(ctx)
	return err
}

// KeyRotation is the outcome of RotateSigningKey.
type KeyRotation struct {
	// SigningCertURL is where the new key's certificate is served;
	// messages are signed with it from now on.
	SigningCertURL string
	// PreviousCertURL is the retired key's certificate, served until
	// PreviousServedUntil.
	PreviousCertURL     string
	PreviousServedUntil time.Time
}

// RotateSigningKey makes a new signing key current. The previous key's
// certificate stays served for keep (DefaultKeepRetiredCert when 0), so
// that messages signed with it still verify until then.
func (s *Service) RotateSigningKey(ctx context.Context, keep time.Duration) (*KeyRotation, error) {
	if keep == 0 {
		keep = DefaultKeepRetiredCert
	}
	if keep < time.Minute || keep > 90*24*time.Hour {
		return nil, invalid("keepRetiredCert: %v is out of range; use 1m to 2160h (90 days); the default, %v, outlasts SQS's longest retention", keep, DefaultKeepRetiredCert)
	}
	if _, err := s.owner(ctx); err != nil {
		return nil, err
	}
	old, err := s.signingKey(ctx)
	if err != nil {
		return nil, ErrInternal.With("%v", err)
	}
	nk, err := newSigningKey()
	if err != nil {
		return nil, ErrInternal.With("making a signing key: %v", err)
	}
	now := s.clock.Now()
	s.sig.mu.Lock()
	defer s.sig.mu.Unlock()
	ks, err := s.st.RotateSNSSigningKey(ctx, nk, now.UnixMilli(), now.Add(keep).UnixMilli())
	if err != nil {
		return nil, storeErr(err)
	}
	if _, err := s.setKeys(ks); err != nil {
		return nil, ErrInternal.With("%v", err)
	}
	s.log.Info("rotated the SNS signing key", "signingCertURL", s.sig.s.certURL, "previousCertURL", old.certURL, "previousServedUntil", now.Add(keep))
	return &KeyRotation{SigningCertURL: s.sig.s.certURL, PreviousCertURL: old.certURL, PreviousServedUntil: now.Add(keep)}, nil
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
// <id>), for the unauthenticated GET of SigningCertURL: the current key's,
// or a retired key's until its time is up. Another replica may have
// rotated the key: an unknown id reloads the keys, at most once a second.
func (s *Service) SigningCert(ctx context.Context, id string) ([]byte, bool) {
	if _, err := s.signingKey(ctx); err != nil {
		return nil, false
	}
	s.sig.mu.Lock()
	defer s.sig.mu.Unlock()
	for try := 0; try < 2; try++ {
		if s.sig.s.id == id {
			return s.sig.s.certPEM, true
		}
		if r, ok := s.sig.retired[id]; ok {
			return r.certPEM, s.clock.Now().Before(r.until)
		}
		if try == 1 || time.Since(s.sig.loadedAt) < time.Second {
			break
		}
		if _, err := s.loadKeys(ctx); err != nil {
			break
		}
	}
	return nil, false
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

// signEnvelope signs e with the topic's SignatureVersion and returns the
// signer; without a key (etcd unreachable) the envelope goes out unsigned
// and a warning is logged, rather than holding every delivery.
func (s *Service) signEnvelope(ctx context.Context, e *Envelope, version string) *signer {
	sg, err := s.signingKey(ctx)
	if err != nil {
		s.log.Warn("sending an unsigned SNS message", "err", err)
		return nil
	}
	sg.sign(e, version)
	return sg
}

// signatureVersion is a topic's SignatureVersion attribute.
func signatureVersion(t *model.Topic) string { return t.Attributes[model.TASignatureVersion] }

// signedEnvelope renders and signs n's envelope (not under o.mu: the
// caller read the topic's signature version under it). The
// signature is computed once per message, text and key and reused for
// every subscription: an RSA signature costs about a millisecond. After a
// key rotation, retries are signed with the new key.
func (o *owner) signedEnvelope(d *delivery, n *Notification, version string) []byte {
	e := envelopeOf(n, o.s.opts.BaseURL)
	keyID := ""
	o.s.sig.mu.Lock()
	if o.s.sig.s != nil {
		keyID = o.s.sig.s.id
	}
	o.s.sig.mu.Unlock()
	key := keyID + "\x00" + version + "\x00" + n.Text
	if v, ok := d.m.sigs.Load(key); ok && keyID != "" {
		c := v.(*Envelope)
		e.SignatureVersion, e.Signature, e.SigningCertURL = c.SignatureVersion, c.Signature, c.SigningCertURL
	} else if sg := o.s.signEnvelope(o.ctx, e, version); sg != nil && sg.id == keyID {
		d.m.sigs.Store(key, &Envelope{SignatureVersion: e.SignatureVersion, Signature: e.Signature, SigningCertURL: e.SigningCertURL})
	}
	b, _ := jsonMarshal(e)
	return b
}
