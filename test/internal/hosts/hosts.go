// Package hosts is the multi-host harness: a fleet of hosts on one machine,
// each its own failure domain, for tests that kill, cut and heal hosts.
//
// A host is a network namespace joined to a bridge of the fleet's own by a
// veth pair, with its own dockerd (own data root, exec root, pidfile, socket
// and Docker bridge) and, usually, its own orchlet, both started inside the
// namespace with nsenter --net. Servers run in the root namespace and listen
// on the fleet bridge's address (Fleet.ServerAddr), so every byte between a
// host and the control plane crosses that host's veth:
//
//   - Host.Cut takes the veth down (a pulled cable, a partition), Host.Heal
//     puts it back;
//   - Host.KillAgent is kill -9 of the orchlet (its containers run on);
//   - Host.KillDockerd is a dead Docker.
//
// docs/testing.md says how this maps to real machines and what it does not
// model. Everything is named with the fleet's random id and removed when the
// test ends, also when it fails; traffic stays on the fleet's bridge and
// namespaces. The harness needs root, iproute2 (ip), util-linux (nsenter)
// and dockerd; Need checks for them.
//
// The harness does not know Orch's command lines: the caller passes a
// Starter that runs a process (and kills it when the test ends) and the
// orchlet's arguments, so test/e2e keeps its own process bookkeeping.
package hosts

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

// Process is a started background process.
type Process interface {
	// Signal sends sig to the process (and its process group).
	Signal(sig syscall.Signal)
	// Exited is closed when the process has exited.
	Exited() <-chan struct{}
}

// Starter starts a background process that is killed when the test ends.
type Starter func(t testing.TB, env []string, name string, args ...string) Process

// Fleet is a bridge and the hosts joined to it.
type Fleet struct {
	ID     string // random, in every name the fleet creates
	Bridge string
	Prefix string // "10.213.N." for the bridge's /24; the bridge is .1, host i is .10+i
	Dir    string
	Hosts  []*Host

	start  Starter
	images string // docker save of the images loaded into each host
}

// Host is one host of the fleet.
type Host struct {
	Name, NS, Veth, IP string
	Dir, Sock          string
	Index              int

	dbridge string
	fleet   *Fleet
	Dockerd Process
	Agent   Process
}

// Need checks what the harness needs: root (namespaces, veths, a dockerd per
// host), ip, nsenter and dockerd. In CI (CI=true) a missing piece fails the
// test; elsewhere it skips with what to install.
func Need(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, bin := range []string{"ip", "nsenter", "dockerd", "docker"} {
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

// Run runs a command and fails the test if it fails.
func Run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v %s", name, strings.Join(args, " "), err, out)
	}
}

// New creates the fleet's bridge and saves images (from the machine's
// Docker) once, to load into every host's dockerd.
func New(t testing.TB, start Starter, images ...string) *Fleet {
	t.Helper()
	Need(t)
	f := &Fleet{ID: fmt.Sprintf("%05d", rand.IntN(100000)), start: start}
	f.Bridge = "ofb" + f.ID
	dir, err := os.MkdirTemp("", "orch-fleet")
	if err != nil {
		t.Fatal(err)
	}
	f.Dir = dir
	Run(t, "ip", "link", "add", f.Bridge, "type", "bridge")
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", f.Bridge).Run()
		os.RemoveAll(dir)
	})
	f.Prefix = claimSubnet(t, f.Bridge)
	Run(t, "ip", "link", "set", f.Bridge, "up")
	if len(images) > 0 {
		f.images = filepath.Join(dir, "images.tar")
		Run(t, "docker", append([]string{"save", "-o", f.images}, images...)...)
	}
	return f
}

