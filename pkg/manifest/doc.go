// Package manifest reads Orch manifests: YAML or JSON files holding
// documents such as task definitions, and turns them into model values, with
// the file, line, column and field path of every problem.
//
// # Documents
//
// Each document has a kind and otherwise the shape of the matching AWS
// request, with AWS's field names:
//
//	kind: TaskDefinition          # ECS RegisterTaskDefinition
//	family: web
//	containerDefinitions:
//	  - name: web
//	    image: nginx:1.27
//	    memory: 128
//	    portMappings: [{containerPort: 80, hostPort: 8080}]
//
// A file holds many documents separated by "---"; a JSON file holds one
// object or an array of objects. JSON is read with the YAML parser (JSON is
// YAML), so positions work the same in both.
//
// A real ECS task definition loads unchanged: a RegisterTaskDefinition input
// (`aws ecs register-task-definition --generate-cli-skeleton`) or the output
// of `aws ecs describe-task-definition` ({"taskDefinition": {...}, "tags":
// [...]}); neither needs a kind. Fields of the ECS schema that Orch does not
// act on (executionRoleArn, containerDefinitions[].secrets, ...) are accepted
// and listed in Document.Ignored; server-assigned fields (revision,
// taskDefinitionArn, registeredAt, ...) are dropped. A field in no schema is
// an error with a did-you-mean hint. Task-level cpu and memory accept ECS's
// forms ("1024", "1 vCPU", "0.5 vcpu", "2 GB") and are normalised to plain
// integers in strings ("1024", "2048").
//
// # Errors
//
// Decoder.Load and Decoder.Parse are all or nothing: on failure they return nil and an
// Errors value listing every problem in every document, one per line, as
//
//	web.yaml:14:9: containerDefinitions[1].memroy: unknown field; did you mean "memory"?
//
// Problems found while decoding (syntax, unknown fields, wrong types) and
// while validating (model.TaskDefinition.Validate) are reported the same way:
// validation paths are mapped back to the position of the field in the file,
// or of its nearest ancestor when the field is missing.
//
// # Kinds
//
// A Decoder reads the kinds it was built with, and no others. Each package
// that owns a kind exports its Kind, and each binary lists the kinds it
// accepts once, in order (cmd/orch does it in kinds.go):
//
//	dec := manifest.NewDecoder(manifest.TaskDefinitionKind, manifest.ServiceKind, manifest.QueueKind)
//	docs, err := dec.Load("manifests/", os.Stdin)
//
// A Kind's DecodeFunc usually decodes into a model value with a Schema and
// validates it:
//
//	var queueSchema = manifest.Schema{
//		// AWS fields Orch accepts but does not use, and server-assigned ones.
//		reflect.TypeFor[model.Queue](): {Ignored: []string{"tags"}, ReadOnly: []string{"QueueUrl"}},
//	}
//
//	var QueueKind = manifest.Kind{Name: "Queue", Decode: func(b *manifest.Body) (any, string, error) {
//		q := new(model.Queue)
//		_ = b.Decode(q, queueSchema) // unknown fields, wrong types: recorded in b
//		return q, q.QueueName, q.Validate() // model.FieldErrors get positions
//	}}
//
// Body.Decode does the strict, position-keeping decoding for any struct with
// json tags, following aliases and merge keys; a Schema lists, per Go struct
// type, the AWS fields to accept and ignore and the read-only ones to drop.
// A Kind's Implicit matcher lets documents without kind be recognised (as
// TaskDefinitionKind does for plain ECS JSON); matchers are tried in the
// order of the list.
package manifest
