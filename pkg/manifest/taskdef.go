package manifest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/orch-project/orch/pkg/model"
)

// KindTaskDefinition is the kind of ECS-style task definitions.
const KindTaskDefinition = "TaskDefinition"

// TaskDefinitionKind reads task definitions, with or without a kind field.
var TaskDefinitionKind = Kind{Name: KindTaskDefinition, Decode: decodeTaskDefinition, Implicit: isTaskDefinition}

// isTaskDefinition recognises documents without kind: a RegisterTaskDefinition
// input (family and containerDefinitions) or the output of
// `aws ecs describe-task-definition` ({"taskDefinition": {...}, "tags": [...]}).
func isTaskDefinition(b *Body) bool {
	return b.Has("family") && b.Has("containerDefinitions") || isDescribeOutput(b)
}

func isDescribeOutput(b *Body) bool {
	n := b.Field("taskDefinition")
	return n != nil && n.Kind == yaml.MappingNode && !b.Has("family") && !b.Has("containerDefinitions")
}

// describeOutput is the shape of `aws ecs describe-task-definition` output.
type describeOutput struct {
	TaskDefinition *model.TaskDefinition `json:"taskDefinition"`
	Tags           []model.Tag           `json:"tags"`
}

// taskDefinitionSchema lists, per object, the fields of the ECS API that
// model does not hold (accepted, listed in Ignored) and the server-assigned
// fields of DescribeTaskDefinition (dropped). Source: the ECS API reference
// for RegisterTaskDefinition, TaskDefinition and ContainerDefinition.
var taskDefinitionSchema = Schema{
	reflect.TypeFor[describeOutput](): {
		ReadOnly: []string{"ResponseMetadata"},
	},
	reflect.TypeFor[model.TaskDefinition](): {
		Ignored: []string{
			"executionRoleArn", "requiresCompatibilities", "pidMode", "ipcMode",
			"proxyConfiguration", "inferenceAccelerators", "ephemeralStorage", "runtimePlatform",
			"enableFaultInjection",
		},
		ReadOnly: []string{
			"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
			"registeredAt", "registeredBy", "deregisteredAt",
			"ignoredFields", // Orch's own output
		},
	},
	reflect.TypeFor[model.ContainerDefinition](): {
		Ignored: []string{
			"repositoryCredentials", "links", "restartPolicy", "environmentFiles", "volumesFrom",
			"linuxParameters", "secrets", "versionConsistency", "hostname", "disableNetworking",
			"privileged", "readonlyRootFilesystem", "dnsServers", "dnsSearchDomains", "extraHosts",
			"dockerSecurityOptions", "interactive", "pseudoTerminal", "ulimits", "systemControls",
			"resourceRequirements", "firelensConfiguration", "credentialSpecs",
		},
	},
	reflect.TypeFor[model.PortMapping](): {
		Ignored: []string{"appProtocol", "containerPortRange"},
	},
	reflect.TypeFor[model.Volume](): {
		Ignored: []string{
			"configuredAtLaunch", "dockerVolumeConfiguration", "efsVolumeConfiguration",
			"fsxWindowsFileServerVolumeConfiguration",
		},
	},
	reflect.TypeFor[model.LogConfiguration](): {
		Ignored: []string{"secretOptions"},
	},
}

// decodeTaskDefinition decodes, normalises and validates a task definition
// given as a RegisterTaskDefinition input or a describe-task-definition output.
func decodeTaskDefinition(b *Body) (any, string, error) {
	td := new(model.TaskDefinition)
	prefix := ""
	if isDescribeOutput(b) {
		var out describeOutput
		_ = b.Decode(&out, taskDefinitionSchema) // problems are recorded in b
		if out.TaskDefinition != nil {
			td = out.TaskDefinition
		}
		td.Tags = append(td.Tags, out.Tags...)
		prefix = "taskDefinition."
	} else {
		_ = b.Decode(td, taskDefinitionSchema)
	}
	for _, p := range b.Ignored() {
		td.IgnoredFields = append(td.IgnoredFields, strings.TrimPrefix(p, prefix))
	}
	td.Normalize()
	var fes model.FieldErrors
	if err := td.Validate(); err != nil && !errors.As(err, &fes) {
		return td, td.Family, err
	}
	fes = dropPortRanges(td, fes)
	for i, fe := range fes {
		fes[i] = &model.FieldError{Path: prefix + fe.Path, Message: fe.Message}
	}
	return td, td.Family, fes.Err()
}

// dropPortRanges removes the port mappings that only hold an ECS
// containerPortRange (which Orch ignores), together with the validation
// errors about them, so that such task definitions load unchanged.
func dropPortRanges(td *model.TaskDefinition, fes model.FieldErrors) model.FieldErrors {
	ignored := map[string]bool{}
	for _, p := range td.IgnoredFields {
		ignored[p] = true
	}
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		kept := c.PortMappings[:0]
		for j, pm := range c.PortMappings {
			p := fmt.Sprintf("containerDefinitions[%d].portMappings[%d]", i, j)
			if pm.ContainerPort == 0 && pm.HostPort == 0 && ignored[p+".containerPortRange"] {
				out := fes[:0]
				for _, fe := range fes {
					if !within(fe.Path, p) {
						out = append(out, fe)
					}
				}
				fes = out
				continue
			}
			kept = append(kept, pm)
		}
		if len(kept) == 0 {
			kept = nil
		}
		c.PortMappings = kept
	}
	return fes
}
