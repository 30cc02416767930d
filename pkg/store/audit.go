package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/orch-project/orch/pkg/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Audit retention defaults: the newest 10,000 entries and none older than
// 30 days, whichever is fewer (about 3 MB of etcd at most).
const (
	DefaultAuditMaxEntries = 10000
	DefaultAuditMaxAge     = 30 * 24 * time.Hour
)

// AuditLog keeps the audit trail under audit/<id>, where ids sort by time.
// Record never waits for etcd: entries are written in batches (one txn for
// many writes) by Run, which also prunes by count and age.
type AuditLog struct {
	st         *Store
	log        *slog.Logger
	ch         chan model.AuditEntry
	MaxEntries int
	MaxAge     time.Duration
	dropped    atomic.Int64
}

// NewAuditLog returns the audit log; Run writes what Record queues.
func (s *Store) NewAuditLog(log *slog.Logger) *AuditLog {
	if log == nil {
		log = slog.Default()
	}
	return &AuditLog{st: s, log: log, ch: make(chan model.AuditEntry, 4096), MaxEntries: DefaultAuditMaxEntries, MaxAge: DefaultAuditMaxAge}
}

func (a *AuditLog) prefix() string { return a.st.key("audit") + "/" }

// Record queues an entry. If the queue is full (etcd far behind) the entry
// is dropped and counted, rather than slowing every write down; the drop
// is logged.
func (a *AuditLog) Record(e model.AuditEntry) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	e.ID = fmt.Sprintf("%019d-%s", e.Time.UnixNano(), hex.EncodeToString(b[:]))
	select {
	case a.ch <- e:
	default:
		if a.dropped.Add(1)%100 == 1 {
			a.log.Error("audit log queue full: entries dropped", "dropped", a.dropped.Load())
		}
	}
}

// Run writes queued entries in batches until ctx ends (then flushes what
// is queued), and prunes once a minute.
func (a *AuditLog) Run(ctx context.Context) error {
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	a.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for len(a.ch) > 0 {
				a.flush(fctx, <-a.ch)
			}
			return nil
		case <-prune.C:
			a.prune(ctx)
		case e := <-a.ch:
			// A batch taken off the queue is written even if ctx ends
			// meanwhile (a shutdown): those writes were acknowledged.
			a.flush(context.WithoutCancel(ctx), e)
		}
	}
}

// auditLinger is how long a batch waits for more entries: under load one
// etcd txn then carries many writes' entries instead of each write paying
// for its own, and nobody waits for an audit entry.
const auditLinger = 100 * time.Millisecond

// flush writes first and what else arrives within auditLinger (up to 256)
// in one txn.
func (a *AuditLog) flush(ctx context.Context, first model.AuditEntry) {
	batch := []model.AuditEntry{first}
	linger := time.NewTimer(auditLinger)
	defer linger.Stop()
more:
	for len(batch) < 256 {
		select {
		case e := <-a.ch:
			batch = append(batch, e)
		case <-linger.C:
			break more
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ops := make([]clientv3.Op, 0, len(batch))
	for _, e := range batch {
		b, _ := json.Marshal(e)
		ops = append(ops, clientv3.OpPut(a.prefix()+e.ID, string(b)))
	}
	for attempt := 0; attempt < 3; attempt++ {
		if _, err := a.st.cli.Txn(ctx).Then(ops...).Commit(); err == nil {
			return
		} else if ctx.Err() != nil || attempt == 2 {
			a.log.Error("audit log: entries not written", "entries", len(batch), "err", err)
			return
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
}

// prune deletes entries older than MaxAge and the oldest beyond MaxEntries.
func (a *AuditLog) prune(ctx context.Context) {
	p := a.prefix()
	if a.MaxAge > 0 {
		cutoff := fmt.Sprintf("%s%019d", p, time.Now().Add(-a.MaxAge).UnixNano())
		if _, err := a.st.cli.Delete(ctx, p, clientv3.WithRange(cutoff)); err != nil {
			a.log.Warn("audit log: pruning by age failed", "err", err)
			return
		}
	}
	if a.MaxEntries <= 0 {
		return
	}
	resp, err := a.st.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count <= int64(a.MaxEntries) {
		return
	}
	over := resp.Count - int64(a.MaxEntries)
	old, err := a.st.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithLimit(over))
	if err != nil || len(old.Kvs) == 0 {
		return
	}
	last := string(old.Kvs[len(old.Kvs)-1].Key)
	if _, err := a.st.cli.Delete(ctx, p, clientv3.WithRange(last+"\x00")); err != nil {
		a.log.Warn("audit log: pruning by count failed", "err", err)
	}
}

// List returns up to limit entries, newest first, older than the entry id
// after ("" starts at the newest), whose actor is actor ("" any); next is
// the id to continue from ("" at the end).
func (a *AuditLog) List(ctx context.Context, actor string, limit int, after string) (entries []model.AuditEntry, next string, err error) {
	p := a.prefix()
	end := clientv3.GetPrefixRangeEnd(p)
	if after != "" {
		end = p + after
	}
	entries = []model.AuditEntry{}
	for {
		resp, err := a.st.cli.Get(ctx, p, clientv3.WithRange(end),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(max(limit, 100))))
		if err != nil {
			return nil, "", fmt.Errorf("store: audit log: %w", err)
		}
		for _, kv := range resp.Kvs {
			var e model.AuditEntry
			if json.Unmarshal(kv.Value, &e) != nil {
				continue
			}
			if actor != "" && e.Actor != actor {
				continue
			}
			entries = append(entries, e)
			if len(entries) == limit {
				return entries, e.ID, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return entries, "", nil
		}
		end = string(resp.Kvs[len(resp.Kvs)-1].Key)
	}
}
