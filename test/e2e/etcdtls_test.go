package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/pki"
)

// Issue 11 item 1: orch server reaches an external etcd (Debian's etcd
// 3.4) over client-certificate TLS with --etcd-cacert/--etcd-cert/
// --etcd-key. The certificates are made here, as an operator would with
// their own CA; etcd refuses clients without one.
func TestExternalEtcdOverClientCertTLS(t *testing.T) {
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Fatalf("etcd is not installed: apt-get install -y etcd-server (.ci/run does it)")
	}
	dir := t.TempDir()
	ca, err := pki.NewCA("etcd test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := ca.IssueServer([]string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := pki.KeyPEMOf(srvCert)
	cliCert, cliKey, err := ca.IssueClient("orch", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for name, b := range map[string][]byte{"ca.pem": ca.CertPEM, "server.pem": pki.CertPEMOf(srvCert), "server-key.pem": srvKey,
		"client.pem": cliCert, "client-key.pem": cliKey} {
		files[name] = writeFile(t, dir, name, string(b))
	}
	client, peer := freeAddr(t), freeAddr(t)
	ep := "https://" + client
	start(t, nil, "etcd", "--name", "tls", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", ep, "--advertise-client-urls", ep,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "tls=http://"+peer, "--log-level", "warn",
		"--cert-file", files["server.pem"], "--key-file", files["server-key.pem"],
		"--client-cert-auth", "--trusted-ca-file", files["ca.pem"])
	testutil.WaitFor(t, 30*time.Second, "etcd with TLS", func() (bool, string) {
		out, err := exec.Command("etcdctl", "--endpoints", ep, "--cacert", files["ca.pem"], "--cert", files["client.pem"],
			"--key", files["client-key.pem"], "endpoint", "health").CombinedOutput()
		return err == nil, string(out)
	})
	// Without a client certificate etcd refuses (what the flags are for).
	if out, err := exec.Command("etcdctl", "--endpoints", ep, "--cacert", files["ca.pem"], "--dial-timeout", "2s",
		"--command-timeout", "3s", "get", "/orch/", "--prefix", "--keys-only").CombinedOutput(); err == nil {
		t.Fatalf("etcd answered a client without a certificate: %s", out)
	}
	c := newCluster(t)
	// Without the certificate flags orch server says what is wrong.
	bad := start(t, c.env, "orch", "server", "--data-dir", t.TempDir(), "--listen", freeAddr(t), "--etcd-endpoints", ep, "--etcd-cacert", files["ca.pem"])
	if code := bad.wait(t, 60*time.Second); code == 0 || !strings.Contains(bad.Output(), "not answering") {
		t.Fatalf("orch server without a client certificate: exit %d\n%s", code, bad.Output())
	}
	startServer(t, c, "--data-dir", t.TempDir(), "--etcd-endpoints", ep,
		"--etcd-cacert", files["ca.pem"], "--etcd-cert", files["client.pem"], "--etcd-key", files["client-key.pem"])
	c.startAgent(t, "etcdtls-node", "--runtime", "fake")
	waitNodes(t, c, 1)
	out := c.mustOrch(t, "get", "nodes")
	if !strings.Contains(out, "etcdtls-node") {
		t.Fatalf("orch get nodes:\n%s", out)
	}
}
