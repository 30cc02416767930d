// Package awsauth verifies AWS Signature Version 4 on incoming requests, in
// both forms clients use: the Authorization header and presigned query
// parameters (X-Amz-Signature). Secrets come from a KeyLookup (Orch issues
// access keys and keeps them in etcd); verified secrets are cached briefly
// so a busy endpoint does not read etcd per request.
//
// Example:
//
//	v := awsauth.New(func(ctx context.Context, id string) (string, error) {
//		k, err := st.GetAWSKey(ctx, id)
//		if err != nil {
//			return "", err
//		}
//		return k.SecretAccessKey, nil
//	}, awsauth.Options{})
//	if err := v.Verify(r, body); err != nil { /* write the *awsauth.Error */ }
package awsauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// KeyLookup returns the secret of an access key id; an error wrapping
// model.ErrNotFound means the key does not exist.
type KeyLookup func(ctx context.Context, accessKeyID string) (secret string, err error)

// Key is what a verifier needs to know of an access key.
type Key struct {
	Secret string
	// SessionToken, when set, must come with every request signed by the
	// key (X-Amz-Security-Token), as with AWS's temporary credentials.
	SessionToken string
	// Expires, when set, is when the key stops working.
	Expires time.Time
}

// KeyRecordLookup is KeyLookup for keys that may be temporary.
type KeyRecordLookup func(ctx context.Context, accessKeyID string) (Key, error)

// Verifier checks a request's signature; body is the full request body.
type Verifier interface {
	Verify(r *http.Request, body []byte) error
}

// Error is an authentication failure with the code AWS clients expect.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func authErr(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// Options tune a Verifier.
type Options struct {
	// MaxSkew is how far a request's time may be from the server's;
	// default 15 minutes, as AWS allows.
	MaxSkew time.Duration
	// CacheTTL is how long a looked-up secret is reused; default 30 s.
	CacheTTL time.Duration
	// Now is the clock (tests).
	Now func() time.Time
	// Region is the one region credential scopes may name; default
	// model.Region.
	Region string
}

type cached struct {
	key Key
	err error
	at  time.Time
}

// SigV4 is the Verifier for AWS Signature Version 4.
type SigV4 struct {
	lookup KeyRecordLookup
	opts   Options

	mu      sync.Mutex
	secrets map[string]cached
	keys    map[string][]byte // signing keys by secret/date/region/service
}

// New returns a SigV4 verifier for keys that never expire.
func New(lookup KeyLookup, opts Options) *SigV4 {
	return NewWithKeys(func(ctx context.Context, id string) (Key, error) {
		s, err := lookup(ctx, id)
		return Key{Secret: s}, err
	}, opts)
}

// NewWithKeys returns a SigV4 verifier whose keys may carry a session
// token and an expiry.
func NewWithKeys(lookup KeyRecordLookup, opts Options) *SigV4 {
	if opts.Region == "" {
		opts.Region = model.Region
	}
	if opts.MaxSkew == 0 {
		opts.MaxSkew = 15 * time.Minute
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &SigV4{lookup: lookup, opts: opts, secrets: map[string]cached{}, keys: map[string][]byte{}}
}

const algorithm = "AWS4-HMAC-SHA256"

// parsed is what a signature says about itself.
type parsed struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
	amzDate                      time.Time
	presigned                    bool
	expires                      time.Duration
	token                        string // X-Amz-Security-Token
}

// AccessKeyID returns the access key id a request claims (header or
// presigned form), or "".
func AccessKeyID(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if i := strings.Index(h, "Credential="); i >= 0 {
			c := h[i+len("Credential="):]
			if j := strings.IndexAny(c, "/, "); j > 0 {
				return c[:j]
			}
		}
		return ""
	}
	c := r.URL.Query().Get("X-Amz-Credential")
	if j := strings.IndexByte(c, '/'); j > 0 {
		return c[:j]
	}
	return ""
}

// Precheck checks what r's headers alone can tell: the signature is
// well formed, its date is in range and its access key exists. It reads
// no body, so a server can refuse unsigned or forged requests before it
// buffers a byte of them (Verify then checks the signature itself).
func (v *SigV4) Precheck(r *http.Request) error {
	p, err := v.checkHeaders(r)
	if err != nil {
		return err
	}
	_, err = v.key(r.Context(), p)
	return err
}

