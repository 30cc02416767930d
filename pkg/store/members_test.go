package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/store"
)

// The dashboard's cluster page showed the embedded etcd's client URL
// percent-escaped (unix://%2Fhome%2F...): etcd keeps the socket path in
// the URL's host, and url.URL.String escapes the slashes there. Members
// now gives the path as a user would type it.
func TestMembersShowTheEmbeddedSocketAsAPath(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	members, err := st.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || len(members[0].ClientURLs) != 1 {
		t.Fatalf("members = %+v, want one with one client URL", members)
	}
	got := members[0].ClientURLs[0]
	abs, _ := filepath.Abs(dir)
	if strings.Contains(got, "%") || !strings.HasPrefix(got, "unix://"+abs+"/") || !strings.HasSuffix(got, "/client.sock") {
		t.Errorf("client URL %q, want unix://%s/.../client.sock", got, abs)
	}
	if _, err := os.Stat(strings.TrimPrefix(got, "unix://")); err != nil {
		t.Errorf("the path shown is not the socket: %v", err)
	}
	if !members[0].Healthy {
		t.Errorf("the member's status was not read (its raw URL must still be used): %s", members[0].Err)
	}
	if eps := st.Endpoints(); len(eps) != 1 || eps[0] != got {
		t.Errorf("Endpoints() = %q, Members shows %q: one way to write it", eps, got)
	}
}
