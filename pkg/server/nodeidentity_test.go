package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// TestNodeTakeoverWithJoinTokenIsRefused reproduces issue 11's node
// takeover: a join-token holder registered under an existing node's name
// and so revoked its token and received its assignments (with their
// secrets). Now a node name is bound to the host key that first
// registered it: another key gets 409 with what to do, and the node keeps
// its token, its tasks and the sole right to report on them.
func TestNodeTakeoverWithJoinTokenIsRefused(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	victim := testutil.StartHandAgent(t, cp.Agent, "victim", 4096, 4096, nil)
	applyTD(t, cp.Admin, testutil.TaskDef("web", 64))
	tasks, err := cp.Admin.RunTask(ctx, wire.RunTaskInput{TaskDefinition: "web", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := tasks[0].TaskID
	testutil.WaitFor(t, 10*time.Second, "the task assigned to victim", func() (bool, string) {
		_, ok := victim.Assignment(id)
		return ok, fmt.Sprint("assigned: ", victim.Assigned())
	})

	// The attacker has the join token and its own key (a fresh client).
	attacker := client.New(client.Config{Servers: []string{cp.URL}, Token: cp.Bootstrap.JoinToken})
	_, err = attacker.Register(ctx, wire.RegisterRequest{Name: "victim", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}})
	if !errors.Is(err, wire.ErrNodeNameTaken) {
		t.Fatalf("registering another host under the name victim: %v, want NodeNameTaken", err)
	}
	for _, want := range []string{"node name victim is taken by another host", "orch node rm victim"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("refusal %q does not say %q", err, want)
		}
	}
	// The attacker holds no node token: the victim's stream and reports
	// stay closed to it.
	evs, errs := attacker.Assignments(ctx, "victim")
	for range evs {
		t.Fatal("the attacker received an assignment event for victim")
	}
	if err := <-errs; !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("attacker following victim's assignments: %v, want 401/403", err)
	}
	if err := attacker.ReportStatus(ctx, "victim", []wire.TaskStatusReport{{TaskID: id, LastStatus: model.StatusStopped}}); !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("attacker reporting for victim: %v, want 401/403", err)
	}
	// The failed takeover revoked nothing: the victim's own token keeps
	// heartbeating past the token cache's 5 s ttl (a revoked one would
	// fail by then), and reports.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		if err := victim.Heartbeat(); err != nil {
			t.Fatalf("victim's heartbeat after the failed takeover: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	victim.Report(t, wire.TaskStatusReport{TaskID: id, LastStatus: model.StatusRunning})
	testutil.WaitTask(t, cp.Admin, id, 10*time.Second, func(tk *model.Task) bool { return tk.LastStatus == model.StatusRunning && tk.NodeName == "victim" })

	// The owner (same key: a restarted agent) registers again.
	if _, err := cp.Agent.Clone().Register(ctx, wire.RegisterRequest{Name: "victim", Capacity: model.Resources{CPU: 4096, MemoryMiB: 4096}}); err != nil {
		t.Fatalf("the owner re-registering: %v", err)
	}
	// Once an admin removes the node, the name is free for a new host.
	if err := cp.Admin.RemoveNode(ctx, "victim", true); err != nil {
		t.Fatal(err)
	}
	if _, err := attacker.Register(ctx, wire.RegisterRequest{Name: "victim", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}}); err != nil {
		t.Fatalf("a new host taking a removed node's name: %v", err)
	}
}

// TestNodeRegistrationProof checks the proof itself: a nonce is used once,
// a signature must verify with the key it comes with, and a registration
// without one is refused with the field named.
func TestNodeRegistrationProof(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	post := func(path string, body any) (int, wire.Error, []byte) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, "POST", cp.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+cp.Bootstrap.JoinToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		var e wire.Error
		_ = json.Unmarshal(buf.Bytes(), &e)
		return resp.StatusCode, e, buf.Bytes()
	}
	nonce := func() string {
		code, _, body := post("/v1/agent/nonce", nil)
		var n wire.NonceResponse
		if code != 200 || json.Unmarshal(body, &n) != nil || n.Nonce == "" {
			t.Fatalf("nonce: %d %s", code, body)
		}
		return n.Nonce
	}
	_, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	reg := func(name, n string, k ed25519.PrivateKey) model.NodeRegistration {
		r := model.NodeRegistration{Name: name, Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}, Nonce: n}
		r.PublicKey, r.Signature = auth.SignNodeProof(k, n, name)
		return r
	}
	n := nonce()
	if code, _, body := post("/v1/agent/register", reg("p1", n, key)); code != 200 {
		t.Fatalf("a proven registration: %d %s", code, body)
	}
	if code, e, _ := post("/v1/agent/register", reg("p1", n, key)); code != 400 || e.Code != "InvalidNodeProof" || !strings.Contains(e.Message, "nonce: unknown, expired or already used") {
		t.Fatalf("replaying a used nonce: %d %+v, want 400 InvalidNodeProof naming the nonce", code, e)
	}
	forged := reg("p1", nonce(), other)
	forged.PublicKey = auth.EncodePublicKey(key.Public().(ed25519.PublicKey)) // claims key, signs with other
	if code, e, _ := post("/v1/agent/register", forged); code != 400 || !strings.Contains(e.Message, "signature: does not verify") {
		t.Fatalf("a signature by another key: %d %+v, want 400 naming the signature", code, e)
	}
	if code, e, _ := post("/v1/agent/register", model.NodeRegistration{Name: "p2", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}}); code != 400 || !strings.Contains(e.Message, "publicKey: a registration must prove the host's identity") {
		t.Fatalf("a registration without proof: %d %+v, want 400 naming publicKey", code, e)
	}
}

// TestNodeRegistrationBounds: a join-token holder cannot register a node
// larger than any machine or bloat the store with attributes.
func TestNodeRegistrationBounds(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	many := map[string]string{}
	for i := range 65 {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	cases := []struct {
		name string
		req  wire.RegisterRequest
		want string
	}{
		{"2048 CPUs", wire.RegisterRequest{Name: "b1", Capacity: model.Resources{CPU: 2048 * 1024, MemoryMiB: 1024}}, "capacity.cpu: must be between 1 and 1048576"},
		{"32 TiB", wire.RegisterRequest{Name: "b2", Capacity: model.Resources{CPU: 1024, MemoryMiB: 32 << 20}}, "capacity.memoryMiB: must be between 1 and 16777216"},
		{"65 attributes", wire.RegisterRequest{Name: "b3", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}, Attributes: many}, "attributes: at most 64 attributes, got 65"},
		{"a long value", wire.RegisterRequest{Name: "b4", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}, Attributes: map[string]string{"rack": strings.Repeat("x", 300)}}, `attributes["rack"]: value must be at most 256 bytes, got 300`},
		{"a long address", wire.RegisterRequest{Name: "b5", Capacity: model.Resources{CPU: 1024, MemoryMiB: 1024}, Address: strings.Repeat("a", 300)}, "address: must be at most 256 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := cp.Agent.Clone().Register(ctx, c.req)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != 400 || !strings.Contains(ce.Message, c.want) {
				t.Fatalf("got %v, want 400 containing %q", err, c.want)
			}
		})
	}
	// The largest sane machine registers.
	if _, err := cp.Agent.Clone().Register(ctx, wire.RegisterRequest{Name: "big", Capacity: model.Resources{CPU: 1024 * 1024, MemoryMiB: 16 << 20}}); err != nil {
		t.Fatalf("a 1024-CPU, 16 TiB node: %v", err)
	}
}
