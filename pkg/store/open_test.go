package store_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/store"
)

// deadEndpoint is an address nothing listens on.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// The chaos test restarted a server while the first member in its
// --etcd-endpoints was down: it refused to start although the other two
// members had quorum. Any member answering is enough.
func TestOpenWithTheFirstMemberDown(t *testing.T) {
	live := openTest(t)
	eps := append([]string{deadEndpoint(t)}, live.Endpoints()...)
	st, err := store.Open(context.Background(), store.Config{Endpoints: eps})
	if err != nil {
		t.Fatalf("open with %v (the first down): %v, want it to use the member that answers", eps, err)
	}
	defer st.Close()
	if _, err := st.ListNodes(context.Background()); err != nil {
		t.Fatalf("read through the answering member: %v", err)
	}
}

func TestOpenWithNoMemberAnswering(t *testing.T) {
	eps := []string{deadEndpoint(t), deadEndpoint(t)}
	_, err := store.Open(context.Background(), store.Config{Endpoints: eps})
	if err == nil || !strings.Contains(err.Error(), "no etcd member answers") || !strings.Contains(err.Error(), eps[1]) {
		t.Fatalf("open with no member up: %v, want an error naming every endpoint", err)
	}
}