// checkHeaders parses r's signature and checks its time.
func (v *SigV4) checkHeaders(r *http.Request) (*parsed, error) {
	p, err := parse(r)
	if err != nil {
		return nil, err
	}
	now := v.opts.Now()
	if p.presigned {
		if now.Before(p.amzDate.Add(-v.opts.MaxSkew)) {
			return nil, authErr("SignatureDoesNotMatch", 403, "Signature not yet current: %s is still later than %s.", p.amzDate.Format("20060102T150405Z"), now.UTC().Format("20060102T150405Z"))
		}
		if now.After(p.amzDate.Add(p.expires)) {
			return nil, authErr("RequestExpired", 400, "Request has expired.")
		}
	} else if d := now.Sub(p.amzDate); d > v.opts.MaxSkew || d < -v.opts.MaxSkew {
		return nil, authErr("SignatureDoesNotMatch", 403, "Signature expired: %s is now earlier than %s (%s - 15 min.)", p.amzDate.Format("20060102T150405Z"), now.Add(-v.opts.MaxSkew).UTC().Format("20060102T150405Z"), now.UTC().Format("20060102T150405Z"))
	}
	// The credential scope binds the signature to a day, a region and a
	// service: a signature made for another one must not pass here.
	if day := p.amzDate.UTC().Format("20060102"); p.date != day {
		return nil, authErr("SignatureDoesNotMatch", 403, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", p.date, day, p.amzDate.UTC().Format("20060102T150405Z"))
	}
	if p.region != v.opts.Region {
		return nil, authErr("SignatureDoesNotMatch", 403, "Credential should be scoped to a valid region, not '%s' (this server's region is '%s').", p.region, v.opts.Region)
	}
	if !slices.Contains(p.signedHeaders, "host") {
		return nil, authErr("SignatureDoesNotMatch", 403, "'Host' must be a signed header (SignedHeaders is '%s').", strings.Join(p.signedHeaders, ";"))
	}
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-amz-") && !slices.Contains(p.signedHeaders, l) {
			return nil, authErr("SignatureDoesNotMatch", 403, "Header '%s' is sent but not signed: every x-amz-* header must be in SignedHeaders ('%s').", l, strings.Join(p.signedHeaders, ";"))
		}
	}
	return p, nil
}

// For returns a Verifier that also requires the credential scope to name
// service ("sqs", "sns", "ecs", ...): the endpoint's protocol decides it,
// so a signature made for one service cannot be replayed at another.
func (v *SigV4) For(service string) Verifier { return &scoped{v, service} }

type scoped struct {
	v       *SigV4
	service string
}

func (s *scoped) Verify(r *http.Request, body []byte) error {
	return s.v.verify(r, body, s.service)
}

// Verify checks r's SigV4 signature, for any service (For checks the
// service too).
func (v *SigV4) Verify(r *http.Request, body []byte) error { return v.verify(r, body, "") }

