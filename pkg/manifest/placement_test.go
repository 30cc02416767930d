package manifest

import "testing"

// TestPlacementErrorsHavePositions checks that a bad placement fails when
// the manifest is read (as `orch apply` does), at the field's
// file:line:col and with the placement language's own message, instead of
// leaving tasks pending later.
func TestPlacementErrorsHavePositions(t *testing.T) {
	for _, tc := range []struct {
		name, file, in string
		want           string
	}{
		{
			name: "task definition with a bad memberOf", file: "web.yaml",
			in: `kind: TaskDefinition
family: web
containerDefinitions: [{name: web, image: nginx, memory: 64}]
placementConstraints:
  - type: memberOf
    expression: attribute:os ==
`,
			want: `web.yaml:6:17: placementConstraints[0].expression: memberOf expression at column 16: expected value after '=='`,
		},
		{
			name: "task definition in ECS JSON", file: "td.json",
			in: `{
  "family": "web",
  "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 64}],
  "placementConstraints": [{"type": "memberOf", "expression": "os == linux"}]
}`,
			want: `td.json:4:63: placementConstraints[0].expression: memberOf expression at column 1: unknown subject 'os'; use attribute:NAME, task:group or instanceId`,
		},
		{
			name: "task definition with distinctInstance", file: "web.yaml",
			in: `kind: TaskDefinition
family: web
containerDefinitions: [{name: web, image: nginx, memory: 64}]
placementConstraints: [{type: DistinctInstance}]
`,
			want: `web.yaml:4:31: placementConstraints[0].type: distinctInstance is not allowed in a task definition (ECS allows it on services and run-task only); only memberOf is`,
		},
		{
			name: "service with a bad memberOf and a misspelt strategy", file: "svc.yaml",
			in: `kind: Service
serviceName: web
taskDefinition: web
placementStrategy:
  - type: spread
    field: attribute:zone
  - type: binpak
    field: memory
placementConstraints:
  - type: distinctInstance
  - type: memberOf
    expression: "attribute:zone in (a, b"
`,
			want: `svc.yaml:7:11: placementStrategy[1].type: unknown strategy type "binpak" (did you mean "binpack"?); use binpack, spread or random
svc.yaml:12:17: placementConstraints[1].expression: memberOf expression at column 24: expected ',' or ')' in the list, found end of expression`,
		},
		{
			name: "service with a bad spread field", file: "svc.yaml",
			in:   "kind: Service\nserviceName: web\ntaskDefinition: web\nplacementStrategy: [{type: Spread, field: zone}]\n",
			want: `svc.yaml:4:43: placementStrategy[0].field: spread needs field instanceId, host or attribute:NAME, got "zone"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := testDecoder.Parse(tc.file, []byte(tc.in))
			if err == nil {
				t.Fatalf("Parse() = %d documents, nil error; want:\n%s", len(docs), tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("errors:\ngot:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestValidPlacementsLoad checks the other side: types in any case and
// every documented expression form load without errors.
func TestValidPlacementsLoad(t *testing.T) {
	in := `kind: TaskDefinition
family: web
containerDefinitions: [{name: web, image: nginx, memory: 64}]
placementConstraints:
  - type: MemberOf
    expression: attribute:ecs.instance-type =~ t3.* and not task:group == service:db
---
kind: Service
serviceName: web
taskDefinition: web
placementStrategy: [{type: SPREAD, field: attribute:zone}, {type: BinPack, field: CPU}]
placementConstraints: [{type: distinctinstance}, {type: memberOf, expression: "attribute:zone in [z1, z2]"}]
`
	if _, err := testDecoder.Parse("ok.yaml", []byte(in)); err != nil {
		t.Fatalf("valid placements rejected:\n%v", err)
	}
}
