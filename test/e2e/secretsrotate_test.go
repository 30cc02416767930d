package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
)

// Rotating the secrets key file online on two real server processes
// sharing an external etcd, as an operator would: add a key on one host
// (nobody seals with it while the other server lacks it, and a rotation
// names that server), copy the file to the other (both switch within
// seconds), rotate (every sealed value moves to the new key), drop the old
// key from both files, restart one server with the new key alone (it opens
// the CA and the AWS secrets). A server given only the old key fails at
// start naming the key it lacks. No key ever appears in any output.
func TestRotateSecretsKeyOnline(t *testing.T) {
	etcd := startEtcd(t)
	c := newCluster(t)
	dir := t.TempDir()
	fileA, fileB := filepath.Join(dir, "a", "secrets.key"), filepath.Join(dir, "b", "secrets.key")
	copyKey := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			t.Fatal(err)
		}
		tmp := to + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, to); err != nil {
			t.Fatal(err)
		}
	}
	a := startServer(t, c, "--etcd-endpoints", etcd, "--secrets-key", fileA, "--data-dir", filepath.Join(dir, "a", "data"))
	copyKey(fileA, fileB)
	b := startServer(t, c, "--etcd-endpoints", etcd, "--secrets-key", fileB, "--data-dir", filepath.Join(dir, "b", "data"))
	procs := []*proc{a, b}

	listQueues := func(url string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := sqsClient(url, c.cfg.AWSAccessKeyID, c.cfg.AWSSecretAccessKey).ListQueues(ctx, &sqs.ListQueuesInput{})
		return err
	}
	status := func() wire.SecretsStatus {
		t.Helper()
		var st wire.SecretsStatus
		out := c.orchStdout(t, "secrets", "status", "-o", "json")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("orch secrets status -o json: %v\n%s", err, out)
		}
		return st
	}
	st := status()
	if len(st.Servers) != 2 || len(st.Keys) != 1 {
		t.Fatalf("status at start: %+v, want two servers with one key", st)
	}
	oldID := st.Keys[0]
	if st.ValuesByKey[oldID] == 0 {
		t.Fatalf("status at start: %+v, want sealed values under %s", st, oldID)
	}

	// Keep the old key file, for a server that missed the rotation.
	oldFile := filepath.Join(dir, "c", "secrets.key")
	copyKey(fileA, oldFile)
	oldKey, _ := os.ReadFile(oldFile)

	// A new key on A's host only.
	out := c.mustOrch(t, "secrets", "add-key", "--secrets-key", fileA)
	m := regexp.MustCompile(`added key ([0-9a-f]+) to`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("add-key said %q", out)
	}
	newID := m[1]
	testutil.WaitFor(t, 20*time.Second, "A to hold the new key, both still sealing with the old one", func() (bool, string) {
		st := status()
		ok := len(st.Servers) == 2
		for _, s := range st.Servers {
			ok = ok && s.Sealing == oldID
			if strings.Contains(s.Server, strings.TrimPrefix(c.urls[0], "https://")) {
				ok = ok && slices.Equal(s.Keys, []string{newID, oldID})
			}
		}
		return ok, "status: " + mustJSON(st)
	})
	out, code := c.orch(t, "", "secrets", "rotate")
	if code == 0 || !strings.Contains(out, "does not hold key "+newID) || !strings.Contains(out, strings.TrimPrefix(c.urls[1], "https://")) {
		t.Fatalf("rotate while B lacks the new key: exit %d\n%s\nwant a refusal naming server B and the key", code, out)
	}

	// The same file on B: both seal with the new key, then rotate.
	copyKey(fileA, fileB)
	testutil.WaitFor(t, 20*time.Second, "both servers to seal with the new key", func() (bool, string) {
		st := status()
		ok := len(st.Servers) == 2
		for _, s := range st.Servers {
			ok = ok && s.Sealing == newID
		}
		return ok, "status: " + mustJSON(st)
	})
	out = c.mustOrch(t, "secrets", "rotate")
	if !strings.Contains(out, "with key "+newID) {
		t.Fatalf("rotate said %q", out)
	}
	st = status()
	if st.ValuesByKey[oldID] != 0 || st.ValuesByKey[newID] == 0 || st.UnderOldKeys != 0 || st.InClear != 0 {
		t.Fatalf("after the rotation: %+v (%d under older keys, %d in clear), want every value under %s", st.ValuesByKey, st.UnderOldKeys, st.InClear, newID)
	}
	for i, url := range c.urls {
		if err := listQueues(url); err != nil {
			t.Fatalf("SQS through server %d after the rotation: %v", i, err)
		}
	}
	// The rotation is in the audit log.
	if out := c.mustOrch(t, "audit", "-o", "json"); !strings.Contains(out, "/v1/secrets/rotate") {
		t.Fatalf("the audit log has no rotation:\n%s", tail(out, 30))
	}

	// The old key leaves both files; B restarts with the new key alone.
	c.mustOrch(t, "secrets", "remove-key", oldID, "--secrets-key", fileA)
	c.mustOrch(t, "secrets", "remove-key", oldID, "--secrets-key", fileB)
	testutil.WaitFor(t, 20*time.Second, "both servers to drop the old key", func() (bool, string) {
		st := status()
		ok := len(st.Servers) == 2
		for _, s := range st.Servers {
			ok = ok && slices.Equal(s.Keys, []string{newID})
		}
		return ok, "status: " + mustJSON(st)
	})
	b.kill(9)
	b.wait(t, 30*time.Second)
	c.urls = c.urls[:1]
	b2 := startServer(t, c, "--etcd-endpoints", etcd, "--secrets-key", fileB, "--data-dir", filepath.Join(dir, "b", "data2"))
	procs = append(procs, b2)
	if err := listQueues(c.urls[1]); err != nil {
		t.Fatalf("SQS through the restarted server with the new key alone: %v", err)
	}

	// A server given only the old key fails at start, naming the key it
	// lacks and what to do, without printing a key.
	p := start(t, c.env, "orch", "server", "--etcd-endpoints", etcd, "--secrets-key", oldFile,
		"--data-dir", filepath.Join(dir, "c", "data"), "--listen", freeAddr(t))
	procs = append(procs, p)
	if code := p.wait(t, 60*time.Second); code == 0 {
		t.Fatal("a server with the old key alone started")
	}
	if out := p.Output(); !strings.Contains(out, "sealed with key "+newID) || !strings.Contains(out, "--secrets-key") || strings.Contains(out, "panic") {
		t.Fatalf("a server with the old key alone said:\n%s\nwant an error naming key %s and --secrets-key", tail(out, 20), newID)
	}

	// No key material in any output.
	keyA, _ := os.ReadFile(fileA)
	for _, p := range procs {
		for line := range strings.SplitSeq(strings.TrimSpace(string(keyA)+"\n"+string(oldKey)), "\n") {
			if line != "" && strings.Contains(p.Output(), line) {
				t.Fatalf("%s printed a secrets key", p.name)
			}
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
