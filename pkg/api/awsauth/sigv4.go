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
	"hash"
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
	// signing holds the keys derived from key.Secret, one per credential
	// scope (day/region/service) the key signed with lately (guarded by
	// SigV4.mu). They live and die with this entry: a key looked up again
	// (rotated secret, revoked, expired from the cache) starts with none.
	signing []derived
}

// derived is a signing key and the scope it was derived for.
type derived struct {
	date, region, service string
	key                   []byte
	// macs holds HMAC-SHA256 states keyed with key, reset and reused
	// for each request's string to sign (hmac.New allocates two hashes
	// and its pads every time).
	macs *sync.Pool
}

// mac returns the HMAC-SHA256 of b under d.key, appended to out.
func (d *derived) mac(out, b []byte) []byte {
	h := d.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(b)
	out = h.Sum(out)
	d.macs.Put(h)
	return out
}

// maxDerived bounds the scopes remembered per access key (a key used for
// sqs and sns alike keeps both; a new day replaces the oldest).
const maxDerived = 4

// SigV4 is the Verifier for AWS Signature Version 4.
type SigV4 struct {
	lookup KeyRecordLookup
	opts   Options

	mu      sync.Mutex
	secrets map[string]*cached
	// forgets counts Forget calls (guarded by mu): a lookup that began
	// before a Forget does not store what it read, which may be the key
	// as it was before the revocation that caused the Forget.
	forgets uint64
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
	return &SigV4{lookup: lookup, opts: opts, secrets: map[string]*cached{}}
}

const algorithm = "AWS4-HMAC-SHA256"

