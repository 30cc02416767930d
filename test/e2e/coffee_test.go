package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
)

type queueCounts struct {
	Name     string `json:"name"`
	Visible  int    `json:"visible"`
	InFlight int    `json:"inFlight"`
}

func orders(t *testing.T, c *cluster) queueCounts {
	t.Helper()
	var qs []queueCounts
	if err := json.Unmarshal([]byte(c.mustOrch(t, "get", "queues", "-o", "json")), &qs); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == "orders" {
			return q
		}
	}
	t.Fatal("queue orders is missing")
	return queueCounts{}
}

var served = regexp.MustCompile(`served (order \d+)`)

// servedOrders collects the orders every barista task logged as served.
func servedOrders(t *testing.T, c *cluster) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tk := range getTasks(t, c) {
		if tk.Family != "barista" {
			continue
		}
		logs, _ := c.orch(t, "", "logs", tk.TaskID)
		for _, m := range served.FindAllStringSubmatch(logs, -1) {
			out[m[1]]++
		}
	}
	return out
}

// TestDockerCoffeeShop runs the coffee shop example on real Docker: tasks
// use the stock AWS SDK through the env the agent injects; orders placed
// while the barista service is scaled to 0 wait in the queue and are all
// served when it scales back up.
func TestDockerCoffeeShop(t *testing.T) {
	needDocker(t)
	c := newCluster(t)
	addr := freeAddr(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	// Containers reach the server through the host gateway, so listen on
	// every interface.
	startServer(t, c, "--data-dir", t.TempDir(), "--listen", "0.0.0.0:"+port)
	node := fmt.Sprintf("e2e-coffee-%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { removeNodeContainers(node) })
	c.startAgent(t, node, "--runtime", "docker")
	waitNodes(t, c, 1)
	// The queue, the cashier and the barista service (two baristas).
	if out := c.mustOrch(t, "apply", "-f", "../../examples/manifests/coffee.yaml", "--wait"); !strings.Contains(out, "steady: 2/2") {
		t.Fatalf("apply --wait:\n%s\nwant the barista service steady at 2/2", out)
	}
	c.mustOrch(t, "run", "cashier", "--wait", "--until", "stopped")
	testutil.WaitFor(t, 60*time.Second, "10 orders served", func() (bool, string) {
		q := orders(t, c)
		return q.Visible+q.InFlight == 0 && len(servedOrders(t, c)) == 10, fmt.Sprintf("%+v, served %d", q, len(servedOrders(t, c)))
	})
	// Every barista goes home; orders keep coming and wait.
	c.mustOrch(t, "scale", "barista", "0", "--wait")
	c.mustOrch(t, "run", "cashier", "--wait", "--until", "stopped")
	if q := orders(t, c); q.Visible != 10 {
		t.Fatalf("orders placed while no barista works: %+v, want 10 waiting", q)
	}
	c.mustOrch(t, "scale", "barista", "2", "--wait")
	testutil.WaitFor(t, 60*time.Second, "the waiting orders served", func() (bool, string) {
		q := orders(t, c)
		n := 0
		for _, k := range servedOrders(t, c) {
			n += k
		}
		return q.Visible+q.InFlight == 0 && n >= 20, fmt.Sprintf("%+v, %d servings logged", q, n)
	})
}
