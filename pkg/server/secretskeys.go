package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/pki"
	"github.com/orch-project/orch/pkg/store"
)

// secretsKeyCheckInterval is how often a server re-reads its secrets key
// file (when it changed) and agrees with the other servers on the key new
// secrets are sealed with.
const secretsKeyCheckInterval = 2 * time.Second

// secretsKeys keeps a server's key ring in step with its key file and with
// the other servers, for online rotation:
//
//   - the file is re-read when it changes (size, time or inode), so a key
//     added on disk is used without a restart; a file that does not parse
//     is logged and the ring in memory kept;
//   - each server publishes its key ids (never keys) in etcd under a lease;
//   - a server seals with the newest key of its ring that every live
//     server holds, so no replica meets a value sealed with a key it lacks
//     (a server that joins without the new key makes the others go back to
//     one it has).
type secretsKeys struct {
	path   string
	sealer *pki.Sealer
	st     *store.Store
	id     string
	log    *slog.Logger
	pub    *store.SecretsKeyPublisher

	mu       sync.Mutex // serialises check (the loop and rotate)
	lastStat os.FileInfo
	// published is the ring (ids and sealing key) last written to etcd;
	// check writes again only when it changed or the lease was lost, so
	// an idle server does not commit to etcd every interval.
	published string
}

