package store

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Candidates returns the ids of every process campaigning in election
// name, the leader first (in campaign order). Every orch server campaigns
// for "controller", so this is the list of live servers.
func (s *Store) Candidates(ctx context.Context, name string) ([]string, error) {
	resp, err := s.cli.Get(ctx, s.key("election", name)+"/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("store: candidates of %s: %w", name, err)
	}
	out := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, string(kv.Value))
	}
	return out, nil
}

// Member is one etcd cluster member and its health as seen from here.
type Member struct {
	ID         string
	Name       string
	ClientURLs []string
	Leader     bool
	Learner    bool
	// Healthy: its status answered within the timeout; Err says why not.
	Healthy   bool
	Err       string
	DBSize    int64
	RaftIndex uint64
}

// Members lists the etcd members and asks each for its status (at most
// 2 s per member), so an operator sees which member is down.
func (s *Store) Members(ctx context.Context) ([]Member, error) {
	ml, err := s.cli.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: etcd member list: %w", err)
	}
	out := make([]Member, 0, len(ml.Members))
	for _, m := range ml.Members {
		mem := Member{ID: fmt.Sprintf("%x", m.ID), Name: m.Name, Learner: m.IsLearner}
		for _, u := range m.ClientURLs {
			mem.ClientURLs = append(mem.ClientURLs, displayURL(u))
		}
		if len(m.ClientURLs) == 0 {
			mem.Err = "no client URL (not started yet)"
			out = append(out, mem)
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := s.cli.Status(sctx, m.ClientURLs[0])
		cancel()
		if err != nil {
			mem.Err = err.Error()
		} else {
			mem.Healthy = len(st.Errors) == 0
			if !mem.Healthy {
				mem.Err = fmt.Sprint(st.Errors)
			}
			mem.Leader = st.Leader == m.ID
			mem.DBSize = st.DbSize
			mem.RaftIndex = st.RaftIndex
		}
		out = append(out, mem)
	}
	return out, nil
}

// displayURL writes an etcd client URL as a user would: etcd keeps a unix
// socket's path in the URL's host, and url.URL.String percent-escapes it
// there (unix://%2Fvar%2Flib%2Forch%2F...), which is no path anyone
// recognises. Other URLs are returned as they are.
func displayURL(raw string) string {
	for _, scheme := range []string{"unix://", "unixs://"} {
		if !strings.HasPrefix(raw, scheme) {
			continue
		}
		if p, err := url.PathUnescape(strings.TrimPrefix(raw, scheme)); err == nil {
			return scheme + p
		}
	}
	return raw
}
