package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

func ptr[T any](v T) *T { return &v }

// mustLoad loads path and fails the test on error.
func mustLoad(t *testing.T, path string) []Document {
	t.Helper()
	docs, err := testDecoder.Load(path, nil)
	if err != nil {
		t.Fatalf("Load(%s):\n%v", path, err)
	}
	return docs
}

// TestDescribeTaskDefinitionEC2 loads the unchanged output of
// `aws ecs describe-task-definition --include TAGS` for an EC2 task.
func TestDescribeTaskDefinitionEC2(t *testing.T) {
	docs := mustLoad(t, "testdata/ecs/describe-ec2.json")
	if len(docs) != 1 {
		t.Fatalf("got %d documents, want 1", len(docs))
	}
	d := docs[0]
	if d.Kind != KindTaskDefinition || d.Name != "shop-web" || d.Line != 1 || d.Column != 1 {
		t.Errorf("document = %s at %d:%d; want TaskDefinition shop-web at 1:1", d.String(), d.Line, d.Column)
	}
	want := &model.TaskDefinition{
		Family:      "shop-web",
		Cpu:         "512",
		Memory:      "1024",
		NetworkMode: "bridge",
		ContainerDefinitions: []model.ContainerDefinition{
			{
				Name:              "web",
				Image:             "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-web:2024.03.1",
				Cpu:               256,
				Memory:            ptr(512),
				MemoryReservation: ptr(256),
				Essential:         ptr(true),
				Command:           []string{"/app/server", "--listen", ":8080"},
				Environment:       []model.KeyValuePair{{Name: "LOG_LEVEL", Value: "info"}, {Name: "REDIS_ADDR", Value: "localhost:6379"}},
				PortMappings:      []model.PortMapping{{ContainerPort: 8080, HostPort: 0, Protocol: "tcp", Name: "web-8080-tcp"}},
				MountPoints:       []model.MountPoint{{SourceVolume: "uploads", ContainerPath: "/var/lib/shop/uploads"}},
				DependsOn:         []model.ContainerDependency{{ContainerName: "redis", Condition: "HEALTHY"}},
				StopTimeout:       ptr(60),
				DockerLabels:      map[string]string{"com.example.team": "shop"},
				LogConfiguration: &model.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
					"awslogs-group": "/ecs/shop-web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}},
				HealthCheck: &model.HealthCheck{
					Command:  []string{"CMD-SHELL", "wget -q -O /dev/null http://localhost:8080/healthz || exit 1"},
					Interval: 30, Timeout: 5, Retries: 3, StartPeriod: 10},
			},
			{
				Name:              "redis",
				Image:             "redis:7.2-alpine",
				Cpu:               128,
				MemoryReservation: ptr(128),
				Essential:         ptr(true),
				User:              "999",
				HealthCheck:       &model.HealthCheck{Command: []string{"CMD", "redis-cli", "ping"}, Interval: 10, Timeout: 3, Retries: 5},
			},
		},
		Volumes:              []model.Volume{{Name: "uploads", Host: &model.HostVolumeSource{SourcePath: "/srv/shop/uploads"}}},
		PlacementConstraints: []model.PlacementConstraint{{Type: "memberOf", Expression: "attribute:ecs.instance-type =~ t3.*"}},
		Tags:                 []model.Tag{{Key: "team", Value: "shop"}, {Key: "env", Value: "prod"}},
		TaskRoleArn:          "arn:aws:iam::123456789012:role/shop-web-task",
		// Read-only fields (taskDefinitionArn, revision, status, registeredAt,
		// requiresAttributes, ...) are dropped: the server assigns them.
		IgnoredFields: []string{
			"containerDefinitions[0].portMappings[0].appProtocol",
			"containerDefinitions[0].secrets",
			"containerDefinitions[0].ulimits",
			"containerDefinitions[0].readonlyRootFilesystem",
			"containerDefinitions[1].linuxParameters",
			"executionRoleArn",
			"requiresCompatibilities",
		},
	}
	if got := d.TaskDefinition(); !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("task definition:\ngot  %s\nwant %s", g, w)
	}
	var wantIgnored []string
	for _, p := range want.IgnoredFields {
		wantIgnored = append(wantIgnored, "taskDefinition."+p)
	}
	if !reflect.DeepEqual(d.Ignored, wantIgnored) {
		t.Errorf("Ignored:\ngot  %q\nwant %q", d.Ignored, wantIgnored)
	}
}

