package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/server"
)

// listQueues calls SQS ListQueues through the stock SDK with a key and
// returns "" or the error's code and message.
func listQueues(url, id, secret string) string {
	c := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: awsStatic(id, secret)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.ListQueues(ctx, &sqs.ListQueuesInput{})
	return apiCode(err)
}

func awsStatic(id, secret string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, nil
	})
}

func clientStatus(err error) int {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 0
}

// Rotating the admin AWS key, as an operator whose key leaked would, on
// two replicas sharing one etcd: the new key works on both; the old one,
// deactivated through replica A, is refused by both at once (B through
// its watch; its cache had the key warm); reactivated it works again;
// removed it is refused again. The last active key can be neither
// deactivated nor removed; a third key is refused (IAM's limit of 2);
// every write is in the audit log, without the secret; a viewer's or
// deployer's token gets 403.
func TestRotateAdminAWSKey(t *testing.T) {
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
	oldID, oldSecret := a.Bootstrap.AWSAccessKeyID, a.Bootstrap.AWSSecretAccessKey
	replicas := map[string]string{"A": a.URL, "B": b.URL}

	// Warm both replicas' caches with the old key.
	for name, url := range replicas {
		if got := listQueues(url, oldID, oldSecret); got != "" {
			t.Fatalf("replica %s, first start's key: %s", name, got)
		}
	}

	keys, err := a.Admin.ListAWSKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].AccessKeyId != oldID || keys[0].Status != model.AccessKeyActive {
		t.Fatalf("keys at first start: %+v %v, want the one active key %s", keys, err, oldID)
	}
	if _, err := a.Admin.DeleteAWSKey(ctx, oldID); clientStatus(err) != http.StatusConflict || !strings.Contains(err.Error(), "last active admin AWS key") {
		t.Fatalf("removing the only key: %v, want 409 saying it is the last active key", err)
	}
	if _, err := a.Admin.SetAWSKeyStatus(ctx, oldID, model.AccessKeyInactive); clientStatus(err) != http.StatusConflict {
		t.Fatalf("deactivating the only key: %v, want 409", err)
	}

	nk, err := a.Admin.CreateAWSKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(nk.AccessKeyId, "AKIA") || len(nk.SecretAccessKey) != 40 || nk.Status != model.AccessKeyActive {
		t.Fatalf("new key: %+v", nk)
	}
	if _, err := a.Admin.CreateAWSKey(ctx); clientStatus(err) != http.StatusConflict || !strings.Contains(err.Error(), "LimitExceeded") {
		t.Fatalf("a third key: %v, want 409 LimitExceeded", err)
	}
	for name, url := range replicas {
		if got := listQueues(url, nk.AccessKeyId, nk.SecretAccessKey); got != "" {
			t.Fatalf("replica %s, new key: %s", name, got)
		}
	}

	// Deactivate the old key through A: refused by both replicas.
	if m, err := a.Admin.SetAWSKeyStatus(ctx, oldID, model.AccessKeyInactive); err != nil || m.Status != model.AccessKeyInactive {
		t.Fatalf("deactivate: %+v %v", m, err)
	}
	if got := listQueues(a.URL, oldID, oldSecret); !strings.HasPrefix(got, "InvalidClientTokenId") || !strings.Contains(got, "inactive") {
		t.Fatalf("replica A, deactivated key: %q, want InvalidClientTokenId saying inactive", got)
	}
	testutil.WaitFor(t, 10*time.Second, "replica B to refuse the deactivated key", func() (bool, string) {
		got := listQueues(b.URL, oldID, oldSecret)
		return strings.HasPrefix(got, "InvalidClientTokenId"), "answer: " + got
	})
	// Now the new key is the last active one.
	if _, err := a.Admin.DeleteAWSKey(ctx, nk.AccessKeyId); clientStatus(err) != http.StatusConflict {
		t.Fatalf("removing the last active key while the other is inactive: %v, want 409", err)
	}

	// Reactivated (a rollback of the rotation), it works again.
	if _, err := a.Admin.SetAWSKeyStatus(ctx, oldID, model.AccessKeyActive); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "both replicas to accept the reactivated key", func() (bool, string) {
		ga, gb := listQueues(a.URL, oldID, oldSecret), listQueues(b.URL, oldID, oldSecret)
		return ga == "" && gb == "", "A: " + ga + "; B: " + gb
	})

	// Removed through B this time: refused by both.
	if _, err := a.Admin.SetAWSKeyStatus(ctx, oldID, model.AccessKeyInactive); err != nil {
		t.Fatal(err)
	}
	bAdmin := client.New(client.Config{Servers: []string{b.URL}, Token: a.Bootstrap.AdminToken})
	if _, err := bAdmin.DeleteAWSKey(ctx, oldID); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "both replicas to refuse the removed key", func() (bool, string) {
		ga, gb := listQueues(a.URL, oldID, oldSecret), listQueues(b.URL, oldID, oldSecret)
		return strings.HasPrefix(ga, "InvalidClientTokenId") && strings.HasPrefix(gb, "InvalidClientTokenId"), "A: " + ga + "; B: " + gb
	})
	for name, url := range replicas {
		if got := listQueues(url, nk.AccessKeyId, nk.SecretAccessKey); got != "" {
			t.Fatalf("replica %s, new key after the old one's removal: %s", name, got)
		}
	}
	if keys, err := a.Admin.ListAWSKeys(ctx); err != nil || len(keys) != 1 || keys[0].AccessKeyId != nk.AccessKeyId {
		t.Fatalf("keys after the rotation: %+v %v, want only %s", keys, err, nk.AccessKeyId)
	}
	if _, err := a.Admin.DeleteAWSKey(ctx, "AKIA../../tokens/xx"); clientStatus(err) != http.StatusBadRequest && clientStatus(err) != http.StatusNotFound {
		t.Fatalf("a malformed id: %v, want 400 or 404", err)
	}

	// Each write is audited (by the admin token's name), never with a secret.
	var writes []string
	testutil.WaitFor(t, 10*time.Second, "the key writes in the audit log", func() (bool, string) {
		list, err := a.Admin.ListAudit(ctx, "", 200, "")
		if err != nil {
			return false, err.Error()
		}
		writes = writes[:0]
		for _, e := range list.Entries {
			if strings.HasPrefix(e.Path, "/v1/aws-keys") && e.Outcome == model.AuditOK {
				writes = append(writes, e.Method+" "+e.Path)
			}
			if b, _ := json.Marshal(e); strings.Contains(string(b), nk.SecretAccessKey) || strings.Contains(string(b), oldSecret) {
				t.Fatalf("a secret in the audit log: %s", b)
			}
		}
		return len(writes) >= 5, strings.Join(writes, ", ")
	})

	// Only admins manage keys.
	for _, role := range []string{"viewer", "deployer"} {
		code, body := postJSON(t, a, "/v1/tokens", a.Bootstrap.AdminToken, `{"role":"`+role+`","name":"`+role+`"}`)
		var tok struct{ Token string }
		if code != http.StatusCreated || json.Unmarshal([]byte(body), &tok) != nil {
			t.Fatalf("mint %s token: %d %s", role, code, body)
		}
		c := client.New(client.Config{Servers: []string{a.URL}, Token: tok.Token})
		if _, err := c.ListAWSKeys(ctx); clientStatus(err) != http.StatusForbidden {
			t.Errorf("%s lists keys: %v, want 403", role, err)
		}
		if _, err := c.CreateAWSKey(ctx); clientStatus(err) != http.StatusForbidden {
			t.Errorf("%s creates a key: %v, want 403", role, err)
		}
		if _, err := c.DeleteAWSKey(ctx, nk.AccessKeyId); clientStatus(err) != http.StatusForbidden {
			t.Errorf("%s removes a key: %v, want 403", role, err)
		}
	}
}
