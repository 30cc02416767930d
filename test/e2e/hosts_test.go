package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
)

// The multi-host harness: a fleet of hosts on one machine, each its own
// failure domain. A host is a network namespace joined to a bridge of the
// test's own by a veth pair, with its own dockerd (own data root, exec root,
// pidfile, socket and bridge) and its own orchlet, both started inside the
// namespace with nsenter --net. The orch server runs in the root namespace
// and listens on the bridge's address, so every byte between a host and the
// control plane crosses that host's veth: taking the veth down is a cut
// cable, killing the orchlet is a dead agent, killing the dockerd is a dead
// Docker. docs/operations.md says how this maps to real machines.
//
// Everything is named with a random suffix and removed when the test ends;
// traffic stays on the test's bridge and namespaces.
type hostFleet struct {
	id     string
	bridge string
	prefix string // "10.213.N." for the bridge's /24
	addr   string // the server's listen address on the bridge
	dir    string
	image  string // docker save of the example images, loaded into each host
	hosts  []*fleetHost
}

// fleetHost is one host of the fleet.
type fleetHost struct {
	name, ns, veth, ip string
	dir, sock, dbridge string
	dockerd, agent     *proc
}

func (h *fleetHost) dockerHost() string { return "unix://" + h.sock }

func (h *fleetHost) docker(args ...string) ([]byte, error) {
	return exec.Command("docker", append([]string{"-H", h.dockerHost()}, args...)...).CombinedOutput()
}

// needFleet checks what the harness needs: root (namespaces, veths, a
// dockerd per host), ip, nsenter, dockerd and the example images.
func needFleet(t *testing.T) {
	t.Helper()
	needDocker(t)
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, bin := range []string{"ip", "nsenter", "dockerd"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the multi-host harness needs %s", strings.Join(missing, ", "))
	}
	t.Skipf("the multi-host harness needs %s (run as root with iproute2, util-linux and docker.io installed)", strings.Join(missing, ", "))
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v %s", name, strings.Join(args, " "), err, out)
	}
}

// newHostFleet creates the bridge and picks the server's address; add
// hosts with addHost after the server started.
func newHostFleet(t *testing.T) *hostFleet {
	t.Helper()
	needFleet(t)
	n := rand.IntN(250) + 1
	f := &hostFleet{id: fmt.Sprintf("%05d", rand.IntN(100000)), prefix: fmt.Sprintf("10.213.%d.", n)}
	f.bridge = "ofb" + f.id
	dir, err := os.MkdirTemp("", "orch-fleet")
	if err != nil {
		t.Fatal(err)
	}
	f.dir = dir
	run(t, "ip", "link", "add", f.bridge, "type", "bridge")
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", f.bridge).Run()
		os.RemoveAll(dir)
	})
	run(t, "ip", "addr", "add", f.prefix+"1/24", "dev", f.bridge)
	run(t, "ip", "link", "set", f.bridge, "up")
	l, err := net.Listen("tcp", f.prefix+"1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	l.Close()
	f.image = filepath.Join(dir, "images.tar")
	run(t, "docker", "save", "-o", f.image, "orch-example/web:latest")
	return f
}