// TestDescribeTaskDefinitionFargate loads a Fargate task definition with
// awsvpc, FireLens, secrets, a port range and runtimePlatform unchanged.
func TestDescribeTaskDefinitionFargate(t *testing.T) {
	docs := mustLoad(t, "testdata/ecs/describe-fargate.json")
	td := docs[0].TaskDefinition()
	if td.Family != "orders-api" || td.Cpu != "1024" || td.Memory != "3072" || td.NetworkMode != "awsvpc" {
		t.Errorf("family, cpu, memory, networkMode = %q, %q, %q, %q", td.Family, td.Cpu, td.Memory, td.NetworkMode)
	}
	if td.Revision != 0 || td.TaskDefinitionArn != "" || td.Status != "" || td.RegisteredAt != nil {
		t.Errorf("read-only fields were kept: revision %d, arn %q, status %q, registeredAt %v", td.Revision, td.TaskDefinitionArn, td.Status, td.RegisteredAt)
	}
	// The port range mapping has no containerPort: Orch ignores it entirely.
	wantPorts := []model.PortMapping{{ContainerPort: 3000, HostPort: 3000, Protocol: "tcp", Name: "api-http"}}
	if got := td.ContainerDefinitions[0].PortMappings; !reflect.DeepEqual(got, wantPorts) {
		t.Errorf("port mappings = %+v, want %+v", got, wantPorts)
	}
	wantIgnored := []string{
		"containerDefinitions[0].portMappings[0].appProtocol",
		"containerDefinitions[0].portMappings[1].containerPortRange",
		"containerDefinitions[0].secrets",
		"containerDefinitions[1].firelensConfiguration",
		"executionRoleArn",
		"runtimePlatform",
		"requiresCompatibilities",
		"ephemeralStorage",
	}
	if !reflect.DeepEqual(td.IgnoredFields, wantIgnored) {
		t.Errorf("IgnoredFields:\ngot  %q\nwant %q", td.IgnoredFields, wantIgnored)
	}
	if r := td.Requirements(); r != (model.Resources{CPU: 1024, MemoryMiB: 3072}) {
		t.Errorf("Requirements() = %+v", r)
	}
}

// TestRegisterTaskDefinitionInput loads a RegisterTaskDefinition input
// (`--cli-input-json`) with many fields Orch does not use.
func TestRegisterTaskDefinitionInput(t *testing.T) {
	docs := mustLoad(t, "testdata/ecs/register-input.json")
	d := docs[0]
	td := d.TaskDefinition()
	if d.Name != "batch-report" || len(td.ContainerDefinitions) != 2 {
		t.Fatalf("document %s with %d containers", d.String(), len(td.ContainerDefinitions))
	}
	c := td.ContainerDefinitions[1]
	if c.StartTimeout == nil || *c.StartTimeout != 120 || c.WorkingDirectory != "/work" || c.IsEssential() != true ||
		!reflect.DeepEqual(c.DependsOn, []model.ContainerDependency{{ContainerName: "init-schema", Condition: "SUCCESS"}}) {
		t.Errorf("container report = %+v", c)
	}
	if td.ContainerDefinitions[0].IsEssential() {
		t.Error("init-schema is essential, want essential: false kept")
	}
	wantIgnored := []string{
		"executionRoleArn",
		"containerDefinitions[0].repositoryCredentials",
		"containerDefinitions[1].hostname", "containerDefinitions[1].dnsServers", "containerDefinitions[1].ulimits",
		"containerDefinitions[1].resourceRequirements", "containerDefinitions[1].restartPolicy", "containerDefinitions[1].environmentFiles",
		"volumes[0].efsVolumeConfiguration",
		"requiresCompatibilities", "pidMode", "ipcMode",
		// proxyConfiguration (null) and inferenceAccelerators ([]) are empty: not listed.
	}
	if !reflect.DeepEqual(d.Ignored, wantIgnored) {
		t.Errorf("Ignored:\ngot  %q\nwant %q", d.Ignored, wantIgnored)
	}
}

