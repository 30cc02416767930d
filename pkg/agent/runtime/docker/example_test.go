package docker_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/agent/runtime/docker"
)

// Run the example web app with a dynamic host port and its own health check,
// wait for it to turn healthy, then stop and remove it.
func ExampleNew() {
	ctx := context.Background()
	rt, err := docker.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()
	if err := rt.EnsureImage(ctx, "orch-example/web:latest", "if-not-present"); err != nil {
		fmt.Println(err) // e.g. run scripts/build-images.sh first
		return
	}
	id, err := rt.Create(ctx, runtime.ContainerSpec{
		Name:   "example-web",
		Image:  "orch-example/web:latest",
		Labels: map[string]string{runtime.LabelTask: "example"},
		Ports:  []runtime.PortSpec{{ContainerPort: 8080}}, // HostPort 0: Docker picks one
		HealthCheck: &runtime.HealthCheck{
			Test:     []string{"CMD", "/web", "-check", "http://127.0.0.1:8080/healthz"},
			Interval: time.Second,
		},
		StopTimeout: 10 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Remove(ctx, id)
	if err := rt.Start(ctx, id); err != nil {
		fmt.Println(err)
		return
	}
	for {
		st, err := rt.Inspect(ctx, id)
		if err != nil || st.Health == "healthy" || st.Status != runtime.StatusRunning {
			fmt.Println(st.Health, st.Ports, err)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = rt.Stop(ctx, id, 10*time.Second)
	logs, err := rt.Logs(ctx, id, runtime.LogOptions{Tail: -1})
	if err == nil {
		io.Copy(os.Stdout, logs)
		logs.Close()
	}
}
