package manifest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the parser. It must never panic; every
// error must carry the file name and a line (except "no documents"); every
// task definition it accepts must be valid and must survive a JSON round trip.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"testdata/ecs/*.json", "testdata/dir/*"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	for _, s := range []string{
		"",
		"---\n---\n",
		"kind: TaskDefinition\nfamily: a\ncontainerDefinitions: [{name: a, image: b, memory: 6}]\n",
		"kind: TaskDefinition\nfamily: a\ncontainerDefinitions: &c [{name: a, image: b, memory: 6, command: *c}]\n",
		"a: &a [*a, *a]\nkind: Widget\n",
		"kind: Widget\nwidgetName: x\nsize: 1\n<<: {labels: {a: b}}\n",
		"kind: Widget\n<<: &m {<<: *m}\n",
		"[1, {kind: TaskDefinition}, [2]]",
		`{"taskDefinition": {"family": "a", "containerDefinitions": []}, "tags": [{"key": "k"}]}`,
		"kind: TaskDefinition\nfamily: a\ncpu: 0.5 vcpu\nmemory: 1e9 GB\ncontainerDefinitions: [{name: a, image: b, portMappings: [{containerPortRange: 1-2}]}]\n",
		"\ufeff{\"family\": \"a\",\n\t\"containerDefinitions\": [{\"name\": \"a\", \"image\": \"b\", \"memory\": 0x10}]}",
		"kind: TaskDefinition\nfamily: a\ncontainerDefinitions:\n- name: a\n  image: b\n  memory: 64\n  dependsOn: [{containerName: a, condition: HEALTHY}]\n",
		"{\"family\": \"a\", \"containerDefinitions\": [{\"name\": \"a\", \"image\": \"b\",",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := testDecoder.Parse("fuzz.yaml", data)
		if err != nil {
			if docs != nil {
				t.Fatalf("documents returned with an error")
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is %T %v, want non-empty Errors", err, err)
			}
			for _, e := range es {
				if e.File != "fuzz.yaml" || e.Message == "" {
					t.Fatalf("error without file or message: %#v", e)
				}
				if e.Line <= 0 && !errors.Is(e, ErrNoDocuments) {
					t.Fatalf("error without a line: %v", e)
				}
				_ = e.Error()
			}
			return
		}
		if len(docs) == 0 {
			t.Fatal("no documents and no error")
		}
		for _, d := range docs {
			if d.Object == nil || d.Line <= 0 {
				t.Fatalf("document without object or line: %+v", d)
			}
			td := d.TaskDefinition()
			if td == nil {
				continue
			}
			if err := td.Validate(); err != nil {
				t.Fatalf("accepted an invalid task definition: %v", err)
			}
			b, err := json.Marshal(td)
			if err != nil {
				t.Fatal(err)
			}
			again, err := testDecoder.Parse("again.json", b)
			if err != nil {
				t.Fatalf("cannot reload %s: %v", b, err)
			}
			want := *td
			want.IgnoredFields = nil
			if got := again[0].TaskDefinition(); !reflect.DeepEqual(got, &want) {
				t.Fatalf("round trip changed the task definition:\nbefore %+v\nafter  %+v", &want, got)
			}
		}
	})
}
