package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

// TestErrorMessages checks the exact text of errors: position, path and a
// message that says how to fix the problem.
func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		name, file, in string
		want           string // Errors.Error(): one error per line
	}{
		{
			name: "misspelt field gets a did-you-mean", file: "web.yaml",
			in: `# Web front end and its sidecar.
kind: TaskDefinition
family: web
containerDefinitions:
      - name: web
        image: nginx:1.27
        memory: 128
        portMappings:
          - containerPort: 80
            hostPort: 8080
      - name: sidecar
        image: busybox
        essential: false
        memroy: 64
      - name: logger
        image: busybox
        memory: 64
        command:
          - memory: 64
`,
			want: `web.yaml:14:9: containerDefinitions[1].memroy: unknown field; did you mean "memory"?
web.yaml:19:13: containerDefinitions[2].command[0]: must be a string, got a mapping`,
		},
		{
			name: "field in the wrong case", file: "a.yaml",
			in:   "kind: TaskDefinition\nFamily: web\ncontainerDefinitions: [{name: web, image: nginx, memory: 64}]\n",
			want: `a.yaml:2:1: Family: unknown field; did you mean "family"?`,
		},
		{
			name: "unknown field far from any name lists the known ones", file: "a.yaml",
			in: `kind: TaskDefinition
family: web
containerDefinitions:
  - name: web
    image: nginx
    memory: 64
    healthCheck: {command: [CMD, "true"], flavour: strict}
`,
			want: `a.yaml:7:43: containerDefinitions[0].healthCheck.flavour: unknown field; known fields are: command, interval, retries, startPeriod, timeout`,
		},
		{
			name: "quoted number in JSON", file: "td.json",
			in: `{
  "family": "web",
  "containerDefinitions": [
    {"name": "web", "image": "nginx", "memory": "512", "essential": "true"}
  ]
}`,
			want: `td.json:4:49: containerDefinitions[0].memory: must be an integer, got the string "512"; remove the quotes
td.json:4:69: containerDefinitions[0].essential: must be true or false, got the string "true"; remove the quotes`,
		},
		{
			name: "wrong scalar types", file: "a.yaml",
			in: `kind: TaskDefinition
family: web
containerDefinitions:
  - name: web
    image: nginx
    memory: 1.5
    essential: yes
    command: echo hello
    stopTimeout: [30]
    environment: {A: b}
`,
			want: `a.yaml:6:13: containerDefinitions[0].memory: must be an integer, got the number 1.5
a.yaml:7:16: containerDefinitions[0].essential: must be true or false, got the string "yes"
a.yaml:8:14: containerDefinitions[0].command: must be a list, got the string "echo hello": write one item per line starting with "- ", or [a, b]
a.yaml:9:18: containerDefinitions[0].stopTimeout: must be an integer, got a list
a.yaml:10:18: containerDefinitions[0].environment: must be a list, got a mapping`,
		},
		{
			name: "validation errors point at the field", file: "a.yaml",
			in: `kind: TaskDefinition
family: web
containerDefinitions:
  - name: web
    image: nginx
    memory: 4
    dependsOn:
      - containerName: db
        condition: START
  - name: sidecar
    image: busybox
    essential: false
`,
			want: `a.yaml:6:13: containerDefinitions[0].memory: must be at least 6 MiB, got 4
a.yaml:8:24: containerDefinitions[0].dependsOn[0].containerName: "db" names no container; containers are: web, sidecar
a.yaml:10:5: containerDefinitions[1].memory: required when the task sets no memory: set memory (hard limit, MiB), memoryReservation (soft limit, MiB) or the task-level memory`,
		},
		{
			name: "missing required field points at the nearest ancestor", file: "a.yaml",
			in: "kind: TaskDefinition\ncontainerDefinitions:\n  - image: nginx\n    memory: 64\n",
			want: `a.yaml:1:1: family: required: name the task definition family (1-255 letters, digits, hyphens or underscores)
a.yaml:3:5: containerDefinitions[0].name: required: name the container (1-255 letters, digits, hyphens or underscores)`,
		},
		{
			name: "task cpu in a form ECS does not know", file: "a.yaml",
			in:   "kind: TaskDefinition\nfamily: web\ncpu: 2 cores\nmemory: 1 GB\ncontainerDefinitions: [{name: web, image: nginx}]\n",
			want: `a.yaml:3:6: cpu: "2 cores" is not a valid size: use CPU units ("1024") or vCPUs ("1 vCPU", "0.5 vcpu")`,
		},
		{
			name: "a typo silences validation errors it causes", file: "a.yaml",
			in: `kind: TaskDefinition
family: web
containerDefinitions:
  - name: web
    image: nginx
    memmory: 64
`,
			want: `a.yaml:6:5: containerDefinitions[0].memmory: unknown field; did you mean "memory"?`,
		},
		{
			name: "duplicate field", file: "a.yaml",
			in:   "kind: TaskDefinition\nfamily: web\nfamily: api\ncontainerDefinitions: [{name: web, image: nginx, memory: 64}]\n",
			want: `a.yaml:3:1: family: duplicate field: already set on line 2; remove one`,
		},
		{
			name: "kind in the wrong case", file: "a.yaml",
			in:   "kind: taskdefinition\nfamily: web\n",
			want: `a.yaml:1:1: kind: unknown kind "taskdefinition"; did you mean "TaskDefinition"?`,
		},
		{
			name: "misspelt kind", file: "a.yaml",
			in:   "kind: TaskDefiniton\nfamily: web\n",
			want: `a.yaml:1:1: kind: unknown kind "TaskDefiniton"; did you mean "TaskDefinition"?`,
		},
		{
			name: "unknown kind", file: "a.yaml",
			in:   "kind: Deployment\n",
			want: `a.yaml:1:1: kind: unknown kind "Deployment"; known kinds are: TaskDefinition, Service, Widget`,
		},
		{
			name: "kind not a string", file: "a.yaml",
			in:   "kind: [TaskDefinition]\n",
			want: `a.yaml:1:1: kind: must name a kind, one of: TaskDefinition, Service, Widget`,
		},
		{
			name: "missing kind", file: "a.yaml",
			in:   "family: web\nimage: nginx\n",
			want: `a.yaml:1:1: missing kind: add a kind field, one of: TaskDefinition, Service, Widget (a document without kind is read as an ECS task definition when it has family and containerDefinitions)`,
		},
		{
			name: "YAML syntax error has a line", file: "a.yaml",
			in:   "kind: TaskDefinition\nfamily: web\ncontainerDefinitions:\n  - name: web\n    image: nginx: latest\n",
			want: `a.yaml:5: invalid YAML: mapping values are not allowed in this context`,
		},
		{
			name: "YAML parser error", file: "a.yaml",
			in:   "kind: TaskDefinition\nfamily: web\ncontainerDefinitions:\n  - name: web\n    image: nginx\n   memory: 64\n",
			want: `a.yaml:4: invalid YAML: did not find expected '-' indicator`, // yaml.v3 names the line where the list starts
		},
		{
			name: "YAML error on the first line", file: "a.yaml",
			in:   `"kind: TaskDefinition`,
			want: `a.yaml:1: invalid YAML: found unexpected end of stream`,
		},
		{
			name: "unknown anchor", file: "a.yaml",
			in:   "kind: TaskDefinition\nfamily: *name\n",
			want: `a.yaml:2:9: invalid YAML: unknown anchor 'name' referenced`,
		},
		{
			name: "control character", file: "a.yaml",
			in:   "kind: TaskDefinition\nfamily: w\x01b\n",
			want: `a.yaml:2:10: invalid YAML: control characters are not allowed`,
		},
		{
			name: "tab indentation", file: "a.yaml",
			in:   "kind: TaskDefinition\nfamily: web\n\tcontainerDefinitions: []\n",
			want: `a.yaml:3:1: invalid YAML: found a tab character that violates indentation`,
		},
		{
			name: "JSON syntax error has line and column", file: "td.json",
			in:   "{\n  \"family\": \"web\",\n  \"containerDefinitions\": [\n    {\"name\": \"web\" \"image\": \"nginx\"}\n  ]\n}\n",
			want: `td.json:4:20: invalid JSON: invalid character '"' after object key:value pair`,
		},
		{
			name: "truncated JSON", file: "td.json",
			in:   "{\n  \"family\": \"web\",\n  \"containerDefinitions\": [\n",
			want: `td.json:4:1: invalid JSON: unexpected end of input: a bracket or quote is not closed`,
		},
		{
			name: "errors of every document, in order", file: "all.yaml",
			in: `kind: TaskDefinition
family: ok
containerDefinitions: [{name: web, image: nginx, memory: 64}]
---
kind: TaskDefinition
family: bad one
containerDefinitions: [{name: web, image: nginx, memory: 64}]
---
kind: TaskDefinition
family: worse
containerDefinitions: [{name: web, image: nginx, memory: 64, portMappings: [{containerPort: 0}]}]
`,
			want: `all.yaml:6:9: family: "bad one" is not a valid family: use 1-255 letters, digits, hyphens or underscores
all.yaml:11:93: containerDefinitions[0].portMappings[0].containerPort: required: the port the container listens on (1-65535)`,
		},
		{
			name: "describe output paths keep the wrapper", file: "describe.json",
			in: `{
  "taskDefinition": {
    "family": "web",
    "revision": 3,
    "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 2}]
  },
  "tags": []
}`,
			want: `describe.json:5:74: taskDefinition.containerDefinitions[0].memory: must be at least 6 MiB, got 2`,
		},
		{
			name: "JSON array with a bad element", file: "list.json",
			in:   `[{"family": "a", "containerDefinitions": [{"name": "a", "image": "x", "memory": 64}]}, 42]`,
			want: `list.json:1:88: a list of documents must hold mappings, got the number 42`,
		},
		{
			name: "scalar document", file: "a.yaml",
			in:   "just some text\n",
			want: `a.yaml:1:1: a document must be a mapping with a kind (e.g. kind: TaskDefinition), got the string "just some text"`,
		},
		{
			name: "alias that contains itself", file: "a.yaml",
			in:   "kind: TaskDefinition\nfamily: web\ncontainerDefinitions: &c\n  - name: web\n    image: nginx\n    memory: 64\n    command: *c\n",
			want: `a.yaml:7:14: containerDefinitions[0].command: alias *c refers to a value that contains it`,
		},
		{
			name: "empty input", file: "empty.yaml",
			in:   "# nothing here\n---\n",
			want: `empty.yaml: no documents: expected YAML or JSON objects with a kind (e.g. kind: TaskDefinition)`,
		},
		{
			name: "number out of range", file: "a.yaml",
			in:   "kind: TaskDefinition\nfamily: web\ncontainerDefinitions: [{name: web, image: nginx, memory: 99999999999999999999}]\n",
			want: `a.yaml:3:58: containerDefinitions[0].memory: must be an integer, got the number 99999999999999999999`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := testDecoder.Parse(tc.file, []byte(tc.in))
			if err == nil {
				t.Fatalf("Parse() = %d documents, nil error; want:\n%s", len(docs), tc.want)
			}
			if docs != nil {
				t.Errorf("Parse() returned %d documents with an error; want none", len(docs))
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want manifest.Errors", err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("errors:\ngot:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestErrorsUnwrap(t *testing.T) {
	_, err := testDecoder.Parse("a.yaml", []byte("kind: TaskDefinition\nfamily: web\ncontainerDefinitions: []\n"))
	if !errors.Is(err, model.ErrInvalid) {
		t.Errorf("errors.Is(%v, model.ErrInvalid) = false", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 || e.Column != 1 || e.Path != "containerDefinitions" {
		t.Errorf("errors.As(*Error) = %+v; want line 3, column 1, path containerDefinitions", e)
	}
	_, err = testDecoder.Parse("a.yaml", nil)
	if !errors.Is(err, ErrNoDocuments) {
		t.Errorf("errors.Is(%v, ErrNoDocuments) = false", err)
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("kind: TaskDefinition\nfamily: web\ncontainerDefinitions:\n  - name: web\n    image: nginx\n    memory: 64\n")
	for i := 0; i < 80; i++ {
		b.WriteString("    bogus" + strings.Repeat("x", i) + ": 1\n")
	}
	_, err := testDecoder.Parse("a.yaml", []byte(b.String()))
	var es Errors
	errors.As(err, &es)
	if len(es) != maxErrorsPerDocument+1 {
		t.Fatalf("got %d errors, want %d", len(es), maxErrorsPerDocument+1)
	}
	if last := es[len(es)-1].Message; last != "too many errors in this document (stopped after 50)" {
		t.Errorf("last error = %q", last)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"memory", "memoryReservation", "image", "name", "portMappings", "cpu"}
	for in, want := range map[string]string{
		"memroy":            "memory",
		"Memory":            "memory",
		"memoryreservation": "memoryReservation",
		"portMapping":       "portMappings",
		"imag":              "image",
		"cpus":              "cpu",
		"nmae":              "name",
		"xyz":               "",
		"environment":       "",
		"mem":               "memory",
		"port":              "portMappings",
		"po":                "",
	} {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