// TestRoundTrip: a loaded task definition written as JSON loads again to the
// same content (Orch's own output, e.g. `orch get -o json`, can be applied).
func TestRoundTrip(t *testing.T) {
	for _, f := range []string{"testdata/ecs/describe-ec2.json", "testdata/ecs/describe-fargate.json", "testdata/ecs/register-input.json", "testdata/dir"} {
		for _, d := range mustLoad(t, f) {
			roundTrip(t, d.TaskDefinition())
		}
	}
}

func roundTrip(t *testing.T, td *model.TaskDefinition) {
	t.Helper()
	b, err := json.Marshal(td)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := testDecoder.Parse("roundtrip.json", b)
	if err != nil {
		t.Fatalf("reloading %s:\n%v", b, err)
	}
	again := docs[0].TaskDefinition()
	want := *td
	want.IgnoredFields = nil // ignored fields are not in the model, so not in its JSON
	if !reflect.DeepEqual(again, &want) {
		t.Errorf("round trip changed the task definition:\nbefore %+v\nafter  %+v", &want, again)
	}
}

func TestLoadDirectory(t *testing.T) {
	docs := mustLoad(t, "testdata/dir")
	var got []string
	for _, d := range docs {
		got = append(got, d.String())
	}
	want := []string{
		"TaskDefinition web (testdata/dir/a.yaml:2)",
		"TaskDefinition worker (testdata/dir/a.yaml:13)",
		"TaskDefinition cron (testdata/dir/b.yml:1)",
		"TaskDefinition api (testdata/dir/c.json:2)",
		"TaskDefinition db (testdata/dir/c.json:3)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("documents:\ngot  %q\nwant %q", got, want)
	}
	web := docs[0].TaskDefinition()
	if web.Cpu != "1024" || web.Memory != "512" || web.ContainerDefinitions[0].PortMappings[0].Protocol != "tcp" {
		t.Errorf("web not normalised: cpu %q, memory %q, protocol %q", web.Cpu, web.Memory, web.ContainerDefinitions[0].PortMappings[0].Protocol)
	}
}

func TestLoadCollectsErrorsOfAllFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1-ok.yaml", "kind: TaskDefinition\nfamily: ok\ncontainerDefinitions: [{name: a, image: x, memory: 64}]\n")
	write("2-bad.yaml", "kind: TaskDefinition\nfamily: bad\ncontainerDefinitions: [{name: a, image: x, memory: 1}]\n")
	write("3-bad.json", `{"family": "b", "containerDefinitions": [{"name": "a", "image": "x", "memory": 64, "cpuu": 1}]}`)
	docs, err := testDecoder.Load(dir, nil)
	if docs != nil {
		t.Errorf("Load returned %d documents despite errors", len(docs))
	}
	want := filepath.Join(dir, "2-bad.yaml") + `:3:52: containerDefinitions[0].memory: must be at least 6 MiB, got 1
` + filepath.Join(dir, "3-bad.json") + `:1:84: containerDefinitions[0].cpuu: unknown field; did you mean "cpu"?`
	if err == nil || err.Error() != want {
		t.Errorf("error:\ngot:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoadStdin(t *testing.T) {
	docs, err := testDecoder.Load("-", strings.NewReader("kind: TaskDefinition\nfamily: s\ncontainerDefinitions: [{name: a, image: x, memory: 64}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if docs[0].File != "<stdin>" || docs[0].Name != "s" {
		t.Errorf("document = %s", docs[0].String())
	}
	_, err = testDecoder.Load("-", strings.NewReader("kind: TaskDefinition\nfamily: s\ncontainerDefinitions: [{name: a, image: x, memory: 64, port: 1}]\n"))
	if want := `<stdin>:3:56: containerDefinitions[0].port: unknown field; did you mean "portMappings"?`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	if _, err := testDecoder.Load("-", nil); err == nil {
		t.Error("Load(-, nil) succeeded")
	}
}

func TestLoadIOErrors(t *testing.T) {
	_, err := testDecoder.Load("testdata/nope.yaml", nil)
	if want := "testdata/nope.yaml: cannot read: no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false")
	}
	empty := t.TempDir()
	_, err = testDecoder.Load(empty, nil)
	if want := empty + ": no *.yaml, *.yml or *.json files in this directory"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	if !errors.Is(err, ErrNoDocuments) {
		t.Errorf("errors.Is(err, ErrNoDocuments) = false")
	}
}

// TestYAMLFeatures covers anchors, merge keys, nulls, BOM and CRLF.
func TestYAMLFeatures(t *testing.T) {
	in := "\ufeffkind: TaskDefinition\r\n" +
		"family: web\r\n" +
		"x-defaults: &defaults\r\n" + // not a field: must be rejected, see below
		"  image: busybox\r\n"
	if _, err := testDecoder.Parse("a.yaml", []byte(in)); err == nil || !strings.Contains(err.Error(), "a.yaml:3:1: x-defaults: unknown field") {
		t.Errorf("error = %v; want unknown field x-defaults", err)
	}

	docs, err := testDecoder.Parse("a.yaml", []byte(`
kind: TaskDefinition
family: web
containerDefinitions:
  - &base
    name: web
    image: busybox
    memory: 64
    environment: &env [{name: A, value: 1}, {name: B, value: true}]
    command: ~
    healthCheck: null
  - <<: *base
    name: sidecar
    memory: null
    memoryReservation: 32
    environment: *env
`))
	if err != nil {
		t.Fatal(err)
	}
	cs := docs[0].TaskDefinition().ContainerDefinitions
	want := []model.ContainerDefinition{
		{Name: "web", Image: "busybox", Memory: ptr(64), Environment: []model.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "true"}}},
		{Name: "sidecar", Image: "busybox", MemoryReservation: ptr(32), Environment: []model.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "true"}}},
	}
	if !reflect.DeepEqual(cs, want) {
		t.Errorf("containers:\ngot  %+v\nwant %+v", cs, want)
	}
}

