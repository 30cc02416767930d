package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/agent"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/pki"
	"github.com/orch-project/orch/pkg/server"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// startLogAgent runs a real agent (fake runtime) joined as orchlet joins:
// by the join token, trusting the server by the token's pin under TLS.
func startLogAgent(t *testing.T, cp *testutil.ControlPlane, name string) *agent.Agent {
	t.Helper()
	ccfg := client.Config{Servers: []string{cp.URL}, Token: cp.Bootstrap.JoinToken}
	var caPEM []byte
	if cp.CA != nil {
		ccfg.TLS, caPEM = pki.PinnedTLS(cp.CA.Pin(), nil), cp.CA.CertPEM
	}
	ag, err := agent.New(agent.Config{NodeName: name, Runtime: fake.New(fake.Config{CPU: 4096, MemoryMiB: 8192, Images: []string{"fake"}}),
		Logger: testutil.Logger(), StatsInterval: -1, ControlPlane: client.New(ccfg), CABundle: caPEM})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = ag.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	testutil.WaitFor(t, 20*time.Second, "the agent registered", func() (bool, string) {
		n, err := cp.Admin.ListNodes(context.Background())
		return err == nil && len(n) == 1 && n[0].Name == name, "no node yet"
	})
	return ag
}

func runAndReadLogs(t *testing.T, cp *testutil.ControlPlane) string {
	t.Helper()
	ctx := context.Background()
	applyTD(t, cp.Admin, testutil.TaskDef("logged", 64))
	tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "logged"})
	if err != nil {
		t.Fatal(err)
	}
	id := tasks[0].TaskID
	testutil.WaitTask(t, cp.Admin, id, 30*time.Second, func(tk *model.Task) bool { return tk.LastStatus == model.StatusRunning })
	testutil.WaitFor(t, 10*time.Second, "orch logs", func() (bool, string) {
		rc, err := cp.Admin.Logs(ctx, id, url.Values{})
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		return len(b) > 0, "no lines yet"
	})
	return id
}

// Issue 11 item 5, the last cleartext path: the server fetched `orch
// logs` from the agent in plain HTTP with a callback token it kept in
// clear in the node's record. Now, in a TLS cluster, the agent's log port
// speaks only mutual TLS: the server proves it is a server of the
// cluster, the agent proves it is the node (a certificate the cluster CA
// issued at registration), and etcd keeps no callback token.
func TestLogCallbackIsMutualTLS(t *testing.T) {
	cp := testutil.StartServer(t, testutil.WithTLS)
	ag := startLogAgent(t, cp, "logs-tls")
	id := runAndReadLogs(t, cp) // orch logs works, over TLS

	// etcd holds no callback token (before: in clear in /orch/nodes/NAME).
	raw, err := clientv3.New(clientv3.Config{Endpoints: cp.Store.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	resp, err := raw.Get(context.Background(), "/orch/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if strings.Contains(string(kv.Value), ag.CallbackToken()) || strings.Contains(string(kv.Value), `"callbackToken"`) {
			t.Errorf("%s holds the callback token", kv.Key)
		}
	}

	logsURL := "://" + ag.Addr() + "/logs/" + id
	// Plain HTTP, even with the right token, is refused.
	req, _ := http.NewRequest(http.MethodGet, "http"+logsURL, nil)
	req.Header.Set("Authorization", "Bearer "+ag.CallbackToken())
	if r, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusBadRequest || strings.Contains(string(b), "line") {
			t.Errorf("plain HTTP to the agent's log port: %d %q, want 400 (an HTTP request to an HTTPS server)", r.StatusCode, b)
		}
	}
	get := func(cfg *tls.Config) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		r, err := c.Get("https" + logsURL)
		if err != nil {
			return err
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", r.StatusCode)
		}
		return nil
	}
	trustNode := func(name string) *tls.Config { return pki.NodeClientTLS(cp.CA.Cert, tls.Certificate{}, name) }
	// TLS without a client certificate: refused.
	if err := get(trustNode("logs-tls")); err == nil {
		t.Error("the agent served logs to a caller without a client certificate")
	}
	// A certificate the cluster CA issued to another node (what a
	// compromised agent holds) is not a server's: refused.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := pki.EncodeNodeKey(key.Public())
	chain, err := cp.CA.IssueNode("other-node", pub, 0)
	if err != nil {
		t.Fatal(err)
	}
	nodeCert, err := pki.NodeCertificate(chain, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(pki.NodeClientTLS(cp.CA.Cert, *nodeCert, "logs-tls")); err == nil {
		t.Error("the agent served logs to another node's certificate")
	}
	// A server of another cluster: refused.
	other, _ := pki.NewCA("another cluster")
	otherSrv, _ := other.IssueServer([]string{"localhost"}, 0)
	if err := get(pki.NodeClientTLS(cp.CA.Cert, otherSrv, "logs-tls")); err == nil {
		t.Error("the agent served logs to another cluster's server")
	}
	// The node's certificate is no server's: a client trusting the
	// cluster CA (the CLI, agents by pin) refuses it as a server.
	if _, err := tls.Dial("tcp", ag.Addr(), pki.PinnedTLS(cp.CA.Pin(), nil)); err == nil {
		t.Error("an agent's certificate passed as a server's certificate")
	}
	// And the server checks the agent names the node it meant to reach.
	srvCert, err := cp.CA.IssueServer([]string{"localhost"}, 0) // as every replica's
	if err != nil {
		t.Fatal(err)
	}
	if err := get(trustNode("another-name")); err == nil {
		t.Error("connected although the agent's certificate names another node")
	}
	if err := get(pki.NodeClientTLS(cp.CA.Cert, srvCert, "another-name")); err == nil || !strings.Contains(err.Error(), `names node "logs-tls"`) {
		t.Errorf("the agent's certificate for another node: %v, want it refused by name", err)
	}
	if err := get(pki.NodeClientTLS(cp.CA.Cert, srvCert, "logs-tls")); err != nil {
		t.Errorf("the server's own certificate: %v, want logs", err)
	}
}

