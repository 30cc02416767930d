package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// KeyRing is the Secrets of a server that can hold several keys
// (pkg/pki.Sealer): it says which key seals new values. ResealSecrets
// needs it.
type KeyRing interface {
	Secrets
	SealingKeyID() string
}

// sealedValue matches a sealed value inside a stored record (a JSON
// string: standard base64 needs no JSON escaping). The first group is
// the id of the key that sealed it.
var sealedValue = regexp.MustCompile(`orchsealed:v1:([0-9a-f]+):[A-Za-z0-9+/=]+`)

// sealedPrefixes are where sealed values live (see the key schema):
// auth/awskeys, auth/snssigning, auth/ca, auth/replicakey and the node
// records' callback tokens. Messages, audit entries and the rest never
// hold one, so a rotation does not read them.
func (s *Store) sealedPrefixes() []string {
	return []string{s.key("auth") + "/", s.key("nodes") + "/"}
}

// secretPaths are where records hold secrets, as object keys from the
// record's top (arrays passed through): an AWS key's secretAccessKey, the
// CA's keyPem, the SNS signing keys' current.keyPem and retired[].keyPem,
// a node's callbackToken. Sealed, such a value is a sealedValue; a record
// written before a secrets key was configured holds it in clear. Only
// these paths count: a node attribute that happens to be named
// callbackToken is data (and one that looks sealed is not opened).
var secretPaths = map[string]bool{"secretAccessKey": true, "keyPem": true, "current.keyPem": true, "retired.keyPem": true, "callbackToken": true}

// secretSpans returns where record value holds its non-empty secrets: the
// byte spans [start, end) of the JSON strings at secretPaths, quotes
// included. A value that is not JSON holds none.
func secretSpans(value string) [][2]int {
	type frame struct {
		obj     bool
		key     string
		wantKey bool
	}
	var stack []frame
	var spans [][2]int
	dec := json.NewDecoder(strings.NewReader(value))
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return spans // the end, or not JSON
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				stack = append(stack, frame{obj: t == '{', wantKey: t == '{'})
				continue
			}
			stack = stack[:top]
		case string:
			if top >= 0 && stack[top].obj && stack[top].wantKey {
				stack[top].key, stack[top].wantKey = t, false
				continue
			}
			if t != "" && top >= 0 && stack[top].obj {
				var path []string
				for _, f := range stack {
					if f.obj {
						path = append(path, f.key)
					}
				}
				if secretPaths[strings.Join(path, ".")] {
					end := int(dec.InputOffset())
					start := int(before) + strings.IndexByte(value[before:end], '"')
					spans = append(spans, [2]int{start, end})
				}
			}
		}
		// A value (or a container holding one) ended: its object's next
		// token is a key.
		if top = len(stack) - 1; top >= 0 && stack[top].obj {
			stack[top].wantKey = true
		}
	}
}

// editSecrets rewrites the secrets of record value: edit gets each one
// as JSON writes it (quoted) and returns its replacement.
func editSecrets(value string, edit func(quoted string) string) string {
	spans := secretSpans(value)
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(value[last:sp[0]])
		b.WriteString(edit(value[sp[0]:sp[1]]))
		last = sp[1]
	}
	b.WriteString(value[last:])
	return b.String()
}

// SealedValueCounts counts the sealed values in etcd by the id of the key
// that sealed them (once a rotation has left none under a key, that key
// can leave every server's key file), and the secrets still in clear
// (written before sealing was on; a rotation seals them).
func (s *Store) SealedValueCounts(ctx context.Context) (byKey map[string]int, inClear int, err error) {
	byKey = map[string]int{}
	err = s.scanSealed(ctx, func(kv *kvRef) error {
		if kv.key == s.replicaKeyKey() {
			if m := sealedValue.FindStringSubmatch(kv.value); m != nil {
				byKey[m[1]]++
			}
		}
		for _, sp := range secretSpans(kv.value) {
			if m := sealedValue.FindStringSubmatch(kv.value[sp[0]:sp[1]]); m != nil {
				byKey[m[1]]++
			}
		}
		inClear += s.clearValues(kv.key, kv.value)
		return nil
	})
	return byKey, inClear, err
}

// clearValues counts the secrets of one record held in clear.
func (s *Store) clearValues(key, value string) int {
	if key == s.replicaKeyKey() {
		if sealedValue.MatchString(value) {
			return 0
		}
		return 1
	}
	n := 0
	for _, sp := range secretSpans(value) {
		if !strings.HasPrefix(value[sp[0]:sp[1]], `"orchsealed:`) {
			n++
		}
	}
	return n
}

func (s *Store) replicaKeyKey() string { return s.key("auth", "replicakey") }