// TestIgnoredEmptyValues: ignored fields with empty values are not listed.
func TestIgnoredEmptyValues(t *testing.T) {
	docs, err := testDecoder.Parse("a.json", []byte(`{"family": "a", "taskRoleArn": "", "ipcMode": null, "requiresCompatibilities": [],
	"runtimePlatform": {}, "enableFaultInjection": false,
	"containerDefinitions": [{"name": "a", "image": "x", "memory": 64, "privileged": false, "links": [], "secrets": [{"name": "S", "valueFrom": "arn"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"containerDefinitions[0].secrets"}; !reflect.DeepEqual(docs[0].Ignored, want) {
		t.Errorf("Ignored = %q, want %q", docs[0].Ignored, want)
	}
}

func TestParseOrchOutput(t *testing.T) {
	// What Orch itself returns for a task definition (server-assigned fields
	// included) applies unchanged.
	docs, err := testDecoder.Parse("get.yaml", []byte(`
kind: TaskDefinition
family: web
revision: 3
taskDefinitionArn: arn:aws:ecs:us-east-1:000000000000:task-definition/web:3
status: ACTIVE
registeredAt: 2026-01-02T03:04:05Z
ignoredFields: [executionRoleArn]
containerDefinitions: [{name: web, image: nginx, memory: 64}]
`))
	if err != nil {
		t.Fatal(err)
	}
	td := docs[0].TaskDefinition()
	if td.Revision != 0 || td.Status != "" || td.RegisteredAt != nil || td.IgnoredFields != nil || len(docs[0].Ignored) != 0 {
		t.Errorf("server-assigned fields kept: %+v, Ignored %q", td, docs[0].Ignored)
	}
}

// TestAliasBomb: aliases that multiply values (30 million here) stop at a
// budget, quickly, with one error.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("- &d\n  kind: TaskDefinition\n  family: a\n  containerDefinitions:\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "    - {name: c%d, image: b, memory: 64, environment: ", i)
		if i == 0 {
			b.WriteString("&e [")
			for j := 0; j < 1000; j++ {
				b.WriteString("{name: a, value: b},")
			}
			b.WriteString("]}\n")
		} else {
			b.WriteString("*e}\n")
		}
	}
	for i := 0; i < 1000; i++ {
		b.WriteString("- *d\n")
	}
	start := time.Now()
	_, err := testDecoder.Parse("bomb.yaml", []byte(b.String()))
	if want := "bomb.yaml:5:18464: containerDefinitions[8].environment[920].name: file too large: more than 1048576 values (check for aliases that expand without bound)"; err == nil || err.Error() != want {
		t.Errorf("error:\ngot  %.1000v\nwant %s", err, want)
	}
	// The bound catches a decoder that expands aliases without limit (that
	// takes hours, not seconds); it is generous because this test runs
	// under -race on busy 2-core machines, where it took 23 s.
	if d := time.Since(start); d > 2*time.Minute {
		t.Errorf("took %v", d)
	}
}

// LoadAll (orch apply -f a -f b): every path, in the order given, files,
// directories and stdin mixed; errors of every path at once, each naming
// its file, line, column and field path.
func TestLoadAllEveryPathInOrder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	z := write("z.yaml", "kind: TaskDefinition\nfamily: zed\ncontainerDefinitions: [{name: a, image: x, memory: 64}]\n")
	a := write("a.yaml", "kind: TaskDefinition\nfamily: ay\ncontainerDefinitions: [{name: a, image: x, memory: 64}]\n")
	stdin := strings.NewReader("kind: TaskDefinition\nfamily: piped\ncontainerDefinitions: [{name: a, image: x, memory: 64}]\n")
	docs, err := testDecoder.LoadAll([]string{z, "-", a, "testdata/dir"}, stdin)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.Name)
	}
	want := []string{"zed", "piped", "ay", "web", "worker", "cron", "api", "db"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("documents in order %q, want %q", got, want)
	}

	bad := write("bad.yaml", "kind: TaskDefinition\nfamily: bad\ncontainerDefinitions:\n  - name: a\n    image: x\n    memory: 1\n")
	docs, err = testDecoder.LoadAll([]string{z, filepath.Join(dir, "nope.yaml"), bad}, nil)
	if docs != nil {
		t.Errorf("LoadAll returned %d documents despite errors", len(docs))
	}
	wantErr := filepath.Join(dir, "nope.yaml") + ": cannot read: no such file or directory\n" +
		bad + ":6:13: containerDefinitions[0].memory: must be at least 6 MiB, got 1"
	if err == nil || err.Error() != wantErr {
		t.Errorf("error:\ngot:\n%v\nwant:\n%s", err, wantErr)
	}

	_, err = testDecoder.LoadAll([]string{"-", "-"}, strings.NewReader(""))
	if want := "<stdin>: - (standard input) is named more than once; it can be read only once"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("stdin twice: error = %v, want %s", err, want)
	}
}
