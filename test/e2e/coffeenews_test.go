package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
)

// TestDockerCoffeeNews runs examples/manifests/coffee-news.yaml on real
// Docker: the shop publishes 5 items to the coffee-news topic; the coupons
// queue gets the 2 coupons, the cheap-news queue the 1 new product under
// 10, and the news board (a web server task subscribed over http) confirms
// its subscription and accepts all 5, every signature verified.
func TestDockerCoffeeNews(t *testing.T) {
	needDocker(t)
	for _, img := range []string{"orch-example/coffee:latest", "orch-example/news:latest"} {
		if exec.Command("docker", "image", "inspect", img).Run() != nil {
			t.Fatalf("image %s is missing: run `make images` first", img)
		}
	}
	c := newCluster(t)
	addr := freeAddr(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	startServer(t, c, "--data-dir", t.TempDir(), "--listen", "0.0.0.0:"+port)
	node := fmt.Sprintf("e2e-news-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { removeNodeContainers(node) })
	c.startAgent(t, node, "--runtime", "docker")
	waitNodes(t, c, 1)
	// The example publishes the board on host port 18081; the test takes a
	// free one.
	b, err := os.ReadFile("../../examples/manifests/coffee-news.yaml")
	if err != nil {
		t.Fatal(err)
	}
	boardAddr := freeAddr(t)
	boardPort := boardAddr[strings.LastIndexByte(boardAddr, ':')+1:]
	manifest := filepath.Join(t.TempDir(), "coffee-news.yaml")
	_ = os.WriteFile(manifest, []byte(strings.ReplaceAll(string(b), "18081", boardPort)), 0o644)
	c.mustOrch(t, "apply", "-f", manifest, "--wait")
	board := "http://127.0.0.1:" + boardPort + "/"
	testutil.WaitFor(t, 90*time.Second, "the news board confirmed its subscription", func() (bool, string) {
		out := c.mustOrch(t, "describe", "topic", "coffee-news")
		return strings.Contains(out, "127.0.0.1:"+boardPort) && strings.Count(out, "State:  confirmed") == 3, out
	})
	t.Cleanup(func() {
		if t.Failed() {
			for _, tk := range getTasks(t, c) {
				logs, _ := c.orch(t, "", "logs", tk.TaskID)
				t.Logf("logs of %s (%s):\n%s", tk.TaskID, tk.Family, logs)
			}
		}
	})
	c.mustOrch(t, "run", "announce", "--wait", "--until", "stopped")
	testutil.WaitFor(t, 60*time.Second, "each subscriber got what it asked for", func() (bool, string) {
		var qs []queueCounts
		_ = json.Unmarshal([]byte(c.mustOrch(t, "get", "queues", "-o", "json")), &qs)
		got := map[string]int{}
		for _, q := range qs {
			got[q.Name] = q.Visible + q.InFlight
		}
		page := ""
		if resp, err := http.Get(board); err == nil {
			p, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page = string(p)
		}
		ok := got["coupons"] == 2 && got["cheap-news"] == 1 && strings.Contains(page, "5 verified, 0 rejected")
		return ok, fmt.Sprintf("queues %v, board %q", got, page)
	})
}