// ResealReport says what ResealSecrets did.
type ResealReport struct {
	// SealingKey is the key every value is now sealed with.
	SealingKey string `json:"sealingKey"`
	// Resealed counts the values sealed again; Records the etcd keys
	// rewritten for them.
	Resealed int `json:"resealed"`
	Records  int `json:"records"`
	// Sealed counts the values found in clear and sealed (included in
	// Resealed).
	Sealed int `json:"sealed"`
	// ValuesByKey counts the sealed values by key id after the pass;
	// InClear the secrets still in clear (0 unless written meanwhile).
	ValuesByKey map[string]int `json:"valuesByKey"`
	InClear     int            `json:"inClear"`
}

// ResealSecrets opens every sealed value in etcd that another key sealed
// and seals it again with the sealing key, and seals every secret still
// held in clear (written before sealing was on), each record rewritten only if
// it did not change meanwhile (else re-read and redone), keeping its lease.
// A value no key of this server opens stops the pass with an error naming
// the etcd key and the key id; what was done until then stays done (the
// pass can be run again).
func (s *Store) ResealSecrets(ctx context.Context) (ResealReport, error) {
	ring, ok := s.secrets.(KeyRing)
	if !ok {
		return ResealReport{}, errors.New("store: this store has no key ring to re-seal with")
	}
	rep := ResealReport{SealingKey: ring.SealingKeyID()}
	err := s.scanSealed(ctx, func(kv *kvRef) error {
		for attempt := 0; ; attempt++ {
			out, n, err := s.resealRecord(ring, kv.key, kv.value, rep.SealingKey)
			if err != nil {
				return err
			}
			out, clear := s.sealClear(ring, kv.key, out)
			if n+clear == 0 {
				return nil
			}
			// WithIgnoreLease keeps a task credential's lease (it still
			// ends with the credential).
			resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(kv.key), "=", kv.modRev)).
				Then(clientv3.OpPut(kv.key, out, clientv3.WithIgnoreLease())).
				Else(clientv3.OpGet(kv.key)).Commit()
			if err != nil {
				return fmt.Errorf("store: re-seal %s: %w", kv.key, err)
			}
			if resp.Succeeded {
				rep.Resealed += n + clear
				rep.Sealed += clear
				rep.Records++
				return nil
			}
			got := resp.Responses[0].GetResponseRange().Kvs
			if len(got) == 0 || attempt >= 10 {
				// Deleted meanwhile (an expired task credential): nothing
				// to do. Ten conflicts in a row: the next pass gets it.
				return nil
			}
			kv.value, kv.modRev = string(got[0].Value), got[0].ModRevision
		}
	})
	if err != nil {
		return rep, err
	}
	rep.ValuesByKey, rep.InClear, err = s.SealedValueCounts(ctx)
	return rep, err
}

// sealClear seals the secrets of one record (value) held in clear; n
// counts them.
func (s *Store) sealClear(ring KeyRing, key, value string) (out string, n int) {
	if key == s.replicaKeyKey() {
		if sealedValue.MatchString(value) {
			return value, 0
		}
		return ring.Seal(value, key), 1
	}
	out = editSecrets(value, func(quoted string) string {
		var pt string
		if strings.HasPrefix(quoted, `"orchsealed:`) || json.Unmarshal([]byte(quoted), &pt) != nil {
			return quoted
		}
		sealed, _ := json.Marshal(ring.Seal(pt, key))
		n++
		return string(sealed)
	})
	return out, n
}

// resealRecord re-seals the sealed values of one record that a key other
// than sealing sealed; n counts them.
func (s *Store) resealRecord(ring KeyRing, key, value, sealing string) (string, int, error) {
	n := 0
	var ferr error
	reseal := func(v string) string {
		m := sealedValue.FindStringSubmatch(v)
		if ferr != nil || m == nil || m[1] == sealing {
			return v
		}
		pt, err := ring.Open(v, key)
		if err != nil {
			ferr = fmt.Errorf("store: re-seal %s: %w", key, err)
			return v
		}
		n++
		return ring.Seal(pt, key)
	}
	if key == s.replicaKeyKey() {
		return reseal(value), n, ferr
	}
	out := editSecrets(value, func(quoted string) string {
		var v string
		if json.Unmarshal([]byte(quoted), &v) != nil || !sealedValue.MatchString(v) || sealedValue.FindString(v) != v {
			return quoted
		}
		if r := reseal(v); r != v {
			b, _ := json.Marshal(r)
			return string(b)
		}
		return quoted
	})
	return out, n, ferr
}

type kvRef struct {
	key, value string
	modRev     int64
}

