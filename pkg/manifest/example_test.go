package manifest_test

import (
	"fmt"

	"github.com/orch-project/orch/pkg/manifest"
)

func Example() {
	// A binary lists the kinds it reads once; here, task definitions only.
	dec := manifest.NewDecoder(manifest.TaskDefinitionKind)
	docs, err := dec.Parse("web.yaml", []byte(`
kind: TaskDefinition
family: web
cpu: 0.5 vCPU
memory: 1 GB
executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
containerDefinitions:
  - name: web
    image: nginx:1.27
    portMappings:
      - containerPort: 80
        hostPort: 8080
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range docs {
		td := d.TaskDefinition()
		fmt.Println(d.Kind, d.Name, "cpu", td.Cpu, "memory", td.Memory)
		fmt.Println("ignored:", d.Ignored)
	}

	_, err = dec.Parse("bad.yaml", []byte(`
kind: TaskDefinition
family: web
containerDefinitions:
  - name: web
    image: nginx:1.27
    memroy: 128
  - name: sidecar
    image: busybox
    memory: 4
`))
	fmt.Println(err)
	// Output:
	// TaskDefinition web cpu 512 memory 1024
	// ignored: [executionRoleArn]
	// bad.yaml:7:5: containerDefinitions[0].memroy: unknown field; did you mean "memory"?
	// bad.yaml:10:13: containerDefinitions[1].memory: must be at least 6 MiB, got 4
}
