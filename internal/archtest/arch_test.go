// Package archtest keeps the dependency direction of docs/architecture.md
// honest: it fails when a package imports what its layer must not.
package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/orch-project/orch/"

// rules: package pattern -> forbidden import prefixes (transitively),
// except the packages in allowed.
var rules = []struct {
	pkg       string
	forbidden []string
	allowed   []string
	why       string
}{
	{"pkg/placement", []string{module, "github.com/", "golang.org/", "gopkg.in/", "go."}, nil, "the placement language is a leaf (model and the scheduler use it): standard library only"},
	{"pkg/model", []string{"go.etcd.io/", "github.com/docker/", "net/http", module}, []string{module + "pkg/placement"}, "model is the bottom layer: standard library and pkg/placement only"},
	{"pkg/scheduler", []string{"go.etcd.io/", "github.com/docker/", "net/http", module + "pkg/store", module + "pkg/api"}, nil, "scheduling is a pure calculation"},
	{"pkg/manifest", []string{"go.etcd.io/", "github.com/docker/", "net/http"}, nil, "manifests turn text into model objects, nothing more"},
	{"pkg/api/client", []string{"go.etcd.io/", "github.com/docker/", module + "pkg/controller", module + "pkg/store"}, nil, "the client is used by the CLI and agents, which never touch etcd"},
	{"pkg/agent", []string{"go.etcd.io/", module + "pkg/store", module + "pkg/controller"}, nil, "agents never touch etcd"},
	{"pkg/controller", []string{"github.com/docker/", module + "pkg/api/client", module + "pkg/agent"}, nil, "the controller works on the store, not over HTTP or on agents"},
	{"cmd/orchlet", []string{"go.etcd.io/", module + "pkg/store"}, nil, "the agent binary carries no etcd"},
}

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "./../../"+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestDependencyDirection(t *testing.T) {
	for _, r := range rules {
		self := module + r.pkg
		for _, d := range deps(t, r.pkg) {
			if d == self || strings.HasPrefix(d, self+"/") || slices.Contains(r.allowed, d) {
				continue
			}
			for _, f := range r.forbidden {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s imports %s: %s", r.pkg, d, r.why)
				}
			}
		}
	}
}

// TestSDKsStayInTheirPackage checks direct imports across the module: only
// pkg/store imports etcd, only the Docker runtime imports the Docker SDK.
func TestSDKsStayInTheirPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
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
