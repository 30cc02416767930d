package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/server"
)

// headerTransport dials from one local address (127.0.0.2: the "client")
// and adds headers a client might forge.
type headerTransport struct {
	rt     http.RoundTripper
	header map[string]string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.header {
		r.Header.Set(k, v)
	}
	return h.rt.RoundTrip(r)
}

func clientAt(local string, header map[string]string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	return &http.Client{Transport: headerTransport{rt: tr, header: header}}
}

// An AWS call that one replica forwards to the queue's owner was audited
// with remote = the forwarding replica's address. The owner now records
// the client's address, which the forwarding replica passes on with a
// proof only servers can make; the same headers from a client are
// ignored.
func TestForwardedAWSCallsAuditTheClientAddress(t *testing.T) {
	etcdURL, _ := startEtcd(t)
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	withEtcd := func(c *server.Config) { c.EtcdEndpoints = []string{etcdURL}; c.SecretsKey = keyFile }
	a := testutil.StartServer(t, withEtcd)
	cfg := server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: testutil.Logger(),
		NodeLostGrace: 2 * time.Second, SessionTTL: 5, PlainHTTP: true}
	withEtcd(&cfg)
	b, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := context.Background()

	// Queues spread over the two replicas' shards: find one B owns.
	var names []string
	for i := range 8 {
		names = append(names, fmt.Sprintf("fwd-%d", i))
		if code, body := postJSON(t, a, "/v1/queues", a.Bootstrap.AdminToken, fmt.Sprintf(`{"QueueName":%q}`, names[i])); code != 200 && code != 201 {
			t.Fatalf("create queue: %d %s", code, body)
		}
	}
	owned := ""
	testutil.WaitFor(t, 60*time.Second, "a queue owned by replica B", func() (bool, string) {
		seen := map[string]string{}
		for _, n := range names {
			var v struct{ Owner string }
			getJSON(t, a, "/v1/queues/"+n, &v)
			seen[n] = v.Owner
			if v.Owner == b.URL {
				owned = n
				return true, ""
			}
		}
		return false, fmt.Sprintf("owners %v; B is %s", seen, b.URL)
	})

	sqsVia := func(url string, hc *http.Client) *sqs.Client {
		return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), HTTPClient: hc,
			Credentials: credentials.NewStaticCredentialsProvider(a.Bootstrap.AWSAccessKeyID, a.Bootstrap.AWSSecretAccessKey, "")})
	}
	forged := map[string]string{"X-Orch-Forwarded-For": "203.0.113.7", "X-Orch-Forwarded-Auth": fmt.Sprintf("%d:forged", time.Now().Unix())}
	qURL := aws.String(a.URL + "/000000000000/" + owned)
	calls := []struct {
		tag, via string
		hc       *http.Client
	}{
		{"through-a", a.URL, clientAt("127.0.0.2", nil)},           // forwarded by A to B
		{"forged-through-a", a.URL, clientAt("127.0.0.2", forged)}, // A drops the client's headers
		{"forged-at-b", b.URL, clientAt("127.0.0.2", forged)},      // B checks the proof
	}
	for _, c := range calls {
		if _, err := sqsVia(c.via, c.hc).TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: qURL, Tags: map[string]string{"call": c.tag}}); err != nil {
			t.Fatalf("TagQueue %s: %v", c.tag, err)
		}
	}

	adm := client.New(client.Config{Servers: []string{a.URL}, Token: a.Bootstrap.AdminToken})
	var got []model.AuditEntry
	testutil.WaitFor(t, 10*time.Second, "3 sqs:TagQueue entries", func() (bool, string) {
		page, err := adm.ListAudit(ctx, "", 200, "")
		if err != nil {
			return false, err.Error()
		}
		got = got[:0]
		for _, e := range page.Entries {
			if e.Action == "sqs:TagQueue" {
				got = append(got, e)
			}
		}
		return len(got) == len(calls), fmt.Sprintf("%d entries: %+v", len(got), got)
	})
	for _, e := range got {
		if e.Remote != "127.0.0.2" {
			t.Errorf("audit entry %s %s: remote %q, want the client's 127.0.0.2 (not the forwarding replica's 127.0.0.1 nor a forged one)", e.Action, e.Object, e.Remote)
		}
	}
}
