package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestResolveKind(t *testing.T) {
	for _, tc := range []struct{ typed, want string }{
		{"td", "taskdefinitions"},
		{"TaskDefinition", "taskdefinitions"},
		{"tasks", "tasks"},
		{"node", "nodes"},
		{"svc", "services"},
		{"Q", "queues"},
	} {
		k, err := resolveKind(tc.typed)
		if err != nil || k.name != tc.want {
			t.Errorf("resolveKind(%q) = %q, %v; want %q", tc.typed, k.name, err, tc.want)
		}
	}
	_, err := resolveKind("widgets")
	if got, want := err.Error(), `unknown kind "widgets": use one of taskdefinitions, tasks, nodes, services, queues, topics, scalabletargets, scalingpolicies, functions, eventsourcemappings, roles`; got != want {
		t.Errorf("unknown kind:\ngot  %s\nwant %s", got, want)
	}
}

// TestCLIKindsAreComplete checks the list in kinds.go: every kind can be
// got, described and deleted, and no name means two kinds.
func TestCLIKindsAreComplete(t *testing.T) {
	owner := map[string]string{}
	for _, k := range cliKinds {
		if k.get == nil || k.describe == nil || k.del == nil {
			t.Errorf("kind %s lacks get, describe or delete", k.name)
		}
		for _, n := range append([]string{k.name}, k.aliases...) {
			if n != strings.ToLower(n) {
				t.Errorf("kind %s: name %q must be lower case (resolveKind lowers what users type)", k.name, n)
			}
			if o, dup := owner[n]; dup {
				t.Errorf("%q names both %s and %s", n, o, k.name)
			}
			owner[n] = k.name
		}
	}
}

func TestManifestKinds(t *testing.T) {
	if got, want := manifestKinds.Kinds(), []string{"TaskDefinition", "Service", "Queue", "Topic", "ScalableTarget", "ScalingPolicy", "Function", "EventSourceMapping", "Role"}; !reflect.DeepEqual(got, want) {
		t.Errorf("orch apply reads %v, want %v", got, want)
	}
}

// TestKindCommands checks that the kinds' own verbs reach the root command.
func TestKindCommands(t *testing.T) {
	root := newRoot()
	for _, verb := range []string{"scale", "rollback", "queue"} {
		if c, _, err := root.Find([]string{verb}); err != nil || c.Name() != verb {
			t.Errorf("orch %s: not a command (%v)", verb, err)
		}
	}
}

// `orch get --help` names every kind the CLI knows.
func TestGetHelpListsEveryKind(t *testing.T) {
	root := newRoot()
	var out strings.Builder
	root.SetOut(&out)
	root.SetArgs([]string{"get", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, k := range cliKinds {
		if !strings.Contains(out.String(), k.name) {
			t.Errorf("orch get --help does not name %s:\n%s", k.name, out.String())
		}
	}
}
