package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// directRules: package -> imports it must not name itself. Unlike rules,
// these look at direct imports only: pkg/queue reaches net/http through
// etcd's client, which is fine; naming it is not.
var directRules = []struct {
	pkg       string
	forbidden []string
	why       string
}{
	{"pkg/queue", []string{"net/http", module + "pkg/api"}, "queue semantics carry neutral error kinds; HTTP statuses and AWS codes belong to pkg/api/sqs"},
	{"pkg/api/awsproto", []string{module + "pkg/api/sqs", module + "pkg/queue"}, "the shared AWS protocol plumbing knows no single service"},
	{"pkg/api/wire", []string{module + "pkg/api/sqs", module + "pkg/queue", module + "pkg/store"}, "wire types are what the CLI imports: no server code"},
}

func TestDirectImports(t *testing.T) {
	for _, r := range directRules {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "./../../"+r.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", r.pkg, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			for _, f := range r.forbidden {
				if imp == f || strings.HasPrefix(imp, f+"/") {
					t.Errorf("%s imports %s: %s", r.pkg, imp, r.why)
				}
			}
		}
	}
}
