package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// etcdRevision reads an etcd's current revision through its JSON gateway.
func etcdRevision(b *testing.B, ep string) int64 {
	resp, err := http.Post(ep+"/v3/kv/range", "application/json", bytes.NewBufferString(`{"key":"AA=="}`))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		b.Fatal(err)
	}
	n, _ := strconv.ParseInt(out.Header.Revision, 10, 64)
	return n
}

// BenchmarkHeartbeats measures what 500 hollow agents heartbeating cost
// the control plane: an `orch server` process on an external etcd process
// (Debian's etcd), both idle for a window with no agents (the same-run
// baseline), then for the same window with 500 agents heartbeating every
// 2 s (250 heartbeats/s). Reported: server and etcd CPU (% of one core)
// and etcd writes per second (revisions; a heartbeat is a lease
// keep-alive, which makes none).
func BenchmarkHeartbeats(b *testing.B) {
	const agents, window = 500, 20 * time.Second
	if _, err := exec.LookPath("etcd"); err != nil {
		b.Fatal("etcd is not installed: apt-get install -y etcd-server")
	}
	for range b.N {
		client, peer := freeAddr(b), freeAddr(b)
		etcd := exec.Command("etcd", "--name", "hb", "--data-dir", filepath.Join(b.TempDir(), "etcd"),
			"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
			"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
			"--initial-cluster", "hb=http://"+peer, "--log-level", "warn")
		etcd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := etcd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = syscall.Kill(-etcd.Process.Pid, syscall.SIGKILL); etcd.Wait() })
		ep := "http://" + client
		deadline := time.Now().Add(30 * time.Second)
		for {
			if resp, err := http.Get(ep + "/health"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatal("etcd did not start")
			}
			time.Sleep(50 * time.Millisecond)
		}
		srv := startServerProc(b, "--etcd-endpoints", ep)
		measure := func(what string) (srvPct, etcdPct, writes float64) {
			s0, e0, r0 := usageOf(b, srv.cmd.Process.Pid), usageOf(b, etcd.Process.Pid), etcdRevision(b, ep)
			t0 := time.Now()
			time.Sleep(window) // the measurement window itself
			took := time.Since(t0)
			s1, e1, r1 := usageOf(b, srv.cmd.Process.Pid), usageOf(b, etcd.Process.Pid), etcdRevision(b, ep)
			srvPct = 100 * (s1.cpu - s0.cpu).Seconds() / took.Seconds()
			etcdPct = 100 * (e1.cpu - e0.cpu).Seconds() / took.Seconds()
			writes = float64(r1-r0) / took.Seconds()
			b.Logf("%s: server CPU %.1f%% of one core, etcd CPU %.1f%%, etcd writes %.2f/s over %v", what, srvPct, etcdPct, writes, took.Round(time.Millisecond))
			return
		}
		measure("baseline, no agents")
		ctx, cancel := context.WithCancel(context.Background())
		startHollowAgents(ctx, b, srv, "hb", agents, 4096, 8192)
		time.Sleep(5 * time.Second) // let registration traffic settle before the window
		s, e, w := measure(fmt.Sprintf("%d agents heartbeating", agents))
		b.ReportMetric(s, "server-cpu-%")
		b.ReportMetric(e, "etcd-cpu-%")
		b.ReportMetric(w, "etcd-writes/s")
		cancel()
	}
}