// claimSubnet gives bridge a 10.213.N.0/24 that no interface of the
// machine has, and returns "10.213.N.". Two fleets on one subnet (two test
// processes at once) would each route the other's replies: a host then
// cannot reach its server for as long as both live. The check and the
// claim run under a lock shared by every test process on the machine.
func claimSubnet(t testing.TB, bridge string) string {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "orch-fleet-subnets.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	used := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			used[n.IP.Mask(net.CIDRMask(24, 32)).String()] = true
		}
	}
	first := rand.IntN(250)
	for i := range 250 {
		n := (first+i)%250 + 1
		if !used[fmt.Sprintf("10.213.%d.0", n)] {
			prefix := fmt.Sprintf("10.213.%d.", n)
			Run(t, "ip", "addr", "add", prefix+"1/24", "dev", bridge)
			return prefix
		}
	}
	t.Fatal("every subnet 10.213.1-250.0/24 is in use on this machine (fleets of other test processes?)")
	return ""
}

// ServerAddr returns a free address on the fleet's bridge for a server (or
// anything the hosts must reach) to listen on.
func (f *Fleet) ServerAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", f.Prefix+"1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// AddHost creates host i (namespace, veth, its own dockerd with the fleet's
// images loaded); start its agent with StartAgent.
func (f *Fleet) AddHost(t testing.TB) *Host {
	t.Helper()
	i := len(f.Hosts)
	h := &Host{
		Name: fmt.Sprintf("host%d-%s", i, f.ID), NS: fmt.Sprintf("ofn%s%d", f.ID, i),
		Veth: fmt.Sprintf("ofh%s%d", f.ID, i), IP: fmt.Sprintf("%s%d", f.Prefix, 10+i),
		Dir: filepath.Join(f.Dir, fmt.Sprint(i)), dbridge: fmt.Sprintf("ofd%s%d", f.ID, i),
		Index: i, fleet: f,
	}
	h.Sock = filepath.Join(h.Dir, "docker.sock")
	f.Hosts = append(f.Hosts, h)
	peer := fmt.Sprintf("ofp%s%d", f.ID, i)
	Run(t, "ip", "netns", "add", h.NS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", h.NS).Run() })
	Run(t, "ip", "link", "add", h.Veth, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { exec.Command("ip", "link", "del", h.Veth).Run() })
	Run(t, "ip", "link", "set", peer, "netns", h.NS)
	Run(t, "ip", "link", "set", h.Veth, "master", f.Bridge, "up")
	in := func(args ...string) {
		Run(t, "nsenter", append([]string{"--net=/run/netns/" + h.NS, "ip"}, args...)...)
	}
	in("link", "set", "lo", "up")
	in("addr", "add", h.IP+"/24", "dev", peer)
	in("link", "set", peer, "up")
	// The host's Docker bridge lives in its namespace, so its subnet is
	// the host's own business, as on separate machines.
	in("link", "add", h.dbridge, "type", "bridge")
	in("addr", "add", fmt.Sprintf("172.30.%d.1/24", i), "dev", h.dbridge)
	in("link", "set", h.dbridge, "up")
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.Dir, "daemon.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.StartDockerd(t)
	if f.images != "" {
		Run(t, "docker", "-H", h.DockerHost(), "load", "-q", "-i", f.images)
	}
	return h
}

// DockerHost is the DOCKER_HOST of the host's dockerd.
func (h *Host) DockerHost() string { return "unix://" + h.Sock }

// Docker runs the docker CLI against the host's dockerd.
func (h *Host) Docker(args ...string) ([]byte, error) {
	return exec.Command("docker", append([]string{"-H", h.DockerHost()}, args...)...).CombinedOutput()
}

// InNS returns the command line that runs name inside the host's network
// namespace.
func (h *Host) InNS(name string, args ...string) (string, []string) {
	return "nsenter", append([]string{"--net=/run/netns/" + h.NS, name}, args...)
}

// StartDockerd starts (or restarts) the host's dockerd and waits until it
// answers.
func (h *Host) StartDockerd(t testing.TB) {
	t.Helper()
	name, args := h.InNS("dockerd",
		"--config-file", filepath.Join(h.Dir, "daemon.json"),
		"--data-root", filepath.Join(h.Dir, "root"), "--exec-root", filepath.Join(h.Dir, "exec"),
		"-H", h.DockerHost(), "--pidfile", filepath.Join(h.Dir, "docker.pid"), "--bridge", h.dbridge,
		"--iptables=false", "--ip-masq=false", "--live-restore")
	d := h.fleet.start(t, nil, name, args...)
	h.Dockerd = d
	// Registered after the starter's own cleanup, so it runs first: the
	// containers go before the daemon (with --live-restore a killed daemon
	// would leave them running), then the daemon stops gracefully.
	t.Cleanup(func() {
		select {
		case <-d.Exited():
			return // killed by the test; a later StartDockerd cleans up
		default:
		}
		if out, err := h.Docker("ps", "-aq"); err == nil && len(strings.Fields(string(out))) > 0 {
			h.Docker(append([]string{"rm", "-f"}, strings.Fields(string(out))...)...)
		}
		d.Signal(syscall.SIGTERM)
		select {
		case <-d.Exited():
		case <-time.After(30 * time.Second):
		}
		UnmountUnder(h.Dir)
	})
	testutil.WaitFor(t, 60*time.Second, h.Name+"'s dockerd", func() (bool, string) {
		out, err := h.Docker("version", "--format", "{{.Server.Version}}")
		return err == nil, string(out)
	})
}

// KillDockerd is kill -9 of the host's dockerd (with --live-restore its
// containers keep running, as they would under a crashed daemon).
func (h *Host) KillDockerd(t testing.TB) {
	t.Helper()
	h.Dockerd.Signal(syscall.SIGKILL)
	waitExit(t, h.Dockerd, h.Name+"'s dockerd")
}

// StartAgent runs bin (an orchlet) with args inside the host's namespace,
// talking to the host's dockerd.
func (h *Host) StartAgent(t testing.TB, env []string, bin string, args ...string) {
	t.Helper()
	env = append(append([]string(nil), env...), "DOCKER_HOST="+h.DockerHost())
	name, a := h.InNS(bin, args...)
	h.Agent = h.fleet.start(t, env, name, a...)
}

// KillAgent is kill -9 of the host's orchlet; its containers keep running.
func (h *Host) KillAgent(t testing.TB) {
	t.Helper()
	h.Agent.Signal(syscall.SIGKILL)
	waitExit(t, h.Agent, h.Name+"'s orchlet")
}

// AgentUp says whether the host's orchlet runs.
func (h *Host) AgentUp() bool {
	if h.Agent == nil {
		return false
	}
	select {
	case <-h.Agent.Exited():
		return false
	default:
		return true
	}
}

// Cut takes the host's cable out; Heal puts it back.
func (h *Host) Cut(t testing.TB)  { t.Helper(); Run(t, "ip", "link", "set", h.Veth, "down") }
func (h *Host) Heal(t testing.TB) { t.Helper(); Run(t, "ip", "link", "set", h.Veth, "up") }

// Container is one orch-managed container in a host's dockerd.
type Container struct {
	ID, Task, Family, Node, Cluster string
}

// RunningContainers lists the orch-managed containers running in the host's
// dockerd, read from their orch labels.
func (h *Host) RunningContainers(t testing.TB) []Container {
	t.Helper()
	out, err := h.Docker("ps", "--filter", "label=orch.managed=true", "--format",
		`{{.ID}} {{.Label "orch.task"}} {{.Label "orch.family"}} {{.Label "orch.node"}} {{.Label "orch.cluster"}}`)
	if err != nil {
		t.Fatalf("docker ps on %s: %v %s", h.Name, err, out)
	}
	var cs []Container
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		c := Container{ID: f[0], Task: f[1]}
		if len(f) > 2 {
			c.Family = f[2]
		}
		if len(f) > 3 {
			c.Node = f[3]
		}
		if len(f) > 4 {
			c.Cluster = f[4]
		}
		cs = append(cs, c)
	}
	return cs
}

// RunningTasks returns the orch task ids of the host's running containers.
func (h *Host) RunningTasks(t testing.TB) []string {
	t.Helper()
	var ids []string
	for _, c := range h.RunningContainers(t) {
		ids = append(ids, c.Task)
	}
	return ids
}

func waitExit(t testing.TB, p Process, what string) {
	t.Helper()
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit within 10s of SIGKILL", what)
	}
}

// UnmountUnder lazily unmounts what a daemon left mounted below dir
// (overlay layers, network namespaces), deepest first.
func UnmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir) {
			points = append(points, f[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}
