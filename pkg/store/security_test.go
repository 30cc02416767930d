package store_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/pki"
	"github.com/orch-project/orch/pkg/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Issue 11 item 1: the embedded etcd listened on loopback TCP without
// authentication, so any local user could read every secret and write an
// admin token. Now its only listeners are unix sockets in the 0700 data
// dir: no TCP port of this process answers etcd.
func TestEmbeddedEtcdHasNoTCPListener(t *testing.T) {
	st := openTest(t)
	eps := st.Endpoints()
	if len(eps) == 0 {
		t.Fatal("no endpoints reported")
	}
	for _, ep := range eps {
		if !strings.HasPrefix(ep, "unix://") {
			t.Errorf("embedded etcd listens on %s, want only unix sockets", ep)
		}
		path := strings.TrimPrefix(ep, "unix://")
		fi, err := os.Stat(path[:strings.LastIndex(path, "/")])
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("the socket's directory has mode %v, want 0700", fi.Mode().Perm())
		}
	}
	// What an attacker would do: list this process's TCP listeners
	// (/proc/net/tcp, state 0A) and talk etcd to each. None is etcd.
	for _, addr := range tcpListeners(t) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 300e6})
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500e6)
		_, err = cli.Get(ctx, "/orch/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		cli.Close()
		if err == nil {
			t.Errorf("etcd answers on TCP %s", addr)
		}
	}
}

// tcpListeners are the loopback and wildcard TCP ports in LISTEN state
// opened by sockets of this process.
func tcpListeners(t *testing.T) []string {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		l, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" || !inodes[fs[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			var port int
			for _, c := range hexPort {
				port = port*16 + strings.IndexRune("0123456789ABCDEF", c)
			}
			out = append(out, net.JoinHostPort("127.0.0.1", itoa(port)))
		}
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

// Issue 11 item 1: SigV4 secret keys and the SNS signing key sat in etcd
// in plaintext. With a Secrets sealer they are AES-GCM sealed; callers
// still read the clear value.
func TestSecretsAreSealedAtRest(t *testing.T) {
	key := make([]byte, 32)
	key[0] = 7
	sealer, err := pki.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Config{DataDir: dir, Secrets: sealer})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	if err := st.PutAWSKey(ctx, store.AWSKey{AccessKeyID: "AKIATEST", SecretAccessKey: secret, Role: auth.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetAWSKey(ctx, "AKIATEST")
	if err != nil || got.SecretAccessKey != secret {
		t.Fatalf("GetAWSKey = %+v, %v; want the clear secret back", got, err)
	}
	ks, err := st.SNSSigningKeys(ctx, func() (*store.SigningKey, error) {
		return &store.SigningKey{ID: "k1", KeyPEM: "-----BEGIN PRIVATE KEY-----\nsecret-signing-key\n", CertPEM: "cert"}, nil
	})
	if err != nil || !strings.Contains(ks.Current.KeyPEM, "secret-signing-key") {
		t.Fatalf("SNSSigningKeys = %+v, %v", ks, err)
	}
	// A rotation keeps the retired key sealed too.
	if _, err := st.RotateSNSSigningKey(ctx, &store.SigningKey{ID: "k2", KeyPEM: "-----BEGIN PRIVATE KEY-----\nsecret-signing-key-2\n", CertPEM: "cert2"}, 0, 1<<62); err != nil {
		t.Fatal(err)
	}
	if ks, err = st.SNSSigningKeys(ctx, nil); err != nil || ks.Retired[0].KeyPEM != "-----BEGIN PRIVATE KEY-----\nsecret-signing-key\n" || !strings.Contains(ks.Current.KeyPEM, "secret-signing-key-2") {
		t.Fatalf("after a rotation SNSSigningKeys = %+v, %v; want both keys back in clear", ks, err)
	}
	// Read etcd raw, as a backup or a local user would.
	raw, err := clientv3.New(clientv3.Config{Endpoints: st.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := raw.Get(ctx, "/orch/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if strings.Contains(string(kv.Value), secret) || strings.Contains(string(kv.Value), "secret-signing-key") {
			t.Errorf("%s holds a secret in clear: %s", kv.Key, kv.Value)
		}
	}
	// Another key file cannot open them, and says why.
	other, _ := pki.NewSealer(make([]byte, 32))
	raw.Close()
	st.Close()
	st2, err := store.Open(ctx, store.Config{DataDir: dir, Secrets: other})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if _, err := st2.GetAWSKey(ctx, "AKIATEST"); err == nil || !strings.Contains(err.Error(), "--secrets-key") {
		t.Errorf("with another key: %v, want an error naming --secrets-key", err)
	}
}