// scanSealed calls fn for every record under sealedPrefixes holding a
// sealed value or a secret in clear, reading 500 records at a time.
func (s *Store) scanSealed(ctx context.Context, fn func(*kvRef) error) error {
	for _, prefix := range s.sealedPrefixes() {
		from := prefix
		end := clientv3.GetPrefixRangeEnd(prefix)
		for {
			resp, err := s.cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(500))
			if err != nil {
				return fmt.Errorf("store: read %s: %w", prefix, err)
			}
			for _, kv := range resp.Kvs {
				if !sealedValue.Match(kv.Value) && s.clearValues(string(kv.Key), string(kv.Value)) == 0 {
					continue
				}
				if err := fn(&kvRef{key: string(kv.Key), value: string(kv.Value), modRev: kv.ModRevision}); err != nil {
					return err
				}
			}
			if !resp.More || len(resp.Kvs) == 0 {
				break
			}
			from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
	}
	return nil
}

// SecretsKeyHolder is what one server publishes about its key ring (ids
// only, never keys): which keys it holds and which one it seals with.
// Servers seal with a new key only once every live server holds it, so no
// replica meets a value it cannot open.
type SecretsKeyHolder struct {
	Server  string    `json:"server"`
	Keys    []string  `json:"keys"`
	Sealing string    `json:"sealing"`
	Updated time.Time `json:"updated"`
}

// SecretsKeyHolders lists the live servers' key rings, by server id.
func (s *Store) SecretsKeyHolders(ctx context.Context) ([]SecretsKeyHolder, error) {
	resp, err := s.cli.Get(ctx, s.key("secretskeys")+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("store: read the servers' secrets keys: %w", err)
	}
	out := make([]SecretsKeyHolder, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var h SecretsKeyHolder
		if json.Unmarshal(kv.Value, &h) == nil {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Server < out[j].Server })
	return out, nil
}

// SecretsKeyPublisher keeps one server's SecretsKeyHolder in etcd, bound
// to a lease it keeps alive, so a stopped server's record goes away by
// itself (within ttl).
type SecretsKeyPublisher struct {
	s     *Store
	key   string
	lease clientv3.LeaseID
	ttl   int64
}

// NewSecretsKeyPublisher grants the lease the record is bound to.
func (s *Store) NewSecretsKeyPublisher(ctx context.Context, server string, ttl time.Duration) (*SecretsKeyPublisher, error) {
	p := &SecretsKeyPublisher{s: s, key: s.key("secretskeys", base64.RawURLEncoding.EncodeToString([]byte(server))), ttl: int64(ttl.Seconds())}
	return p, p.grant(ctx)
}

func (p *SecretsKeyPublisher) grant(ctx context.Context) error {
	l, err := p.s.cli.Grant(ctx, p.ttl)
	if err != nil {
		return fmt.Errorf("store: lease for the secrets key record: %w", err)
	}
	p.lease = l.ID
	return nil
}

// Publish writes h; Refresh keeps the lease alive and must be called
// more often than its ttl. A lost lease is granted again.
func (p *SecretsKeyPublisher) Publish(ctx context.Context, h SecretsKeyHolder) error {
	b, _ := json.Marshal(h)
	_, err := p.s.cli.Put(ctx, p.key, string(b), clientv3.WithLease(p.lease))
	if err != nil && isLeaseGone(err) {
		if err = p.grant(ctx); err == nil {
			_, err = p.s.cli.Put(ctx, p.key, string(b), clientv3.WithLease(p.lease))
		}
	}
	if err != nil {
		return fmt.Errorf("store: publish the secrets key record: %w", err)
	}
	return nil
}

// Refresh renews the lease; false when it was gone (Publish again).
func (p *SecretsKeyPublisher) Refresh(ctx context.Context) (bool, error) {
	_, err := p.s.cli.KeepAliveOnce(ctx, p.lease)
	if err != nil && isLeaseGone(err) {
		return false, p.grant(ctx)
	}
	return err == nil, err
}

// Withdraw deletes the record (a server stopping on purpose).
func (p *SecretsKeyPublisher) Withdraw(ctx context.Context) {
	_, _ = p.s.cli.Revoke(ctx, p.lease)
}

// ReplicaKey is a random 32-byte key the servers of a cluster share
// (sealed in etcd; the first server makes it): they prove to each other,
// with keys derived from it, what neither clients nor agents can forge.
// It is kept in etcd rather than derived from the secrets key file so a
// rotation of that file does not change it.
func (s *Store) ReplicaKey(ctx context.Context) ([]byte, error) {
	key := s.replicaKeyKey()
	for {
		resp, err := s.cli.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("store: read the replica key: %w", err)
		}
		if len(resp.Kvs) > 0 {
			v, err := s.open(string(resp.Kvs[0].Value), key)
			if err != nil {
				return nil, err
			}
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(b) != 32 {
				return nil, fmt.Errorf("store: %s is not a 32-byte key", key)
			}
			return b, nil
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if _, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, s.seal(base64.StdEncoding.EncodeToString(b), key))).Commit(); err != nil {
			return nil, fmt.Errorf("store: save the replica key: %w", err)
		}
		// Read back: another server may have made it first.
	}
}

func isLeaseGone(err error) bool { return errors.Is(err, rpctypes.ErrLeaseNotFound) }
