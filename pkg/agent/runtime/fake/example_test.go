package fake_test

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/agent/runtime/fake"
)

// A container scripted to ignore SIGTERM is killed when its stop timeout
// runs out; with a zero timeout that happens at once.
func Example() {
	ctx := context.Background()
	rt := fake.New(fake.Config{})
	_ = rt.EnsureImage(ctx, "busybox", "if-not-present")
	id, err := rt.Create(ctx, runtime.ContainerSpec{
		Name:   "web",
		Image:  "busybox",
		Env:    []string{"ORCH_FAKE=ignore_sigterm,log_lines=2,log=serving"},
		Labels: map[string]string{runtime.LabelManaged: "true"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = rt.Start(ctx, id)
	_ = rt.Stop(ctx, id, 0)
	st, _ := rt.Inspect(ctx, id)
	fmt.Println(st.Status, st.ExitCode)
	logs, _ := rt.Logs(ctx, id, runtime.LogOptions{Tail: -1})
	_, _ = io.Copy(os.Stdout, logs)
	// Output:
	// exited 137
	// [fake] web started (image busybox)
	// serving (1/2)
	// serving (2/2)
	// [fake] killed after stop timeout
	// [fake] web exited with code 137
}
