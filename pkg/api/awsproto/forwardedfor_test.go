package awsproto

import (
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// ClientAddr believes a forwarded client address only with a fresh proof
// made with the replicas' key for this very request.
func TestClientAddrTrustsOnlyAReplicasProof(t *testing.T) {
	key, other := []byte("replica key"), []byte("another key")
	now := time.Unix(1_800_000_000, 0)
	req := func(addr, proof, uri string) string {
		r := httptest.NewRequest("POST", "http://orch:7474"+uri, nil)
		r.RemoteAddr = "10.0.0.1:5555" // the forwarding replica
		if addr != "" {
			r.Header.Set(ForwardedForHeader, addr)
			r.Header.Set(ForwardedAuthHeader, proof)
		}
		return ClientAddr(r, key, now)
	}
	proof := func(k []byte, addr string, at time.Time, uri string) string {
		ts := strconv.FormatInt(at.Unix(), 10)
		r := httptest.NewRequest("POST", "http://orch:7474"+uri, nil)
		return ts + ":" + forwardedMAC(k, addr, ts, r)
	}
	tests := []struct {
		name, addr, proof, want string
	}{
		{"no header: the peer", "", "", "10.0.0.1"},
		{"a replica's proof", "192.0.2.9", proof(key, "192.0.2.9", now, "/q"), "192.0.2.9"},
		{"another key", "192.0.2.9", proof(other, "192.0.2.9", now, "/q"), "10.0.0.1"},
		{"proof for another address", "192.0.2.66", proof(key, "192.0.2.9", now, "/q"), "10.0.0.1"},
		{"proof for another request", "192.0.2.9", proof(key, "192.0.2.9", now, "/other"), "10.0.0.1"},
		{"stale proof", "192.0.2.9", proof(key, "192.0.2.9", now.Add(-10*time.Minute), "/q"), "10.0.0.1"},
		{"garbage", "192.0.2.9", "nonsense", "10.0.0.1"},
		{"not an address", "evil\nline", proof(key, "evil\nline", now, "/q"), "10.0.0.1"},
	}
	for _, tt := range tests {
		if got := req(tt.addr, tt.proof, "/q"); got != tt.want {
			t.Errorf("%s: ClientAddr = %q, want %q", tt.name, got, tt.want)
		}
	}
	r := httptest.NewRequest("POST", "http://orch:7474/q", nil)
	r.RemoteAddr = "10.0.0.1:5555"
	r.Header.Set(ForwardedForHeader, "192.0.2.9")
	r.Header.Set(ForwardedAuthHeader, proof(key, "192.0.2.9", now, "/q"))
	if got := ClientAddr(r, nil, now); got != "10.0.0.1" {
		t.Errorf("without a replica key: ClientAddr = %q, want the peer", got)
	}
}
