package store

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// The embedded etcd keeps every revision of every key, in its in-memory
// index and in bbolt, until it is compacted; a queue creates and deletes a
// key per message, so under load history is most of what etcd holds. etcd's
// periodic compactor (formerly 5 minutes of history) let 500,000 messages
// take the server to 2.4 GB RSS. compactLoop instead compacts every
// compactEvery to the revision of historyKept ago: memory follows the
// recent commit rate, and watches and paged reads (LoadQueueMessages reads
// every page at one revision) have a minute to catch up before they see
// ErrCompacted and relist. Compaction frees pages inside bbolt but not the
// file, which is mapped into memory, so once more than defragMinFree and
// more than half of the file is free, defragment rewrites it (writes wait
// for that; it happens after bursts, not on every tick).
const (
	compactEvery = 10 * time.Second
	historyKept  = time.Minute
	// defragEvery bounds how often a defragmentation may stall writes.
	defragEvery = 5 * time.Minute
)

// defragMinFree is how much of the bbolt file must be free before a
// defragmentation (a variable so the test can lower it).
var defragMinFree int64 = 128 << 20

type revMark struct {
	at  time.Time
	rev int64
}

// compactLoop runs for the embedded etcd until stop is closed.
func (s *Store) compactLoop(stop <-chan struct{}) {
	t := time.NewTicker(compactEvery)
	defer t.Stop()
	var marks []revMark
	var compacted int64
	var lastDefrag time.Time
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		marks, compacted, lastDefrag = s.compactOnce(ctx, time.Now(), marks, compacted, lastDefrag)
		cancel()
	}
}

// compactOnce records the current revision, compacts to the newest
// recorded revision at least historyKept old, and defragments when the
// backend is mostly free space. It returns the updated state.
func (s *Store) compactOnce(ctx context.Context, now time.Time, marks []revMark, compacted int64, lastDefrag time.Time) ([]revMark, int64, time.Time) {
	st, err := s.cli.Status(ctx, "")
	if err != nil {
		s.log.Warn("etcd compaction: status", "err", err)
		return marks, compacted, lastDefrag
	}
	marks = append(marks, revMark{now, st.Header.Revision})
	target, i := int64(0), 0
	for i < len(marks) && now.Sub(marks[i].at) >= historyKept {
		target = marks[i].rev
		i++
	}
	marks = marks[i:]
	if target > compacted {
		_, err := s.cli.Compact(ctx, target)
		switch {
		case err == nil, errors.Is(err, rpctypes.ErrCompacted):
			compacted = target
		default:
			s.log.Warn("etcd compaction", "revision", target, "err", err)
		}
	}
	free := st.DbSize - st.DbSizeInUse
	if free > defragMinFree && free > st.DbSizeInUse && now.Sub(lastDefrag) >= defragEvery {
		start := time.Now()
		// The server's own method: the in-process client's maintenance
		// adapter has no health notifier and panics on Defragment.
		if err := s.embedded.Server.Defragment(); err != nil {
			s.log.Warn("etcd defragment", "err", err)
		} else {
			s.log.Info("etcd defragmented", "size_before", st.DbSize, "in_use", st.DbSizeInUse, "took", time.Since(start))
		}
		lastDefrag = now
	}
	return marks, compacted, lastDefrag
}
