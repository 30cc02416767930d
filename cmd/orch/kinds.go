package main

import (
	"fmt"
	"strings"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/manifest"
	"github.com/spf13/cobra"
)

// The kinds this binary knows, each listed once. Adding a kind means adding
// its manifest.Kind to manifestKinds (if it can be applied) and its cliKind
// to cliKinds (if it can be listed); docs/architecture.md has the recipe.

// manifestKinds reads what `orch apply` accepts. The order is the order in
// which documents without a kind field are matched, and the order error
// messages list kinds in.
var manifestKinds = manifest.NewDecoder(
	manifest.TaskDefinitionKind,
	manifest.ServiceKind,
	manifest.QueueKind,
	manifest.TopicKind,
	manifest.ScalableTargetKind,
	manifest.ScalingPolicyKind,
	manifest.FunctionKind,
	manifest.EventSourceMappingKind,
	manifest.RoleKind,
)

// cliKinds are the kinds get, describe and delete work on, in the order
// error messages list them in.
var cliKinds = []cliKind{
	taskDefinitionsCLI,
	tasksCLI,
	nodesCLI,
	servicesCLI,
	queuesCLI,
	topicsCLI,
	scalableTargetsCLI,
	scalingPoliciesCLI,
	functionsCLI,
	mappingsCLI,
	rolesCLI,
}

// A cliKind is one kind of resource as the CLI shows it.
type cliKind struct {
	// name is what users type, plural and lower case ("taskdefinitions").
	name string
	// aliases are other names users may type for it ("td", "taskdef").
	aliases  []string
	get      func(cmd *cobra.Command, c *client.Client, name, output string) error
	describe func(cmd *cobra.Command, c *client.Client, name string) error
	del      func(cmd *cobra.Command, c *client.Client, name string) error
	// commands are the kind's own verbs (orch scale, orch queue ...).
	commands []func(*globals) *cobra.Command
}

// resolveKind finds the kind a user typed, by name or alias, ignoring case.
func resolveKind(typed string) (cliKind, error) {
	typed = strings.ToLower(typed)
	names := make([]string, 0, len(cliKinds))
	for _, k := range cliKinds {
		if typed == k.name {
			return k, nil
		}
		for _, a := range k.aliases {
			if typed == a {
				return k, nil
			}
		}
		names = append(names, k.name)
	}
	return cliKind{}, fmt.Errorf("unknown kind %q: use one of %s", typed, strings.Join(names, ", "))
}

// kindCommands returns the verbs the kinds add, in the order of cliKinds.
func kindCommands(g *globals) []*cobra.Command {
	var out []*cobra.Command
	for _, k := range cliKinds {
		for _, c := range k.commands {
			out = append(out, c(g))
		}
	}
	return out
}