// parsed is what a signature says about itself.
type parsed struct {
	keyID, date, region, service string
	signedHeaders                []string
	signedRaw                    string // SignedHeaders as sent
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
	_, _, err = v.key(r.Context(), p)
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
	var buf [16]byte
	if day := p.amzDate.UTC().AppendFormat(buf[:0], "20060102"); p.date != string(day) {
		return nil, authErr("SignatureDoesNotMatch", 403, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", p.date, day, p.amzDate.UTC().Format("20060102T150405Z"))
	}
	if p.region != v.opts.Region {
		return nil, authErr("SignatureDoesNotMatch", 403, "Credential should be scoped to a valid region, not '%s' (this server's region is '%s').", p.region, v.opts.Region)
	}
	if !slices.Contains(p.signedHeaders, "host") {
		return nil, authErr("SignatureDoesNotMatch", 403, "'Host' must be a signed header (SignedHeaders is '%s').", strings.Join(p.signedHeaders, ";"))
	}
	for name := range r.Header {
		if len(name) >= 6 && strings.EqualFold(name[:6], "x-amz-") && !isSigned(p.signedHeaders, name) {
			l := strings.ToLower(name)
			return nil, authErr("SignatureDoesNotMatch", 403, "Header '%s' is sent but not signed: every x-amz-* header must be in SignedHeaders ('%s').", l, strings.Join(p.signedHeaders, ";"))
		}
	}
	return p, nil
}

// isSigned says whether header name is in the signed list (a loop, not
// slices.ContainsFunc: its closure was allocated for every header).
func isSigned(list []string, name string) bool {
	for _, s := range list {
		if isLower(s, name) {
			return true
		}
	}
	return false
}

// isLower says whether lower is name in lower case (without allocating
// the lower-case copy: this runs for every header of every request).
func isLower(lower, name string) bool {
	if len(lower) != len(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if lower[i] != c {
			return false
		}
	}
	return true
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
	k, c, err := v.key(r.Context(), p)
	if err != nil {
		return err
	}
	hashes, err := payloadHashes(r, body, p.presigned)
	if err != nil {
		return err
	}
	want, err := hex.DecodeString(p.signature)
	if err != nil || len(want) != sha256.Size {
		return authErr("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided: Signature must be 64 hexadecimal digits.")
	}
	key := v.signingKey(c, k.Secret, p.date, p.region, p.service)
	var mac [sha256.Size]byte
	// Clients differ on whether the path is URI-encoded once or twice
	// (S3 once, every other service twice); try both when they differ.
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	paths := [2]string{doubleEscapePath(path), path}
	np := 2
	if paths[0] == paths[1] {
		np = 1
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for _, ph := range hashes {
		for _, pa := range paths[:np] {
			b := appendCanonicalRequest((*bp)[:0], r, p, pa, ph)
			sum := sha256.Sum256(b)
			// The string to sign, in the same buffer.
			b = append(b[:0], algorithm+"\n"...)
			b = p.amzDate.UTC().AppendFormat(b, "20060102T150405Z")
			b = append(b, '\n')
			b = append(b, p.date...)
			b = append(b, '/')
			b = append(b, p.region...)
			b = append(b, '/')
			b = append(b, p.service...)
			b = append(b, "/aws4_request\n"...)
			b = hex.AppendEncode(b, sum[:])
			*bp = b
			if hmac.Equal(key.mac(mac[:0], b), want) {
				return nil
			}
		}
	}
	return authErr("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
}

func parse(r *http.Request) (*parsed, error) {
	p := &parsed{}
	h := r.Header.Get("Authorization")
	switch {
	case h != "":
		if !strings.HasPrefix(h, algorithm+" ") {
			return nil, authErr("IncompleteSignature", 400, "Authorization header requires the %s algorithm (got %q).", algorithm, firstWord(h))
		}
		// Credential=..., SignedHeaders=..., Signature=... (a later
		// repetition wins); read in place, no map per request.
		var cred, signed, sig string
		for rest := h[len(algorithm)+1:]; rest != ""; {
			var part string
			part, rest, _ = strings.Cut(rest, ",")
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				continue
			}
			switch k {
			case "Credential":
				cred = val
			case "SignedHeaders":
				signed = val
			case "Signature":
				sig = val
			}
		}
		for _, need := range [...]struct{ name, val string }{{"Credential", cred}, {"SignedHeaders", signed}, {"Signature", sig}} {
			if need.val == "" {
				return nil, authErr("IncompleteSignature", 400, "Authorization header requires '%s' parameter. Authorization=%s", need.name, h)
			}
		}
		if err := p.setCredential(cred); err != nil {
			return nil, err
		}
		p.signedRaw = signed
		p.signedHeaders = strings.Split(signed, ";")
		p.signature = sig
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
	case r.URL.RawQuery != "" && r.URL.Query().Get("X-Amz-Signature") != "":
		q := r.URL.Query()
		p.presigned = true
		if q.Get("X-Amz-Algorithm") != algorithm {
			return nil, authErr("IncompleteSignature", 400, "X-Amz-Algorithm must be %s.", algorithm)
		}
		if err := p.setCredential(q.Get("X-Amz-Credential")); err != nil {
			return nil, err
		}
		p.signedRaw = q.Get("X-Amz-SignedHeaders")
		p.signedHeaders = strings.Split(p.signedRaw, ";")
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
	id, rest, _ := strings.Cut(c, "/")
	date, rest, _ := strings.Cut(rest, "/")
	region, rest, _ := strings.Cut(rest, "/")
	service, term, _ := strings.Cut(rest, "/")
	if strings.Count(c, "/") != 4 || term != "aws4_request" || id == "" {
		return authErr("IncompleteSignature", 400, "Credential must have the form <key>/<date>/<region>/<service>/aws4_request (got %q).", c)
	}
	p.keyID, p.date, p.region, p.service = id, date, region, service
	return nil
}

func parseTime(s string) (time.Time, error) {
	if t, ok := parseAmzDate(s); ok {
		return t, nil
	}
	if t, err := time.Parse("20060102T150405Z", s); err == nil {
		return t, nil
	}
	return http.ParseTime(s)
}

// parseAmzDate reads the ISO 8601 basic form every SDK sends in
// X-Amz-Date ("20261201T023545Z") by hand: time.Parse's general layout
// machinery was 2 % of the server's CPU, run twice per request (the gate's
// precheck and the verification). Anything else, or a field out of range,
// is left to time.Parse (ok false), so the accepted set is unchanged.
func parseAmzDate(s string) (t time.Time, ok bool) {
	if len(s) != 16 || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	num := func(a, b int) int {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d := num(0, 4), num(4, 6), num(6, 8)
	h, mi, sec := num(9, 11), num(11, 13), num(13, 15)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	t = time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d { // 31 April and the like normalise into the next month
		return time.Time{}, false
	}
	return t, true
}

// key looks p's access key up (cached) and checks what the key demands
// of a request: its session token, and that it has not expired.
func (v *SigV4) key(ctx context.Context, p *parsed) (Key, *cached, error) {
	c, err := v.lookupCached(ctx, p.keyID)
	if err != nil {
		return Key{}, nil, err
	}
	k := c.key
	if k.SessionToken != "" && subtle.ConstantTimeCompare([]byte(k.SessionToken), []byte(p.token)) != 1 {
		return Key{}, nil, authErr("InvalidClientTokenId", 403, "The security token included in the request is invalid (access key %s needs its session token in X-Amz-Security-Token).", p.keyID)
	}
	if k.SessionToken == "" && p.token != "" {
		return Key{}, nil, authErr("InvalidClientTokenId", 403, "The security token included in the request is invalid (access key %s takes no session token).", p.keyID)
	}
	if !k.Expires.IsZero() && !v.opts.Now().Before(k.Expires) {
		return Key{}, nil, authErr("ExpiredToken", 403, "The security token included in the request is expired (access key %s expired at %s).", p.keyID, k.Expires.UTC().Format(time.RFC3339))
	}
	return k, c, nil
}

// lookupCached returns id's cache entry, looking the key up when the
// entry is missing or older than the TTL (2 s for a failed lookup).
func (v *SigV4) lookupCached(ctx context.Context, id string) (*cached, error) {
	now := v.opts.Now()
	v.mu.Lock()
	c, ok := v.secrets[id]
	gen := v.forgets
	v.mu.Unlock()
	if ok {
		ttl := v.opts.CacheTTL
		if c.err != nil {
			ttl = 2 * time.Second
		}
		if now.Sub(c.at) < ttl {
			return c, c.err
		}
	}
	key, err := v.lookup(ctx, id)
	var refused *Error
	if err != nil {
		if errors.Is(err, model.ErrNotFound) {
			err = authErr("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
		} else if errors.As(err, &refused) {
			err = refused // the key exists but may not sign (an inactive key): an answer, cached as a failure
		} else if ok && c.err == nil {
			// The key store (etcd) is away: a key known a moment ago
			// stays good, so reads keep working through an outage.
			return c, nil
		} else {
			return nil, authErr("ServiceUnavailable", 503, "Looking up the access key failed: %v", err)
		}
	}
	nc := &cached{key: key, err: err, at: now}
	if ok && c.err == nil && err == nil && c.key.Secret == key.Secret {
		// Same secret: the keys derived from it stay good.
		v.mu.Lock()
		nc.signing = slices.Clone(c.signing)
		v.mu.Unlock()
	}
	v.mu.Lock()
	if len(v.secrets) > 10000 {
		v.secrets = map[string]*cached{}
	}
	if v.forgets == gen {
		v.secrets[id] = nc
	}
	v.mu.Unlock()
	return nc, err
}

// Forget drops id from the key cache, so a revoked key stops working at
// once on this server instead of after CacheTTL. A lookup under way
// when Forget is called will not cache its (possibly older) answer.
func (v *SigV4) Forget(id string) {
	v.mu.Lock()
	delete(v.secrets, id)
	v.forgets++
	v.mu.Unlock()
}

// signingKey derives the key of c's secret for a day, region and service
// (four HMACs), once: later requests of the same key and scope reuse it.
// Derived keys hang off the key's cache entry, so a rotated or revoked
// secret (looked up afresh: Forget, or the cache TTL) never meets a key
// derived from the old one, and no secret sits in a map key.
func (v *SigV4) signingKey(c *cached, secret, date, region, service string) *derived {
	v.mu.Lock()
	for i := range c.signing {
		if d := &c.signing[i]; d.date == date && d.region == region && d.service == service {
			v.mu.Unlock()
			return d
		}
	}
	v.mu.Unlock()
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	k = hmacSHA256(k, []byte("aws4_request"))
	v.mu.Lock()
	if len(c.signing) >= maxDerived {
		c.signing = slices.Delete(slices.Clone(c.signing), 0, 1)
	}
	d := derived{date: date, region: region, service: service, key: k,
		macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
	c.signing = append(c.signing, d)
	v.mu.Unlock()
	return &d
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

// bufPool holds the buffers canonical requests and strings to sign are
// built in (a few hundred bytes per request, reused).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// doubleEscapePath URI-encodes each segment of an escaped path again.
func doubleEscapePath(path string) string {
	if !strings.Contains(path, "%") && uriEncode(path, false) == path {
		return path
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = uriEncode(s, false)
	}
	return strings.Join(segs, "/")
}

// canonicalRequest is SigV4's canonical request of r with path as the
// canonical URI (tests read it as a string).
func canonicalRequest(r *http.Request, p *parsed, payloadHash string, doubleEscape bool) string {
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if doubleEscape {
		path = doubleEscapePath(path)
	}
	return string(appendCanonicalRequest(nil, r, p, path, payloadHash))
}

// appendCanonicalRequest appends r's canonical request to b.
func appendCanonicalRequest(b []byte, r *http.Request, p *parsed, path, payloadHash string) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = append(b, path...)
	b = append(b, '\n')
	if r.URL.RawQuery != "" {
		b = append(b, canonicalQuery(r.URL.RawQuery, p.presigned)...)
	}
	b = append(b, '\n')
	for _, h := range p.signedHeaders {
		b = append(b, h...)
		b = append(b, ':')
		b = appendHeaderValue(b, r, h)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	if p.signedRaw != "" {
		b = append(b, p.signedRaw...)
	} else {
		b = append(b, strings.Join(p.signedHeaders, ";")...)
	}
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return b
}

// canonicalKeys are the canonical (MIME) forms of the header names SDKs
// sign, so the common ones are found without allocating their form.
var canonicalKeys = map[string]string{
	"content-type": "Content-Type", "x-amz-date": "X-Amz-Date", "x-amz-target": "X-Amz-Target",
	"x-amz-security-token": "X-Amz-Security-Token", "x-amz-content-sha256": "X-Amz-Content-Sha256",
	"amz-sdk-invocation-id": "Amz-Sdk-Invocation-Id", "amz-sdk-request": "Amz-Sdk-Request",
	"x-amz-user-agent": "X-Amz-User-Agent", "x-amz-query-mode": "X-Amz-Query-Mode",
	"x-amz-api-version": "X-Amz-Api-Version", "user-agent": "User-Agent", "content-md5": "Content-Md5",
}

// appendHeaderValue appends the canonical value of r's header name:
// values joined by commas, each trimmed with inner runs of spaces folded.
func appendHeaderValue(b []byte, r *http.Request, name string) []byte {
	var vals []string
	switch name {
	case "host":
		return appendTrimmed(b, r.Host)
	case "content-length":
		vals = r.Header["Content-Length"]
		if len(vals) == 0 && r.ContentLength >= 0 {
			return strconv.AppendInt(b, r.ContentLength, 10)
		}
	default:
		if ck, ok := canonicalKeys[name]; ok {
			vals = r.Header[ck]
		} else {
			vals = r.Header.Values(name)
		}
	}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTrimmed(b, v)
	}
	return b
}

// appendTrimmed appends v with leading and trailing white space removed
// and inner runs of it folded to one space (strings.Fields, joined).
func appendTrimmed(b []byte, v string) []byte {
	clean := len(v) == 0 || v[0] != ' ' && v[len(v)-1] != ' '
	for i := 0; clean && i < len(v); i++ {
		c := v[i]
		if c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c >= 0x80 || c == ' ' && v[i-1] == ' ' {
			clean = false
		}
	}
	if clean {
		return append(b, v...)
	}
	return append(b, strings.Join(strings.Fields(v), " ")...)
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
