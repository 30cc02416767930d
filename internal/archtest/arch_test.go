// Package archtest keeps the dependency direction of docs/architecture.md
// honest: it fails when a package imports what its layer must not.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/orch-project/orch/"

// rules: packages -> forbidden import prefixes, transitively. A pattern
// ending in "/..." covers the package and everything below it.
var rules = []struct {
	pkg       string
	forbidden []string
	except    []string // allowed although a forbidden prefix matches
	why       string
}{
	{"pkg/placement", []string{module, "github.com/", "golang.org/", "gopkg.in/", "go."}, nil, "the placement language is a leaf (model and the scheduler use it): standard library only"},
	{"pkg/model", []string{"go.etcd.io/", "github.com/docker/", "net/http", module}, []string{module + "pkg/placement"}, "model is the bottom layer: standard library and pkg/placement only"},
	{"pkg/auth", []string{"go.etcd.io/", "github.com/docker/", "net/http", module}, []string{module + "pkg/model", module + "pkg/placement"}, "roles and permissions are pure"},
	{"pkg/autoscale/...", []string{"go.etcd.io/", "github.com/docker/", "net/http", module + "pkg/store", module + "pkg/api", module + "pkg/queue", module + "pkg/controller"}, nil, "scaling decisions are a pure calculation of metrics and policies"},
	{"pkg/scheduler/...", []string{"go.etcd.io/", "github.com/docker/", "net/http", module + "pkg/store", module + "pkg/api"}, nil, "scheduling is a pure calculation"},
	{"pkg/manifest/...", []string{"go.etcd.io/", "github.com/docker/", "net/http", module + "pkg/api"}, nil, "manifests turn text into model objects, nothing more"},
	{"pkg/controller/...", []string{"github.com/docker/", module + "pkg/api", module + "pkg/agent"}, nil, "the controller works on the store in domain terms, not over HTTP or on agents"},
	{"pkg/queue/...", []string{"github.com/docker/", module + "pkg/api", module + "pkg/agent"}, nil, "queue semantics know nothing of the protocols that expose them"},
	{"pkg/api/wire", []string{module}, []string{module + "pkg/model", module + "pkg/placement"}, "wire types are JSON shapes of model types; both the server and the client import them"},
	{"pkg/api", []string{"go.etcd.io/", "github.com/docker/", module + "pkg/store", module + "pkg/controller", module + "pkg/queue"}, nil, "the API talks to domain packages through narrow interfaces in model terms"},
	{"pkg/api/client/...", []string{"go.etcd.io/", "github.com/docker/", module + "pkg/controller", module + "pkg/store"}, nil, "the client is used by the CLI and agents, which never touch etcd"},
	{"pkg/agent/...", []string{"go.etcd.io/", module + "pkg/store", module + "pkg/controller"}, nil, "agents never touch etcd"},
	{"pkg/ui", []string{module, "go.etcd.io/", "github.com/docker/"}, []string{module + "pkg/api/wire", module + "pkg/model", module + "pkg/placement"}, "the dashboard reads the cluster through its Backend interface in model terms; pkg/server adapts"},
	{"cmd/orchlet", []string{"go.etcd.io/", module + "pkg/store"}, nil, "the agent binary carries no etcd"},
	{"internal/groupcommit", []string{module, "github.com/", "golang.org/", "gopkg.in/", "go."}, nil, "group commit is shared by the queues and the topics and knows no store: standard library only"},
	{"pkg/topic/filter", []string{module, "github.com/", "golang.org/", "gopkg.in/", "go."}, nil, "filter policies are a pure function of a policy and a message: standard library only"},
}

// directRules: packages -> imports they must not name themselves. net/http
// cannot be forbidden transitively (the etcd client uses it), but domain
// logic that imports it has taken on a protocol's job.
var directRules = []struct {
	pkg       string
	forbidden []string
	why       string
}{
	{"pkg/controller/...", []string{"net/http"}, "the controller is reached through pkg/api; it speaks model, not HTTP"},
	{"pkg/queue/...", []string{"net/http", module + "pkg/api"}, "queue semantics return neutral error kinds; pkg/api/sqs maps them to HTTP and AWS codes"},
	{"pkg/api/awsproto", []string{module + "pkg/api/sqs", module + "pkg/queue"}, "the shared AWS protocol plumbing knows no single service"},
	{"pkg/api/wire", []string{module + "pkg/api/sqs", module + "pkg/queue", module + "pkg/store"}, "wire types are what the CLI imports: no server code"},
	{"pkg/manifest/...", []string{module + "pkg/api", module + "pkg/queue", module + "pkg/store"}, "manifest kinds decode into model types; the CLI reads them without server code"},
	{"pkg/pki", []string{module + "pkg/", "go.etcd.io/", "github.com/docker/"}, "the CA, pins and sealing are standard library only: agents, the CLI and the store all import them"},
}

func goList(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// self reports whether imp is the package pattern pkg names.
func self(pkg, imp string) bool {
	if base, ok := strings.CutSuffix(pkg, "/..."); ok {
		return imp == module+base || strings.HasPrefix(imp, module+base+"/")
	}
	return imp == module+pkg
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p) && (strings.HasSuffix(p, "/") || s[len(p)] == '/') {
			return true
		}
	}
	return false
}

func TestDependencyDirection(t *testing.T) {
	for _, r := range rules {
		for _, d := range strings.Fields(goList(t, "-deps", "./../../"+r.pkg)) {
			if self(r.pkg, d) || hasPrefix(d, r.except) {
				continue
			}
			if hasPrefix(d, r.forbidden) {
				t.Errorf("%s depends on %s: %s", r.pkg, d, r.why)
			}
		}
	}
}

func TestDirectImports(t *testing.T) {
	for _, r := range directRules {
		out := goList(t, "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./../../"+r.pkg)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			for _, imp := range f[1:] {
				if hasPrefix(imp, r.forbidden) {
					t.Errorf("%s imports %s: %s", f[0], imp, r.why)
				}
			}
		}
	}
}

// TestSDKsStayInTheirPackage checks direct imports across the module: only
// pkg/store imports etcd, only the Docker runtime imports the Docker SDK.
func TestSDKsStayInTheirPackage(t *testing.T) {
	out := goList(t, "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./../../...")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		for _, imp := range imports {
			if strings.HasPrefix(imp, "go.etcd.io/") && !strings.HasPrefix(pkg, module+"pkg/store") {
				t.Errorf("%s imports %s: only pkg/store may import the etcd client", pkg, imp)
			}
			if strings.HasPrefix(imp, "github.com/docker/") && !strings.HasPrefix(pkg, module+"pkg/agent/runtime/docker") {
				t.Errorf("%s imports %s: only pkg/agent/runtime/docker may import the Docker SDK", pkg, imp)
			}
		}
	}
}