func newSecretsKeys(ctx context.Context, path string, sealer *pki.Sealer, st *store.Store, id string, log *slog.Logger) (*secretsKeys, error) {
	k := &secretsKeys{path: path, sealer: sealer, st: st, id: id, log: log}
	k.lastStat, _ = os.Stat(path)
	pub, err := st.NewSecretsKeyPublisher(ctx, id, 5*secretsKeyCheckInterval)
	if err != nil {
		return nil, err
	}
	k.pub = pub
	if err := k.check(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// holder is what this server publishes.
func (k *secretsKeys) holder() store.SecretsKeyHolder {
	return store.SecretsKeyHolder{Server: k.id, Keys: k.sealer.IDs(), Sealing: k.sealer.ID(), Updated: time.Now().UTC()}
}

// check reloads the file if it changed, publishes this server's ring and
// picks the sealing key every live server holds.
func (k *secretsKeys) check(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reloadIfChanged()
	if err := k.publish(ctx); err != nil {
		return err
	}
	holders, err := k.st.SecretsKeyHolders(ctx)
	if err != nil {
		return err
	}
	want := agreedSealingKey(k.sealer.IDs(), holders)
	if want == "" || want == k.sealer.ID() {
		return nil
	}
	if err := k.sealer.UseForSealing(want); err != nil {
		return err
	}
	k.log.Info("sealing new secrets with another key of the secrets key file (every live server holds it)", "key", want, "keys", strings.Join(k.sealer.IDs(), ","))
	return k.publish(ctx)
}

// publish writes this server's record unless etcd has it already; called
// with k.mu held.
func (k *secretsKeys) publish(ctx context.Context) error {
	h := k.holder()
	sig := strings.Join(h.Keys, ",") + "|" + h.Sealing
	if sig == k.published {
		return nil
	}
	if err := k.pub.Publish(ctx, h); err != nil {
		return err
	}
	k.published = sig
	return nil
}

// agreedSealingKey is the newest of ours that every holder holds ("" if
// none: keep the current one).
func agreedSealingKey(ours []string, holders []store.SecretsKeyHolder) string {
	for _, id := range ours {
		all := true
		for _, h := range holders {
			if !slices.Contains(h.Keys, id) {
				all = false
				break
			}
		}
		if all {
			return id
		}
	}
	return ""
}

func (k *secretsKeys) reloadIfChanged() {
	fi, err := os.Stat(k.path)
	if err != nil {
		k.log.Error("cannot read the secrets key file; keeping the keys already loaded", "path", k.path, "err", err)
		return
	}
	if k.lastStat != nil && os.SameFile(fi, k.lastStat) && fi.Size() == k.lastStat.Size() && fi.ModTime().Equal(k.lastStat.ModTime()) && fi.Mode() == k.lastStat.Mode() {
		return
	}
	keys, err := pki.ReadKeyRing(k.path)
	if err != nil {
		// The message names the file and line, never a key.
		k.log.Error("the secrets key file changed but cannot be used; keeping the keys already loaded", "err", err)
		k.lastStat = fi
		return
	}
	before := k.sealer.IDs()
	if err := k.sealer.SetKeys(keys); err != nil {
		k.log.Error("the secrets key file changed but cannot be used; keeping the keys already loaded", "path", k.path, "err", err)
		k.lastStat = fi
		return
	}
	k.lastStat = fi
	if !slices.Equal(before, k.sealer.IDs()) {
		k.log.Info("re-read the secrets key file", "path", k.path, "keys", strings.Join(k.sealer.IDs(), ","), "sealing", k.sealer.ID())
	}
}

// Run re-checks every secretsKeyCheckInterval and keeps the published
// record's lease alive; on the way out it withdraws the record.
func (k *secretsKeys) Run(ctx context.Context) error {
	t := time.NewTicker(secretsKeyCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			k.pub.Withdraw(wctx)
			cancel()
			return nil
		case <-t.C:
		}
		alive, err := k.pub.Refresh(ctx)
		if err != nil && ctx.Err() == nil {
			k.log.Warn("renewing the secrets key record's lease", "err", err)
		}
		if !alive {
			// The record went with its lease (or may have): write it again.
			k.mu.Lock()
			k.published = ""
			k.mu.Unlock()
		}
		if err := k.check(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("checking the secrets key ring", "err", err)
		}
	}
}

func (k *secretsKeys) SecretsStatus(ctx context.Context) (wire.SecretsStatus, error) {
	holders, err := k.st.SecretsKeyHolders(ctx)
	if err != nil {
		return wire.SecretsStatus{}, err
	}
	counts, clear, err := k.st.SealedValueCounts(ctx)
	if err != nil {
		return wire.SecretsStatus{}, err
	}
	out := wire.SecretsStatus{Server: k.id, Keys: k.sealer.IDs(), SealingKey: k.sealer.ID(), ValuesByKey: counts, Servers: []wire.SecretsServer{}, InClear: clear}
	for id, n := range counts {
		if id != out.SealingKey {
			out.UnderOldKeys += n
		}
	}
	for _, h := range holders {
		out.Servers = append(out.Servers, wire.SecretsServer(h))
	}
	return out, nil
}

// RotateSecrets waits (up to rotateWait) until every live server seals
// with this server's newest key, then re-seals every sealed value in etcd
// with it. A server that lacks the key, or a file whose newest key is not
// this server's, is a 409 that names the server and what to do.
func (k *secretsKeys) RotateSecrets(ctx context.Context) (wire.SecretsRotation, error) {
	newest := k.sealer.IDs()[0]
	deadline := time.Now().Add(rotateWait)
	var lag []string
	for {
		if err := k.check(ctx); err != nil {
			return wire.SecretsRotation{}, err
		}
		holders, err := k.st.SecretsKeyHolders(ctx)
		if err != nil {
			return wire.SecretsRotation{}, err
		}
		lag = lag[:0]
		for _, h := range holders {
			switch {
			case h.Server == k.id && h.Keys[0] != newest:
				lag = append(lag, fmt.Sprintf("the key file of this server (%s) changed during the rotation: run it again", h.Server))
			case !slices.Contains(h.Keys, newest):
				lag = append(lag, fmt.Sprintf("server %s does not hold key %s (it holds %s): copy the secrets key file with the new key to it (it re-reads the file within %v)", h.Server, newest, strings.Join(h.Keys, ", "), secretsKeyCheckInterval))
			case h.Keys[0] != newest:
				lag = append(lag, fmt.Sprintf("server %s has a newer key %s than this server's newest %s: give every server the same secrets key file", h.Server, h.Keys[0], newest))
			case h.Sealing != newest:
				lag = append(lag, fmt.Sprintf("server %s still seals with key %s", h.Server, h.Sealing))
			}
		}
		if len(lag) == 0 && k.sealer.ID() == newest {
			break
		}
		if time.Now().After(deadline) {
			return wire.SecretsRotation{}, fmt.Errorf("%w: not every server seals with the newest key %s yet, so values sealed now could still use an older one: %s", model.ErrConflict, newest, strings.Join(lag, "; "))
		}
		select {
		case <-ctx.Done():
			return wire.SecretsRotation{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	rep, err := k.st.ResealSecrets(ctx)
	if err != nil {
		if errors.Is(err, pki.ErrWrongKey) {
			return wire.SecretsRotation{}, fmt.Errorf("%w: %v", model.ErrConflict, err)
		}
		return wire.SecretsRotation{}, err
	}
	k.log.Info("re-sealed the secrets in etcd with the newest key", "key", rep.SealingKey, "values", rep.Resealed, "records", rep.Records, "sealedFromClear", rep.Sealed)
	return wire.SecretsRotation{SealingKey: rep.SealingKey, Resealed: rep.Resealed, Records: rep.Records, ValuesByKey: rep.ValuesByKey,
		Sealed: rep.Sealed, InClear: rep.InClear}, nil
}

// rotateWait bounds how long a rotation waits for the servers to agree on
// the newest key (a few check intervals: they are all polling).
const rotateWait = 4 * secretsKeyCheckInterval

// secretsFeature serves /v1/secrets and runs the key ring's loop.
type secretsFeature struct {
	api.Feature
	k *secretsKeys
}

func (f secretsFeature) Run(ctx context.Context) error { return f.k.Run(ctx) }