// addHost starts host i: namespace, veth, dockerd (with the example images)
// and an orchlet joined to c.
func (f *hostFleet) addHost(t *testing.T, c *cluster) *fleetHost {
	t.Helper()
	i := len(f.hosts)
	h := &fleetHost{
		name: fmt.Sprintf("host%d-%s", i, f.id), ns: fmt.Sprintf("ofn%s%d", f.id, i),
		veth: fmt.Sprintf("ofh%s%d", f.id, i), ip: fmt.Sprintf("%s%d", f.prefix, 10+i),
		dir: filepath.Join(f.dir, fmt.Sprint(i)), dbridge: fmt.Sprintf("ofd%s%d", f.id, i),
	}
	h.sock = filepath.Join(h.dir, "docker.sock")
	f.hosts = append(f.hosts, h)
	peer := fmt.Sprintf("ofp%s%d", f.id, i)
	run(t, "ip", "netns", "add", h.ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", h.ns).Run() })
	run(t, "ip", "link", "add", h.veth, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { exec.Command("ip", "link", "del", h.veth).Run() })
	run(t, "ip", "link", "set", peer, "netns", h.ns)
	run(t, "ip", "link", "set", h.veth, "master", f.bridge, "up")
	in := func(args ...string) {
		run(t, "nsenter", append([]string{"--net=/run/netns/" + h.ns, "ip"}, args...)...)
	}
	in("link", "set", "lo", "up")
	in("addr", "add", h.ip+"/24", "dev", peer)
	in("link", "set", peer, "up")
	// The host's Docker bridge lives in its namespace, so its subnet is
	// the host's own business, as on separate machines.
	in("link", "add", h.dbridge, "type", "bridge")
	in("addr", "add", fmt.Sprintf("172.30.%d.1/24", i), "dev", h.dbridge)
	in("link", "set", h.dbridge, "up")
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "daemon.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.startDockerd(t)
	run(t, "docker", "-H", h.dockerHost(), "load", "-q", "-i", f.image)
	h.startAgent(t, c)
	return h
}

func (h *fleetHost) startDockerd(t *testing.T) {
	t.Helper()
	h.dockerd = start(t, nil, "nsenter", "--net=/run/netns/"+h.ns, "dockerd",
		"--config-file", filepath.Join(h.dir, "daemon.json"),
		"--data-root", filepath.Join(h.dir, "root"), "--exec-root", filepath.Join(h.dir, "exec"),
		"-H", h.dockerHost(), "--pidfile", filepath.Join(h.dir, "docker.pid"), "--bridge", h.dbridge,
		"--iptables=false", "--ip-masq=false", "--live-restore")
	// Registered after start's own cleanup, so it runs first: the
	// containers go before the daemon (with --live-restore a killed daemon
	// would leave them running), then the daemon stops gracefully.
	t.Cleanup(func() {
		if out, err := h.docker("ps", "-aq"); err == nil && len(strings.Fields(string(out))) > 0 {
			h.docker(append([]string{"rm", "-f"}, strings.Fields(string(out))...)...)
		}
		h.dockerd.kill(syscall.SIGTERM)
		select {
		case <-h.dockerd.done:
		case <-time.After(30 * time.Second):
		}
		unmountUnder(h.dir)
	})
	testutil.WaitFor(t, 60*time.Second, h.name+"'s dockerd", func() (bool, string) {
		out, err := h.docker("version", "--format", "{{.Server.Version}}")
		return err == nil, string(out)
	})
}

// startAgent runs orchlet on the Docker runtime inside the host's namespace.
func (h *fleetHost) startAgent(t *testing.T, c *cluster) {
	t.Helper()
	env := append(append([]string(nil), c.env...), "DOCKER_HOST="+h.dockerHost())
	h.agent = start(t, env, "nsenter", "--net=/run/netns/"+h.ns, filepath.Join(binDir, "orchlet"),
		"--server", strings.Join(c.urls, ","), "--join-token", c.cfg.JoinToken, "--node-name", h.name,
		"--runtime", "docker", "--listen", h.ip+":0")
}

// killAgent is kill -9 of the host's orchlet; its containers keep running.
func (h *fleetHost) killAgent(t *testing.T) {
	t.Helper()
	h.agent.kill(syscall.SIGKILL)
	h.agent.wait(t, 10*time.Second)
}

// cut takes the host's cable out; heal puts it back.
func (h *fleetHost) cut(t *testing.T)  { run(t, "ip", "link", "set", h.veth, "down") }
func (h *fleetHost) heal(t *testing.T) { run(t, "ip", "link", "set", h.veth, "up") }

// runningTasks returns the orch task ids of the host's running containers.
func (h *fleetHost) runningTasks(t *testing.T) []string {
	t.Helper()
	out, err := h.docker("ps", "--filter", "label=orch.managed=true", "--format", `{{.Label "orch.task"}}`)
	if err != nil {
		t.Fatalf("docker ps on %s: %v %s", h.name, err, out)
	}
	return strings.Fields(string(out))
}

// startFleet starts a server on the fleet's bridge and n hosts.
func startFleet(t *testing.T, n int) (*hostFleet, *cluster) {
	t.Helper()
	f := newHostFleet(t)
	c := newCluster(t)
	startServer(t, c, "--data-dir", t.TempDir(), "--listen", f.addr)
	for range n {
		f.addHost(t, c)
	}
	waitNodes(t, c, n)
	return f, c
}