func (v *SigV4) verify(r *http.Request, body []byte, service string) error {
	p, err := v.checkHeaders(r)
	if err != nil {
		return err
	}
	if service != "" && p.service != service {
		return authErr("SignatureDoesNotMatch", 403, "Credential should be scoped to correct service: '%s' (the scope names '%s').", service, p.service)
	}
	k, err := v.key(r.Context(), p)
	if err != nil {
		return err
	}
	hashes, err := payloadHashes(r, body, p.presigned)
	if err != nil {
		return err
	}
	key := v.signingKey(p.keyID, k.Secret, p.date, p.region, p.service)
	scope := p.date + "/" + p.region + "/" + p.service + "/aws4_request"
	amz := p.amzDate.UTC().Format("20060102T150405Z")
	for _, ph := range hashes {
		for _, doubleEscape := range []bool{true, false} {
			creq := canonicalRequest(r, p, ph, doubleEscape)
			sum := sha256.Sum256([]byte(creq))
			sts := algorithm + "\n" + amz + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
			sig := hmacSHA256(key, []byte(sts))
			want, err := hex.DecodeString(p.signature)
			if err == nil && hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return authErr("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
}

func parse(r *http.Request) (*parsed, error) {
	p := &parsed{}
	h := r.Header.Get("Authorization")
	q := r.URL.Query()
	switch {
	case h != "":
		if !strings.HasPrefix(h, algorithm+" ") {
			return nil, authErr("IncompleteSignature", 400, "Authorization header requires the %s algorithm (got %q).", algorithm, firstWord(h))
		}
		fields := map[string]string{}
		for _, part := range strings.Split(strings.TrimPrefix(h, algorithm+" "), ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok {
				fields[k] = val
			}
		}
		for _, need := range []string{"Credential", "SignedHeaders", "Signature"} {
			if fields[need] == "" {
				return nil, authErr("IncompleteSignature", 400, "Authorization header requires '%s' parameter. Authorization=%s", need, h)
			}
		}
		if err := p.setCredential(fields["Credential"]); err != nil {
			return nil, err
		}
		p.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
		p.signature = fields["Signature"]
		d := r.Header.Get("X-Amz-Date")
		if d == "" {
			d = r.Header.Get("Date")
		}
		t, err := parseTime(d)
		if err != nil {
			return nil, authErr("IncompleteSignature", 400, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		}
		p.amzDate = t
		p.token = r.Header.Get("X-Amz-Security-Token")
	case q.Get("X-Amz-Signature") != "":
		p.presigned = true
		if q.Get("X-Amz-Algorithm") != algorithm {
			return nil, authErr("IncompleteSignature", 400, "X-Amz-Algorithm must be %s.", algorithm)
		}
		if err := p.setCredential(q.Get("X-Amz-Credential")); err != nil {
			return nil, err
		}
		p.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
		p.signature = q.Get("X-Amz-Signature")
		t, err := parseTime(q.Get("X-Amz-Date"))
		if err != nil {
			return nil, authErr("IncompleteSignature", 400, "X-Amz-Date is missing or malformed.")
		}
		p.amzDate = t
		// Without X-Amz-Expires a presigned URL lasts 15 minutes (the
		// request time rule); with one, exactly that long.
		exp, err := 900, error(nil)
		if e := q.Get("X-Amz-Expires"); e != "" {
			exp, err = strconv.Atoi(e)
		}
		if err != nil || exp < 1 || exp > 604800 {
			return nil, authErr("AuthorizationQueryParametersError", 400, "X-Amz-Expires must be a number of seconds from 1 to 604800 (7 days), got %q.", q.Get("X-Amz-Expires"))
		}
		p.expires = time.Duration(exp) * time.Second
		p.token = q.Get("X-Amz-Security-Token")
	default:
		return nil, authErr("MissingAuthenticationToken", 403, "Request is missing Authentication Token")
	}
	if len(p.signedHeaders) == 0 || p.signedHeaders[0] == "" {
		return nil, authErr("IncompleteSignature", 400, "SignedHeaders is empty.")
	}
	return p, nil
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

func (p *parsed) setCredential(c string) error {
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return authErr("IncompleteSignature", 400, "Credential must have the form <key>/<date>/<region>/<service>/aws4_request (got %q).", c)
	}
	p.keyID, p.date, p.region, p.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse("20060102T150405Z", s); err == nil {
		return t, nil
	}
	return http.ParseTime(s)
}

// key looks p's access key up (cached) and checks what the key demands
// of a request: its session token, and that it has not expired.
func (v *SigV4) key(ctx context.Context, p *parsed) (Key, error) {
	k, err := v.lookupCached(ctx, p.keyID)
	if err != nil {
		return Key{}, err
	}
	if k.SessionToken != "" && subtle.ConstantTimeCompare([]byte(k.SessionToken), []byte(p.token)) != 1 {
		return Key{}, authErr("InvalidClientTokenId", 403, "The security token included in the request is invalid (access key %s needs its session token in X-Amz-Security-Token).", p.keyID)
	}
	if k.SessionToken == "" && p.token != "" {
		return Key{}, authErr("InvalidClientTokenId", 403, "The security token included in the request is invalid (access key %s takes no session token).", p.keyID)
	}
	if !k.Expires.IsZero() && !v.opts.Now().Before(k.Expires) {
		return Key{}, authErr("ExpiredToken", 403, "The security token included in the request is expired (access key %s expired at %s).", p.keyID, k.Expires.UTC().Format(time.RFC3339))
	}
	return k, nil
}

func (v *SigV4) lookupCached(ctx context.Context, id string) (Key, error) {
	now := v.opts.Now()
	v.mu.Lock()
	c, ok := v.secrets[id]
	v.mu.Unlock()
	ttl := v.opts.CacheTTL
	if c.err != nil {
		ttl = 2 * time.Second
	}
	if ok && now.Sub(c.at) < ttl {
		return c.key, c.err
	}
	key, err := v.lookup(ctx, id)
	if err != nil {
		if errors.Is(err, model.ErrNotFound) {
			err = authErr("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
		} else if ok && c.err == nil {
			// The key store (etcd) is away: a key known a moment ago
			// stays good, so reads keep working through an outage.
			return c.key, nil
		} else {
			return Key{}, authErr("ServiceUnavailable", 503, "Looking up the access key failed: %v", err)
		}
	}
	v.mu.Lock()
	if len(v.secrets) > 10000 {
		v.secrets = map[string]cached{}
	}
	v.secrets[id] = cached{key: key, err: err, at: now}
	v.mu.Unlock()
	return key, err
}

// Forget drops id from the key cache, so a revoked key stops working at
// once on this server instead of after CacheTTL.
func (v *SigV4) Forget(id string) {
	v.mu.Lock()
	delete(v.secrets, id)
	v.mu.Unlock()
}

// signingKey derives the key of secret for a day, region and service
// (four HMACs), once: later requests of the same key that day reuse it.
// The cache is keyed by the key id and a hash of the secret, so a rotated
// secret gets a fresh key and no secret sits in a map key.
func (v *SigV4) signingKey(id, secret, date, region, service string) []byte {
	sh := sha256.Sum256([]byte(secret))
	ck := id + "/" + hex.EncodeToString(sh[:8]) + "/" + date + "/" + region + "/" + service
	v.mu.Lock()
	k, ok := v.keys[ck]
	v.mu.Unlock()
	if ok {
		return k
	}
	k = hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	k = hmacSHA256(k, []byte("aws4_request"))
	v.mu.Lock()
	if len(v.keys) > 10000 {
		v.keys = map[string][]byte{}
	}
	v.keys[ck] = k
	v.mu.Unlock()
	return k
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

const unsignedPayload = "UNSIGNED-PAYLOAD"

// payloadHashes are the payload hashes r may have been signed with. The
// body is always bound: X-Amz-Content-Sha256, when sent, must be the
// body's hash (AWS's XAmzContentSHA256Mismatch otherwise), and
// UNSIGNED-PAYLOAD (which S3 allows, and presigners use) is accepted
// only with an empty body, so no parameter can ride in unsigned.
func payloadHashes(r *http.Request, body []byte, presigned bool) ([]string, error) {
	sum := sha256.Sum256(body)
	bh := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		switch {
		case h == unsignedPayload && len(body) == 0:
			return []string{h}, nil
		case h == unsignedPayload:
			return nil, authErr("InvalidRequest", 400, "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD is not accepted with a body (%d bytes) by this service; sign the payload (send its SHA-256).", len(body))
		case !strings.EqualFold(h, bh):
			return nil, authErr("XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed (%s).", bh)
		}
		return []string{h}, nil
	}
	if presigned && len(body) == 0 {
		return []string{unsignedPayload, bh}, nil
	}
	return []string{bh}, nil
}

func canonicalRequest(r *http.Request, p *parsed, payloadHash string, doubleEscape bool) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if doubleEscape {
		segs := strings.Split(path, "/")
		for i, s := range segs {
			segs[i] = uriEncode(s, false)
		}
		path = strings.Join(segs, "/")
	}
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, p.presigned))
	b.WriteByte('\n')
	for _, h := range p.signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(p.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func headerValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		vals = r.Header.Values("Content-Length")
		if len(vals) == 0 && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var kvs []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		kvs = append(kvs, kv{uriEncode(k, true), uriEncode(v, true)})
	}
	sort.Slice(kvs, func(i, j int) bool {
		if kvs[i].k != kvs[j].k {
			return kvs[i].k < kvs[j].k
		}
		return kvs[i].v < kvs[j].v
	})
	parts := make([]string, len(kvs))
	for i, x := range kvs {
		parts[i] = x.k + "=" + x.v
	}
	return strings.Join(parts, "&")
}

// uriEncode is SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~ is
// %XX; with encodeSlash false, '/' stays.
func uriEncode(s string, encodeSlash bool) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}
