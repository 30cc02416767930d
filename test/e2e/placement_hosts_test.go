package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/test/internal/hosts"
)

// placementManifest runs four services over three hosts in zones a, b, b.
const placementManifest = `kind: TaskDefinition
family: pweb
containerDefinitions:
  - name: web
    image: orch-example/web:latest
    imagePullPolicy: never
    memory: 32
    stopTimeout: 2
    environment: [{name: PORT, value: "8080"}]
---
kind: TaskDefinition
family: pport
containerDefinitions:
  - name: web
    image: orch-example/web:latest
    imagePullPolicy: never
    memory: 32
    stopTimeout: 2
    environment: [{name: PORT, value: "8080"}]
    portMappings: [{containerPort: 8080, hostPort: 18080}]
---
kind: Service
serviceName: pzone
taskDefinition: pweb
desiredCount: 4
placementStrategy: [{type: spread, field: "attribute:zone"}, {type: spread, field: instanceId}]
---
kind: Service
serviceName: pmember
taskDefinition: pweb
desiredCount: 3
placementConstraints: [{type: memberOf, expression: "attribute:zone == b"}]
---
kind: Service
serviceName: pdistinct
taskDefinition: pweb
desiredCount: 4
placementConstraints: [{type: distinctInstance}]
---
kind: Service
serviceName: pport
taskDefinition: pport
desiredCount: 3
`

// TestPlacementAcrossHosts checks placement where it matters: on three
// hosts of the multi-host harness (own namespaces and dockerds) carrying a
// zone attribute (a, b, b). What is counted is the containers in each
// host's dockerd, not only what the API says: spread by zone puts half of
// pzone's tasks in zone a; memberOf keeps pmember out of zone a;
// distinctInstance runs pdistinct once per host and explains the fourth;
// a fixed host port runs pport once per host, each answering on its host's
// address.
func TestPlacementAcrossHosts(t *testing.T) {
	f := newHostFleet(t)
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir(), "--listen", f.ServerAddr(t))
	zones := []string{"a", "b", "b"}
	for _, z := range zones {
		startHostAgent(t, f.AddHost(t), c, "--attribute", "zone="+z)
	}
	waitNodes(t, c, 3)
	c.mustOrch(t, "apply", "-f", writeFile(t, t.TempDir(), "placement.yaml", placementManifest))

	// perHost counts each family's running containers in each host's dockerd.
	perHost := func() map[string][]int {
		m := map[string][]int{}
		for i, h := range f.Hosts {
			for _, ct := range h.RunningContainers(t) {
				if m[ct.Family] == nil {
					m[ct.Family] = make([]int, len(f.Hosts))
				}
				m[ct.Family][i]++
			}
		}
		return m
	}
	running := func(svc string) int {
		_, live := liveOn(t, c, svc)
		n := 0
		for _, tk := range live {
			if tk.LastStatus == model.StatusRunning {
				n++
			}
		}
		return n
	}
	testutil.WaitFor(t, 120*time.Second, "every service's placeable tasks RUNNING", func() (bool, string) {
		got := fmt.Sprintf("pzone %d/4, pmember %d/3, pdistinct %d/3, pport %d/3",
			running("pzone"), running("pmember"), running("pdistinct"), running("pport"))
		return got == "pzone 4/4, pmember 3/3, pdistinct 3/3, pport 3/3", got
	})

	// The containers, per dockerd. pweb is shared by three services, so
	// its containers are told apart by their tasks' services.
	byService := map[string][]int{}
	for _, svc := range []string{"pzone", "pmember", "pdistinct"} {
		byService[svc] = make([]int, len(f.Hosts))
		on, _ := liveOn(t, c, svc)
		for i, h := range f.Hosts {
			mine := map[string]bool{}
			for _, id := range on[h.Name] {
				mine[id] = true
			}
			for _, id := range h.RunningTasks(t) {
				if mine[id] {
					byService[svc][i]++
				}
			}
		}
	}
	counts := perHost()
	t.Logf("containers per host (zones %v): pzone %v, pmember %v, pdistinct %v, pport %v",
		zones, byService["pzone"], byService["pmember"], byService["pdistinct"], counts["pport"])
	if z := byService["pzone"]; z[0] != 2 || z[1]+z[2] != 2 || z[1] != z[2] {
		t.Errorf("pzone spread by zone then instance: containers per host %v, want [2 1 1] (zone a holds half)", z)
	}
	if m := byService["pmember"]; m[0] != 0 || m[1]+m[2] != 3 {
		t.Errorf("pmember (memberOf zone b): containers per host %v, want none on the zone-a host", m)
	}
	if d := byService["pdistinct"]; d[0] != 1 || d[1] != 1 || d[2] != 1 {
		t.Errorf("pdistinct (distinctInstance): containers per host %v, want one on each", d)
	}
	if p := counts["pport"]; len(p) != 3 || p[0] != 1 || p[1] != 1 || p[2] != 1 {
		t.Errorf("pport (host port 18080): containers per host %v, want one on each", p)
	}
	for _, h := range f.Hosts {
		getWithin(t, "http://"+h.IP+":18080/healthz", 30*time.Second)
	}

	// The tasks that cannot be placed say why.
	for _, svc := range []string{"pdistinct"} {
		testutil.WaitFor(t, 30*time.Second, svc+"'s fourth task explained", func() (bool, string) {
			_, tasks, err := c.admin.GetService(context.Background(), svc)
			if err != nil {
				return false, err.Error()
			}
			var msgs []string
			for _, tk := range tasks {
				if !tk.IsStopped() && tk.NodeName == "" && tk.PlacementMessage != "" {
					msgs = append(msgs, tk.PlacementMessage)
				}
			}
			return len(msgs) == 1 && strings.Contains(strings.ToLower(msgs[0]), "distinct"), strings.Join(msgs, " | ")
		})
	}
	scaleBeyondPorts(t, c, f)
}

// scaleBeyondPorts scales pport to 4 over 3 hosts: the fourth task stays
// pending with a message about the port, and no dockerd runs two.
func scaleBeyondPorts(t *testing.T, c *cluster, f *hosts.Fleet) {
	t.Helper()
	c.mustOrch(t, "scale", "pport", "4")
	var msg string
	testutil.WaitFor(t, 60*time.Second, "pport's fourth task explained", func() (bool, string) {
		_, tasks, err := c.admin.GetService(context.Background(), "pport")
		if err != nil {
			return false, err.Error()
		}
		var msgs []string
		for _, tk := range tasks {
			if !tk.IsStopped() && tk.NodeName == "" && tk.PlacementMessage != "" {
				msgs = append(msgs, tk.PlacementMessage)
			}
		}
		sort.Strings(msgs)
		if len(msgs) == 1 {
			msg = msgs[0]
		}
		return len(msgs) == 1 && strings.Contains(msgs[0], "18080"), strings.Join(msgs, " | ")
	})
	t.Logf("pport's fourth task: %s", msg)
	for _, h := range f.Hosts {
		n := 0
		for _, ct := range h.RunningContainers(t) {
			if ct.Family == "pport" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s runs %d pport containers after scaling to 4, want 1 (host port 18080)", h.Name, n)
		}
	}
}