// --plain-http clusters keep working: plain HTTP and the callback token,
// which etcd keeps sealed, not in clear.
func TestLogCallbackPlainHTTP(t *testing.T) {
	cp := testutil.StartServer(t)
	ag := startLogAgent(t, cp, "logs-plain")
	id := runAndReadLogs(t, cp)
	raw, err := clientv3.New(clientv3.Config{Endpoints: cp.Store.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	resp, err := raw.Get(context.Background(), "/orch/nodes/logs-plain")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the node record: %v %v", err, resp)
	}
	if v := string(resp.Kvs[0].Value); strings.Contains(v, ag.CallbackToken()) || !strings.Contains(v, `"callbackToken":"orchsealed:`) {
		t.Errorf("the node record %s does not keep the callback token sealed", v)
	}
	// Without the token the agent refuses.
	if r, err := http.Get("http://" + ag.Addr() + "/logs/" + id); err != nil || r.StatusCode != http.StatusUnauthorized {
		t.Errorf("plain HTTP without the token: %v %v, want 401", err, r)
	} else {
		r.Body.Close()
	}
}

// presentedCert is the certificate the agent's log port presents now, to
// a caller holding a server certificate of the cluster.
func presentedCert(t *testing.T, cp *testutil.ControlPlane, ag *agent.Agent, node string, srvCert tls.Certificate) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", ag.Addr(), pki.NodeClientTLS(cp.CA.Cert, srvCert, node))
	if err != nil {
		t.Fatalf("TLS to the agent's log port: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// Issue 11 follow-up: the node certificate an agent serves logs with
// expires (a year by default); an agent running longer renews it at 2/3
// of its lifetime with its own node token, so `orch logs` keeps working
// past the first certificate's NotAfter. No node can get a certificate
// for another node's name, and renewals are audited.
func TestNodeCertRenewal(t *testing.T) {
	// Renewed at 2/3: a new certificate is in place 3 s before the old
	// one expires, room enough for a renewal on a loaded machine.
	const validity = 9 * time.Second
	cp := testutil.StartServer(t, testutil.WithTLS, func(c *server.Config) { c.NodeCertValidity = validity })
	ag := startLogAgent(t, cp, "renewing")
	id := runAndReadLogs(t, cp)
	ctx := context.Background()

	srvCert, err := cp.CA.IssueServer([]string{"localhost"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := presentedCert(t, cp, ag, "renewing", srvCert)
	if life := time.Until(first.NotAfter); life > validity {
		t.Fatalf("the node certificate expires in %s, want within NodeCertValidity %s", life, validity)
	}
	testutil.WaitFor(t, 3*validity, "a renewed certificate on the log port", func() (bool, string) {
		c := presentedCert(t, cp, ag, "renewing", srvCert)
		return c.NotAfter.After(first.NotAfter) && c.SerialNumber.Cmp(first.SerialNumber) != 0, "still the first, expiring " + first.NotAfter.String()
	})
	// Logs are fetched over a new TLS connection each time: once the first
	// certificate has expired, only a renewed one lets them through.
	testutil.WaitFor(t, 3*validity, "the first certificate expired", func() (bool, string) {
		return time.Now().After(first.NotAfter.Add(time.Second)), "not yet"
	})
	for i := 0; i < 2; i++ {
		rc, err := cp.Admin.Logs(ctx, id, url.Values{})
		if err != nil {
			t.Fatalf("orch logs after the first node certificate expired: %v", err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if len(b) == 0 {
			t.Fatal("orch logs after the first node certificate expired: no lines")
		}
		// And again after the next renewal.
		next := presentedCert(t, cp, ag, "renewing", srvCert)
		testutil.WaitFor(t, 3*validity, "the next renewal", func() (bool, string) {
			return time.Now().After(next.NotAfter.Add(time.Second)), "not yet"
		})
	}

	// Another node's token cannot get a certificate for this node's name;
	// its own name it can; no token, nothing.
	other := testutil.StartHandAgent(t, cp.Agent, "other", 1024, 1024, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := pki.EncodeNodeKey(key.Public())
	if _, err := other.Client().RenewNodeCert(ctx, "renewing", pub); err == nil {
		t.Fatal("node other got a certificate for node renewing")
	}
	chain, err := other.Client().RenewNodeCert(ctx, "other", pub)
	if err != nil {
		t.Fatalf("node other renewing its own certificate: %v", err)
	}
	if c, err := pki.NodeCertificate([]byte(chain), key); err != nil || c.Leaf.Subject.CommonName != "other" {
		t.Fatalf("node other's certificate: %v, want one naming other", err)
	}
	anon := client.New(client.Config{Servers: []string{cp.URL}, TLS: pki.PinnedTLS(cp.CA.Pin(), nil)})
	if _, err := anon.RenewNodeCert(ctx, "renewing", pub); err == nil {
		t.Fatal("a certificate renewed without a token")
	}
	testutil.WaitFor(t, 10*time.Second, "the renewals in the audit log", func() (bool, string) {
		l, err := cp.Admin.ListAudit(ctx, "", 500, "")
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, e := range l.Entries {
			if e.Path == "/v1/agent/nodes/renewing/certificate" && e.Status == http.StatusOK {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("%d renewals of node renewing audited", n)
	})
}
