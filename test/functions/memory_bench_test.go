package functions

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime/docker"
)

// BenchmarkMaxMemoryRead is what Max Memory Used adds to every invocation:
// one read of a running container's peak memory (orch-example/web, a
// server that stays up) (its cgroup file,
// through the Docker runtime). The baseline, in the same run, reads
// /proc/self/statm: the same few syscalls on a file the kernel generates.
//
//	go test -run '^$' -bench BenchmarkMaxMemoryRead -count 5 ./test/functions/
func BenchmarkMaxMemoryRead(b *testing.B) {
	needDocker(b)
	rt, err := docker.New()
	if err != nil {
		b.Fatal(err)
	}
	name := fmt.Sprintf("fnrest-membench-%d", time.Now().UnixNano()%1e9)
	out, err := exec.Command("docker", "run", "-d", "--name", name, "orch-example/web:latest").CombinedOutput()
	if err != nil {
		b.Fatalf("docker run: %v %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	b.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
	ctx := context.Background()
	if _, err := rt.MemoryPeak(ctx, id); err != nil { // finds the file once
		b.Fatal(err)
	}
	b.Run("baseline-proc-statm", func(b *testing.B) {
		for b.Loop() {
			if _, err := os.ReadFile("/proc/self/statm"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("container-peak", func(b *testing.B) {
		for b.Loop() {
			if n, err := rt.MemoryPeak(ctx, id); err != nil || n <= 0 {
				b.Fatal(n, err)
			}
		}
	})
}
