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

// TestExamplesThatUseQueuesHaveARole: a task gets AWS credentials only
// from its taskRoleArn. The till of receipts.yaml had none, so it waited
// for credentials forever and make demo failed at `orch run till`. Every
// example container that names a queue or topic (QUEUE, TOPIC env) runs
// under a role the examples declare.
func TestExamplesThatUseQueuesHaveARole(t *testing.T) {
	docs, err := manifestKinds.Load(filepath.Join("..", "..", "examples", "manifests"), nil)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]bool{}
	for _, d := range docs {
		if d.Kind == "Role" {
			roles["arn:aws:iam::000000000000:role/"+d.Name] = true
		}
	}
	checked := 0
	for _, d := range docs {
		td := d.TaskDefinition()
		if td == nil {
			continue
		}
		for _, c := range td.ContainerDefinitions {
			for _, e := range c.Environment {
				if e.Name != "QUEUE" && e.Name != "TOPIC" && e.Name != "TOPIC_ARN" {
					continue
				}
				checked++
				if !roles[td.TaskRoleArn] {
					t.Errorf("%s: container %s uses %s=%s but its taskRoleArn %q is not a role the examples declare: it would get no credentials", d.String(), c.Name, e.Name, e.Value, td.TaskRoleArn)
				}
			}
		}
	}
	if checked < 7 {
		t.Errorf("checked %d containers that use a queue or topic, want at least 7 (the examples' cashiers, baristas, till, announce, news)", checked)
	}
}
