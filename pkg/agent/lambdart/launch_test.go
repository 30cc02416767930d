package lambdart

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
)

// countingRuntime counts the image look-ups a launch makes.
type countingRuntime struct {
	*fake.Runtime
	ensures atomic.Int32
}

func (c *countingRuntime) EnsureImage(ctx context.Context, image, policy string) error {
	c.ensures.Add(1)
	return c.Runtime.EnsureImage(ctx, image, policy)
}

// A cold start asks Docker about the image only when it is missing (or
// the policy says always pull), and a missing image is still pulled or
// refused by the policy.
func TestRuntimeLauncherLooksAtTheImageOnlyWhenItIsMissing(t *testing.T) {
	const img = "orch-example/receipt:latest"
	for _, tc := range []struct {
		name        string
		present     bool
		policy      string
		wantEnsures int32
		wantErr     string
	}{
		{"present", true, "", 0, ""},
		{"present, never", true, "never", 0, ""},
		{"missing: pulled", false, "if-not-present", 1, ""},
		{"missing, never: refused", false, "never", 1, "not present"},
		{"always pulls", true, "always", 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &countingRuntime{Runtime: fake.New(fake.Config{})}
			if tc.present {
				rt.AddImages(img)
			}
			l := RuntimeLauncher{Runtime: rt, PullPolicy: tc.policy}
			inst, err := l.Launch(context.Background(), LaunchSpec{Name: "f-1", Function: "f", Image: img, MemoryMiB: 128})
			if got := rt.ensures.Load(); got != tc.wantEnsures {
				t.Errorf("%d image look-ups, want %d", got, tc.wantEnsures)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, runtime.ErrNotFound) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Stop()
			states, err := rt.List(context.Background(), map[string]string{"orch.function": "f"})
			if err != nil || len(states) != 1 || states[0].Status != runtime.StatusRunning {
				t.Fatalf("containers %+v (%v), want the environment running", states, err)
			}
		})
	}
}
