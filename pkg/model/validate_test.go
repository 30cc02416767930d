package model

import (
	"errors"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// validTD is a small valid task definition that each case mutates.
func validTD() *TaskDefinition {
	return &TaskDefinition{
		Family: "web",
		ContainerDefinitions: []ContainerDefinition{
			{Name: "web", Image: "nginx:1.27", Memory: ptr(128),
				PortMappings: []PortMapping{{ContainerPort: 80, HostPort: 8080}}},
			{Name: "sidecar", Image: "busybox", MemoryReservation: ptr(32), Essential: ptr(false)},
		},
	}
}

func TestValidateOK(t *testing.T) {
	for name, mut := range map[string]func(td *TaskDefinition){
		"base": func(td *TaskDefinition) {},
		"task memory only": func(td *TaskDefinition) {
			td.Memory = "1 GB"
			td.ContainerDefinitions[0].Memory = nil
			td.ContainerDefinitions[1].MemoryReservation = nil
		},
		"task cpu vcpu":       func(td *TaskDefinition) { td.Cpu = "0.5 vCPU" },
		"task cpu fargate 16": func(td *TaskDefinition) { td.Cpu = "16384" },
		"awsvpc same ports": func(td *TaskDefinition) {
			td.NetworkMode = NetworkAwsvpc
			td.ContainerDefinitions[0].PortMappings[0].HostPort = 80
		},
		"depends healthy": func(td *TaskDefinition) {
			td.ContainerDefinitions[1].HealthCheck = &HealthCheck{Command: []string{"CMD-SHELL", "true"}, Interval: 5, Timeout: 2, Retries: 10, StartPeriod: 300}
			td.ContainerDefinitions[0].DependsOn = []ContainerDependency{{ContainerName: "sidecar", Condition: DependHealthy}}
		},
		"depends complete on non-essential": func(td *TaskDefinition) {
			td.ContainerDefinitions[0].DependsOn = []ContainerDependency{{ContainerName: "sidecar", Condition: DependSuccess}}
		},
		"mount": func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "data"}}
			td.ContainerDefinitions[0].MountPoints = []MountPoint{{SourceVolume: "data", ContainerPath: "/data"}}
		},
		"udp and tcp share a port": func(td *TaskDefinition) {
			td.ContainerDefinitions[1].PortMappings = []PortMapping{{ContainerPort: 53, HostPort: 8080, Protocol: "udp"}}
		},
		"stop timeout 120": func(td *TaskDefinition) { td.ContainerDefinitions[0].StopTimeout = ptr(120) },
		"memberOf": func(td *TaskDefinition) {
			td.PlacementConstraints = []PlacementConstraint{{Type: "memberOf", Expression: "attribute:arch == arm64"}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			td := validTD()
			mut(td)
			if err := td.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(td *TaskDefinition)
		want string // errors joined by "\n"
	}{
		{"family missing", func(td *TaskDefinition) { td.Family = "" },
			"family: required: name the task definition family (1-255 letters, digits, hyphens or underscores)"},
		{"family bad", func(td *TaskDefinition) { td.Family = "my app" },
			`family: "my app" is not a valid family: use 1-255 letters, digits, hyphens or underscores`},
		{"family too long", func(td *TaskDefinition) { td.Family = strings.Repeat("a", 256) },
			`family: "` + strings.Repeat("a", 256) + `" is not a valid family: use 1-255 letters, digits, hyphens or underscores`},
		{"no containers", func(td *TaskDefinition) { td.ContainerDefinitions = nil },
			"containerDefinitions: required: define at least one container (name and image)"},
		{"too many containers", func(td *TaskDefinition) {
			for i := 0; i < 9; i++ {
				c := td.ContainerDefinitions[1]
				c.Name = "c" + string(rune('a'+i))
				td.ContainerDefinitions = append(td.ContainerDefinitions, c)
			}
		}, "containerDefinitions: has 11 containers; a task definition holds at most 10 (split it into several task definitions)"},
		{"duplicate name", func(td *TaskDefinition) { td.ContainerDefinitions[1].Name = "web" },
			`containerDefinitions[1].name: duplicate container name "web" (also containerDefinitions[0]): container names must be unique`},
		{"bad name", func(td *TaskDefinition) { td.ContainerDefinitions[1].Name = "side.car" },
			`containerDefinitions[1].name: "side.car" is not a valid container name: use 1-255 letters, digits, hyphens or underscores`},
		{"no image", func(td *TaskDefinition) { td.ContainerDefinitions[0].Image = " " },
			"containerDefinitions[0].image: required: the image to run, e.g. nginx:1.27 or registry.example.com/app:v2"},
		{"memory too small", func(td *TaskDefinition) { td.ContainerDefinitions[0].Memory = ptr(4) },
			"containerDefinitions[0].memory: must be at least 6 MiB, got 4"},
		{"reservation too small", func(td *TaskDefinition) { td.ContainerDefinitions[1].MemoryReservation = ptr(5) },
			"containerDefinitions[1].memoryReservation: must be at least 6 MiB, got 5"},
		{"reservation over memory", func(td *TaskDefinition) { td.ContainerDefinitions[0].MemoryReservation = ptr(256) },
			"containerDefinitions[0].memoryReservation: 256 MiB is more than memory (128 MiB): the soft limit must not exceed the hard limit"},
		{"no memory anywhere", func(td *TaskDefinition) { td.ContainerDefinitions[1].MemoryReservation = nil },
			"containerDefinitions[1].memory: required when the task sets no memory: set memory (hard limit, MiB), memoryReservation (soft limit, MiB) or the task-level memory"},
		{"container memory over task", func(td *TaskDefinition) { td.Memory = "64" },
			"containerDefinitions[0].memory: 128 MiB is more than the task's memory (64 MiB): lower it or raise the task memory"},
		{"container memory sum over task", func(td *TaskDefinition) { td.Memory = "150" },
			"memory: the containers reserve 160 MiB in total, more than the task's 150 MiB: raise the task memory or lower the containers' memoryReservation or memory"},
		{"negative cpu", func(td *TaskDefinition) { td.ContainerDefinitions[0].Cpu = -1 },
			"containerDefinitions[0].cpu: must not be negative (CPU units, 1024 = 1 vCPU)"},
		{"task cpu too small", func(td *TaskDefinition) { td.Cpu = "64" },
			"cpu: must be between 128 and 196608 CPU units (0.125 to 192 vCPU), got 64"},
		{"task cpu garbage", func(td *TaskDefinition) { td.Cpu = "1 core" },
			`cpu: "1 core" is not a valid size: use CPU units ("1024") or vCPUs ("1 vCPU", "0.5 vcpu")`},
		{"task cpu fraction", func(td *TaskDefinition) { td.Cpu = "0.3 vcpu" },
			`cpu: "0.3 vcpu" is 307.2 CPU units, not a whole number; use CPU units ("1024") or vCPUs ("1 vCPU", "0.5 vcpu")`},
		{"task memory garbage", func(td *TaskDefinition) { td.Memory = "lots" },
			`memory: "lots" is not a valid size: use MiB ("2048") or GB ("2 GB", "0.5 GB")`},
		{"container cpu over task", func(td *TaskDefinition) {
			td.Cpu = "256"
			td.ContainerDefinitions[0].Cpu = 200
			td.ContainerDefinitions[1].Cpu = 100
		}, "cpu: the containers reserve 300 CPU units in total, more than the task's 256: raise the task cpu or lower the containers' cpu"},
		{"network mode", func(td *TaskDefinition) { td.NetworkMode = "overlay" },
			`networkMode: must be one of bridge, host, awsvpc or none, got "overlay"`},
		{"container port 0", func(td *TaskDefinition) { td.ContainerDefinitions[0].PortMappings[0].ContainerPort = 0 },
			"containerDefinitions[0].portMappings[0].containerPort: required: the port the container listens on (1-65535)"},
		{"container port big", func(td *TaskDefinition) { td.ContainerDefinitions[0].PortMappings[0].ContainerPort = 70000 },
			"containerDefinitions[0].portMappings[0].containerPort: must be between 1 and 65535, got 70000"},
		{"host port big", func(td *TaskDefinition) { td.ContainerDefinitions[0].PortMappings[0].HostPort = 65536 },
			"containerDefinitions[0].portMappings[0].hostPort: must be between 0 and 65535 (0 picks a free port), got 65536"},
		{"protocol", func(td *TaskDefinition) { td.ContainerDefinitions[0].PortMappings[0].Protocol = "sctp" },
			`containerDefinitions[0].portMappings[0].protocol: must be "tcp" or "udp", got "sctp"`},
		{"duplicate host port", func(td *TaskDefinition) {
			td.ContainerDefinitions[1].PortMappings = []PortMapping{{ContainerPort: 9000, HostPort: 8080, Protocol: "tcp"}}
		}, "containerDefinitions[1].portMappings[0].hostPort: host port tcp/8080 is already used by containerDefinitions[0].portMappings[0]: pick another hostPort, or omit it for a dynamic port"},
		{"awsvpc host port differs", func(td *TaskDefinition) { td.NetworkMode = "awsvpc" },
			"containerDefinitions[0].portMappings[0].hostPort: must equal containerPort (80) or be omitted with networkMode awsvpc, got 8080"},
		{"host mode duplicate container ports", func(td *TaskDefinition) {
			td.NetworkMode = "host"
			td.ContainerDefinitions[0].PortMappings[0].HostPort = 0
			td.ContainerDefinitions[1].PortMappings = []PortMapping{{ContainerPort: 80}}
		}, "containerDefinitions[1].portMappings[0].hostPort: host port tcp/80 is already used by containerDefinitions[0].portMappings[0]: pick another hostPort, or omit it for a dynamic port"},
		{"network none with ports", func(td *TaskDefinition) { td.NetworkMode = "none" },
			"containerDefinitions[0].portMappings: not allowed with networkMode none: remove the port mappings or change networkMode"},
		{"depends unknown", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].DependsOn = []ContainerDependency{{ContainerName: "db", Condition: "START"}}
		}, `containerDefinitions[0].dependsOn[0].containerName: "db" names no container; containers are: web, sidecar`},
		{"depends self", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].DependsOn = []ContainerDependency{{ContainerName: "web", Condition: "START"}}
		}, `containerDefinitions[0].dependsOn[0].containerName: "web" is this container itself: a container cannot depend on itself`},
		{"depends bad condition", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].DependsOn = []ContainerDependency{{ContainerName: "sidecar", Condition: "READY"}}
		}, `containerDefinitions[0].dependsOn[0].condition: must be one of START, COMPLETE, SUCCESS or HEALTHY, got "READY"`},
		{"depends no condition", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].DependsOn = []ContainerDependency{{ContainerName: "sidecar"}}
		}, `containerDefinitions[0].dependsOn[0].condition: required: one of START, COMPLETE, SUCCESS or HEALTHY`},
		{"depends healthy without check", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].DependsOn = []ContainerDependency{{ContainerName: "sidecar", Condition: "HEALTHY"}}
		}, `containerDefinitions[0].dependsOn[0].condition: HEALTHY needs a health check, but "sidecar" has none: add a healthCheck to "sidecar" or use condition START`},
		{"depends complete on essential", func(td *TaskDefinition) {
			td.ContainerDefinitions[1].DependsOn = []ContainerDependency{{ContainerName: "web", Condition: "COMPLETE"}}
		}, `containerDefinitions[1].dependsOn[0].condition: COMPLETE waits for "web" to exit, but "web" is essential (its exit stops the task): set essential: false on "web" or use condition START`},
		{"depends cycle", func(td *TaskDefinition) {
			td.ContainerDefinitions = append(td.ContainerDefinitions, ContainerDefinition{Name: "db", Image: "postgres", Memory: ptr(256)})
			td.ContainerDefinitions[0].DependsOn = []ContainerDependency{{ContainerName: "sidecar", Condition: "START"}}
			td.ContainerDefinitions[1].DependsOn = []ContainerDependency{{ContainerName: "db", Condition: "START"}}
			td.ContainerDefinitions[2].DependsOn = []ContainerDependency{{ContainerName: "web", Condition: "START"}}
		}, "containerDefinitions[2].dependsOn[0]: dependency cycle web -> sidecar -> db -> web: the containers would wait for each other forever; remove one of these dependsOn entries"},
		{"health check prefix", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].HealthCheck = &HealthCheck{Command: []string{"curl", "localhost"}}
		}, `containerDefinitions[0].healthCheck.command[0]: must be "CMD" or "CMD-SHELL", got "curl": write e.g. ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]`},
		{"health check empty", func(td *TaskDefinition) { td.ContainerDefinitions[0].HealthCheck = &HealthCheck{} },
			`containerDefinitions[0].healthCheck.command: required: ["CMD", "executable", "arg"] or ["CMD-SHELL", "shell command"]`},
		{"health check only CMD", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].HealthCheck = &HealthCheck{Command: []string{"CMD"}}
		}, "containerDefinitions[0].healthCheck.command: has nothing to run after CMD: add the command"},
		{"health check ranges", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].HealthCheck = &HealthCheck{Command: []string{"CMD", "true"}, Interval: 4, Timeout: 61, Retries: 11, StartPeriod: 301}
		}, "containerDefinitions[0].healthCheck.interval: must be between 5 and 300 seconds, got 4\n" +
			"containerDefinitions[0].healthCheck.timeout: must be between 2 and 60 seconds, got 61\n" +
			"containerDefinitions[0].healthCheck.retries: must be between 1 and 10, got 11\n" +
			"containerDefinitions[0].healthCheck.startPeriod: must be between 0 and 300 seconds, got 301"},
		{"stop timeout", func(td *TaskDefinition) { td.ContainerDefinitions[0].StopTimeout = ptr(121) },
			"containerDefinitions[0].stopTimeout: must be between 0 and 120 seconds, got 121"},
		{"mount unknown volume", func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "cache"}, {Name: "logs"}}
			td.ContainerDefinitions[0].MountPoints = []MountPoint{{SourceVolume: "data", ContainerPath: "/data"}}
		}, `containerDefinitions[0].mountPoints[0].sourceVolume: "data" names no volume; volumes are: cache, logs`},
		{"mount without volumes", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].MountPoints = []MountPoint{{SourceVolume: "data"}}
		}, "containerDefinitions[0].mountPoints[0].sourceVolume: \"data\" names no volume; the task defines none: add {name: data} under volumes\n" +
			"containerDefinitions[0].mountPoints[0].containerPath: required: where the volume appears inside the container, e.g. /data"},
		{"duplicate volume", func(td *TaskDefinition) { td.Volumes = []Volume{{Name: "a"}, {Name: "a"}} },
			`volumes[1].name: duplicate volume name "a": volume names must be unique`},
		{"pull policy", func(td *TaskDefinition) { td.ContainerDefinitions[0].ImagePullPolicy = "Always" },
			`containerDefinitions[0].imagePullPolicy: must be one of always, if-not-present or never, got "Always"`},
		{"distinctInstance", func(td *TaskDefinition) {
			td.PlacementConstraints = []PlacementConstraint{{Type: "distinctInstance"}}
		}, "placementConstraints[0].type: distinctInstance is not allowed in a task definition (ECS allows it on services and run-task only); only memberOf is"},
		{"memberOf without expression", func(td *TaskDefinition) {
			td.PlacementConstraints = []PlacementConstraint{{Type: "memberOf"}}
		}, "placementConstraints[0].expression: required for memberOf: a cluster query expression, e.g. attribute:arch == arm64"},
		{"no essential", func(td *TaskDefinition) { td.ContainerDefinitions[0].Essential = ptr(false) },
			"containerDefinitions: no container is essential: at least one must be (essential defaults to true; remove essential: false from one)"},
		{"env without name", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].Environment = []KeyValuePair{{Value: "x"}}
		}, "containerDefinitions[0].environment[0].name: required: every environment variable needs a name"},
		{"log driver", func(td *TaskDefinition) { td.ContainerDefinitions[0].LogConfiguration = &LogConfiguration{} },
			"containerDefinitions[0].logConfiguration.logDriver: required: e.g. json-file or awslogs"},
		{"tag key", func(td *TaskDefinition) { td.Tags = []Tag{{Value: "x"}} },
			"tags[0].key: required: every tag needs a key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := validTD()
			tc.mut(td)
			err := td.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want:\n%s", tc.want)
			}
			var fes FieldErrors
			if !errors.As(err, &fes) {
				t.Fatalf("Validate() returned %T, want FieldErrors", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false")
			}
			var lines []string
			for _, fe := range fes {
				lines = append(lines, fe.Error())
			}
			if got := strings.Join(lines, "\n"); got != tc.want {
				t.Errorf("Validate():\ngot:  %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	td := validTD()
	td.Cpu, td.Memory = "0.25 vCPU", "1.5 GB"
	td.Normalize()
	if td.Cpu != "256" || td.Memory != "1536" {
		t.Errorf("cpu, memory = %q, %q; want \"256\", \"1536\"", td.Cpu, td.Memory)
	}
	if p := td.ContainerDefinitions[0].PortMappings[0].Protocol; p != "tcp" {
		t.Errorf("protocol = %q, want tcp", p)
	}
	td.Cpu = "huge"
	td.Normalize()
	if td.Cpu != "huge" {
		t.Errorf("Normalize changed an invalid cpu to %q; want it left for Validate", td.Cpu)
	}
}

func TestParseTaskSizes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		cpu     bool
		want    int
		wantErr bool
	}{
		{"1024", true, 1024, false},
		{" 1 vCPU ", true, 1024, false},
		{"1vcpu", true, 1024, false},
		{"0.5 vcpu", true, 512, false},
		{"2 VCPUS", true, 2048, false},
		{"1 GB", true, 0, true},
		{"", true, 0, true},
		{"-1", true, 0, true},
		{"1e3", true, 0, true},
		{"1..2", true, 0, true},
		{"512", false, 512, false},
		{"2 GB", false, 2048, false},
		{"2GB", false, 2048, false},
		{"0.5 GiB", false, 512, false},
		{"512 MiB", false, 512, false},
		{"512mb", false, 512, false},
		{"1 TB", false, 0, true},
		{"99999999999999999 GB", false, 0, true},
	} {
		f := ParseTaskMemory
		if tc.cpu {
			f = ParseTaskCPU
		}
		got, err := f(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parse(%q, cpu=%v) = %d, %v; want %d, err=%v", tc.in, tc.cpu, got, err, tc.want, tc.wantErr)
		}
	}
}

// A queue's or topic's Policy is enforced, so one that cannot be
// evaluated is refused when set, naming the problem; AWS's usual shapes
// (a service principal, an account-wide default topic policy) are fine.
func TestResourcePolicyAttributes(t *testing.T) {
	good := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": "*", "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:000000000000:t"}}}]}`
	if _, err := ParseQueueAttributes(map[string]string{QAPolicy: good}, false); err != nil {
		t.Errorf("a topic-to-queue policy: %v", err)
	}
	bad := `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}`
	if _, err := ParseQueueAttributes(map[string]string{QAPolicy: bad}, false); err == nil || !strings.Contains(err.Error(), "IpAddress") {
		t.Errorf("an unsupported condition: %v, want refused naming it", err)
	}
	if msg := CheckTopicAttribute(TAPolicy, `{"Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}`, false); !strings.Contains(msg, "Principal") {
		t.Errorf("a topic policy without Principal: %q", msg)
	}
}
