package main

import (
	"path/filepath"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

// TestExamplesPassTheDefaultPolicy: the examples (and so make demo) run
// on a cluster with the default policy.
func TestExamplesPassTheDefaultPolicy(t *testing.T) {
	docs, err := manifestKinds.Load(filepath.Join("..", "..", "examples", "manifests"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pol := model.DefaultClusterPolicy()
	n := 0
	for _, d := range docs {
		if td := d.TaskDefinition(); td != nil {
			n++
			if err := pol.Check(td); err != nil {
				t.Errorf("%s breaks the default policy: %v", d.String(), err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no task definitions found in examples/manifests")
	}
}
