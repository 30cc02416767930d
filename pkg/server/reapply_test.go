package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/manifest"
)

// The new-user pass: `make demo` says "re-applying is idempotent", then
// printed "queue/till-orders configured" and "eventsourcemapping/...
// configured" for examples/manifests/receipts.yaml. A queue's RedrivePolicy
// is stored in canonical form, so comparing its text always differed, and
// a mapping was rewritten on every apply. Re-applying the examples now
// says unchanged for every document.
func TestReapplyingTheExamplesChangesNothing(t *testing.T) {
	cp := testutil.StartServer(t)
	dec := manifest.NewDecoder(manifest.TaskDefinitionKind, manifest.ServiceKind, manifest.QueueKind, manifest.TopicKind,
		manifest.ScalableTargetKind, manifest.ScalingPolicyKind, manifest.FunctionKind, manifest.EventSourceMappingKind, manifest.RoleKind)
	dir := filepath.Join("..", "..", "examples", "manifests")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	docs, err := dec.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := make([]wire.ApplyDocument, len(docs))
	for i, d := range docs {
		spec, err := jsonOf(d.Object)
		if err != nil {
			t.Fatal(err)
		}
		req[i] = wire.ApplyDocument{Kind: d.Kind, Spec: spec}
	}
	ctx := context.Background()
	// The topic service starts a moment after the API on a busy machine
	// and answers "unavailable ... retry" until then (make demo retries
	// too); apply is idempotent, so retrying is safe.
	testutil.WaitFor(t, 30*time.Second, "the first apply", func() (bool, string) {
		_, err := cp.Admin.Apply(ctx, req)
		if err != nil && !strings.Contains(err.Error(), "unavailable") {
			t.Fatalf("first apply: %v", err)
		}
		return err == nil, fmt.Sprint(err)
	})
	again, err := cp.Admin.Apply(ctx, req)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, r := range again {
		if r.Action != "unchanged" {
			t.Errorf("re-apply: %s/%s %s, want unchanged", r.Kind, r.Name, r.Action)
		}
	}
}

func jsonOf(v any) ([]byte, error) { return json.Marshal(v) }
