package scheduler

import (
	goparser "go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPurity keeps the package a pure calculation: its non-test files may
// import only pkg/model, pkg/placement (a standard-library leaf, see
// internal/archtest) and standard packages that cannot reach a clock, the
// network, the file system or goroutines.
func TestPurity(t *testing.T) {
	allowed := map[string]bool{
		"github.com/orch-project/orch/pkg/model":     true,
		"github.com/orch-project/orch/pkg/placement": true,
		"errors": true, "fmt": true, "hash/maphash": true, "maps": true, "math": true,
		"math/rand/v2": true, "regexp": true, "slices": true, "sort": true, "strconv": true,
		"strings": true, "unicode/utf8": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := gotoken.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ast, err := goparser.ParseFile(fset, f, src, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("%s imports %q; the scheduler must stay pure (no clock, I/O, network or goroutines; only pkg/model and pkg/placement)", f, path)
			}
		}
		if strings.Contains(string(src), "go func") {
			t.Errorf("%s starts a goroutine", f)
		}
	}
}
