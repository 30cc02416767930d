package agent

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/model"
)

// jidx is the position of the first journal entry "OP orch-fam-CTR-..." (or -1).
func jidx(journal []string, op, ctr string) int {
	for i, e := range journal {
		if strings.HasPrefix(e, op+" ") && strings.Contains(e, "-"+ctr+"-") {
			return i
		}
	}
	return -1
}

func ctrOf(t model.Task, name string) model.Container {
	for _, c := range t.Containers {
		if c.Name == name {
			return c
		}
	}
	return model.Container{}
}

func exitCode(c model.Container) int {
	if c.ExitCode == nil {
		return -1
	}
	return *c.ExitCode
}

func TestTaskStateMachine(t *testing.T) {
	type check func(t *testing.T, h *harness, task model.Task)
	wantContainer := func(name, status string, code int) check {
		return func(t *testing.T, h *harness, task model.Task) {
			t.Helper()
			c := ctrOf(task, name)
			if c.LastStatus != status || exitCode(c) != code {
				t.Errorf("container %s: got %s exit %d, want %s exit %d", name, c.LastStatus, exitCode(c), status, code)
			}
		}
	}
	wantStop := func(code, reasonPart string) check {
		return func(t *testing.T, h *harness, task model.Task) {
			t.Helper()
			if task.StopCode != code || !strings.Contains(task.StoppedReason, reasonPart) {
				t.Errorf("stop: got %s %q, want %s containing %q", task.StopCode, task.StoppedReason, code, reasonPart)
			}
		}
	}
	order := func(op1, c1, op2, c2 string) check {
		return func(t *testing.T, h *harness, task model.Task) {
			t.Helper()
			j := h.rt.Journal()
			i1, i2 := jidx(j, op1, c1), jidx(j, op2, c2)
			if i1 < 0 || i2 < 0 || i1 > i2 {
				t.Errorf("want %q %s before %q %s; journal:\n%s", op1, c1, op2, c2, strings.Join(j, "\n"))
			}
		}
	}
	never := func(op, c string) check {
		return func(t *testing.T, h *harness, task model.Task) {
			t.Helper()
			if j := h.rt.Journal(); jidx(j, op, c) >= 0 {
				t.Errorf("%s %s happened; journal:\n%s", op, c, strings.Join(j, "\n"))
			}
		}
	}
	unhealthy := func(c *model.ContainerDefinition) {
		c.HealthCheck = &model.HealthCheck{Command: []string{"CMD", "false"}}
	}

	tests := []struct {
		name       string
		containers []model.ContainerDefinition
		// then, when set, runs once the task is RUNNING.
		then func(h *harness, id string)
		// until is what to wait for.
		until  func(model.Task) bool
		checks []check
	}{
		{
			name:       "runs",
			containers: []model.ContainerDefinition{ctrDef("app", "")},
			until:      status(model.StatusRunning),
			checks: []check{wantContainer("app", model.ContainerRunning, -1), func(t *testing.T, h *harness, task model.Task) {
				if task.StartedAt == nil || task.PullStartedAt == nil {
					t.Errorf("timestamps: startedAt=%v pullStartedAt=%v", task.StartedAt, task.PullStartedAt)
				}
				if c := ctrOf(task, "app"); c.RuntimeID == "" || !c.Essential {
					t.Errorf("container %+v", c)
				}
			}},
		},
		{
			name:       "essential container exits",
			containers: []model.ContainerDefinition{ctrDef("app", "run_for=20ms,exit_code=3"), ctrDef("side", "")},
			until:      status(model.StatusStopped),
			checks: []check{
				wantStop(model.StopEssentialContainerExited, "Essential container in task exited"),
				wantContainer("app", model.ContainerStopped, 3),
				wantContainer("side", model.ContainerStopped, 143),
				func(t *testing.T, h *harness, task model.Task) {
					if task.StoppedAt == nil {
						t.Error("stoppedAt not reported")
					}
					found := false
					for _, e := range task.Events {
						found = found || strings.Contains(e.Message, "Essential container app exited with code 3")
					}
					if !found {
						t.Errorf("no event about the exit: %+v", task.Events)
					}
				},
			},
		},
		{
			name:       "non-essential container exit keeps the task running",
			containers: []model.ContainerDefinition{ctrDef("app", ""), ctrDef("side", "run_for=10ms,exit_code=1", nonEssential)},
			until: func(tk model.Task) bool {
				return tk.LastStatus == model.StatusRunning && ctrOf(tk, "side").LastStatus == model.ContainerStopped
			},
			checks: []check{wantContainer("side", model.ContainerStopped, 1), wantContainer("app", model.ContainerRunning, -1)},
		},
		{
			name:       "dependsOn START",
			containers: []model.ContainerDefinition{ctrDef("app", "", dependsOn("db", model.DependStart)), ctrDef("db", "")},
			until:      status(model.StatusRunning),
			checks:     []check{order("start", "db", "start", "app")},
		},
		{
			name: "dependsOn COMPLETE",
			containers: []model.ContainerDefinition{
				ctrDef("init", "run_for=20ms,exit_code=1", nonEssential),
				ctrDef("app", "", dependsOn("init", model.DependComplete)),
			},
			until:  status(model.StatusRunning),
			checks: []check{order("die", "init", "start", "app"), wantContainer("init", model.ContainerStopped, 1)},
		},
		{
			name: "dependsOn SUCCESS",
			containers: []model.ContainerDefinition{
				ctrDef("migrate", "run_for=20ms", nonEssential),
				ctrDef("app", "", dependsOn("migrate", model.DependSuccess)),
			},
			until:  status(model.StatusRunning),
			checks: []check{order("die", "migrate", "start", "app")},
		},
		{
			name: "dependsOn HEALTHY",
			containers: []model.ContainerDefinition{
				ctrDef("db", "health=healthy_after:50ms", withHealthCheck),
				ctrDef("app", "", dependsOn("db", model.DependHealthy)),
			},
			until: func(tk model.Task) bool {
				return tk.LastStatus == model.StatusRunning && tk.HealthStatus == model.HealthHealthy
			},
			checks: []check{order("health", "db", "start", "app"), func(t *testing.T, h *harness, task model.Task) {
				if c := ctrOf(task, "db"); c.HealthStatus != model.HealthHealthy {
					t.Errorf("db health %s", c.HealthStatus)
				}
			}},
		},
		{
			name: "SUCCESS dependency fails",
			containers: []model.ContainerDefinition{
				ctrDef("migrate", "run_for=10ms,exit_code=3", nonEssential),
				ctrDef("app", "", dependsOn("migrate", model.DependSuccess)),
			},
			until: status(model.StatusStopped),
			checks: []check{
				wantStop(model.StopTaskFailedToStart, "exited with code 3"),
				never("start", "app"),
				wantContainer("migrate", model.ContainerStopped, 3),
				wantContainer("app", model.ContainerStopped, -1),
			},
		},
		{
			name:       "start error",
			containers: []model.ContainerDefinition{ctrDef("app", `start_error=exec: "nope": executable file not found in $PATH`), ctrDef("side", "")},
			until:      status(model.StatusStopped),
			checks: []check{
				wantStop(model.StopTaskFailedToStart, `CannotStartContainerError: exec: "nope": executable file not found in $PATH`),
				func(t *testing.T, h *harness, task model.Task) {
					if c := ctrOf(task, "app"); !strings.Contains(c.Reason, `exec: "nope"`) {
						t.Errorf("container reason %q", c.Reason)
					}
				},
			},
		},
		{
			name:       "create error",
			containers: []model.ContainerDefinition{ctrDef("app", "create_error=invalid mount config")},
			until:      status(model.StatusStopped),
			checks:     []check{wantStop(model.StopTaskFailedToStart, "CannotCreateContainerError: invalid mount config")},
		},
		{
			name:       "pull error",
			containers: []model.ContainerDefinition{ctrDef("app", "", func(c *model.ContainerDefinition) { c.Image = "registry.example/unpullable:1" })},
			until:      status(model.StatusStopped),
			checks: []check{
				wantStop(model.StopTaskFailedToStart, "CannotPullContainerError: pull access denied for registry.example/unpullable"),
				never("create", "app"),
			},
		},
		{
			name:       "pull policy never without the image",
			containers: []model.ContainerDefinition{ctrDef("app", "", func(c *model.ContainerDefinition) { c.Image = "local/only:dev"; c.ImagePullPolicy = model.PullNever })},
			until:      status(model.StatusStopped),
			checks:     []check{wantStop(model.StopTaskFailedToStart, "pull policy is never")},
		},
		{
			name:       "desired STOPPED keeps the server's stop code",
			containers: []model.ContainerDefinition{ctrDef("app", ""), ctrDef("side", "", dependsOn("app", model.DependStart))},
			then:       func(h *harness, id string) { h.cp.stop(id, model.StopUserInitiated, "Task stopped by alice") },
			until:      status(model.StatusStopped),
			checks: []check{
				wantStop(model.StopUserInitiated, "Task stopped by alice"),
				wantContainer("app", model.ContainerStopped, 143),
				// Dependents stop before what they depend on.
				order("stop", "side", "stop", "app"),
				func(t *testing.T, h *harness, task model.Task) {
					h.cp.mu.Lock()
					defer h.cp.mu.Unlock()
					for _, b := range h.cp.batches {
						for _, r := range b {
							if r.StopCode != "" {
								t.Errorf("agent reported stop code %q over the server's", r.StopCode)
							}
						}
					}
				},
			},
		},
		{
			name:       "stop timeout then kill",
			containers: []model.ContainerDefinition{ctrDef("app", "ignore_sigterm", stopTimeout(1))},
			then:       func(h *harness, id string) { h.cp.stop(id, model.StopUserInitiated, "stop") },
			until:      status(model.StatusStopped),
			checks:     []check{wantContainer("app", model.ContainerStopped, 137)},
		},
		{
			name:       "unhealthy essential container is reported, not stopped",
			containers: []model.ContainerDefinition{ctrDef("app", "health=unhealthy_after:20ms", unhealthy)},
			until: func(tk model.Task) bool {
				return tk.LastStatus == model.StatusRunning && tk.HealthStatus == model.HealthUnhealthy
			},
			checks: []check{func(t *testing.T, h *harness, task model.Task) {
				if c := ctrOf(task, "app"); c.HealthStatus != model.HealthUnhealthy || c.LastStatus != model.ContainerRunning {
					t.Errorf("container %+v", c)
				}
			}},
		},
		{
			name: "ports are published and reported",
			containers: []model.ContainerDefinition{ctrDef("web", "", func(c *model.ContainerDefinition) {
				c.PortMappings = []model.PortMapping{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 9090, Protocol: "udp"}}
			})},
			until: status(model.StatusRunning),
			checks: []check{func(t *testing.T, h *harness, task model.Task) {
				want := []model.NetworkBinding{
					{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 8080, Protocol: "tcp"},
					{BindIP: "0.0.0.0", ContainerPort: 9090, HostPort: 32768, Protocol: "udp"},
				}
				if got := ctrOf(task, "web").NetworkBindings; !slices.Equal(got, want) {
					t.Errorf("bindings %+v, want %+v", got, want)
				}
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := newFakeCP()
			h := startAgent(t, newRuntime(), cp)
			task, def := newTask("node-1", tt.containers...)
			cp.run(task, def)
			if tt.then != nil {
				cp.waitStatus(t, task.TaskID, model.StatusRunning)
				tt.then(h, task.TaskID)
			}
			got := cp.waitTask(t, task.TaskID, tt.name, tt.until)
			for _, c := range tt.checks {
				c(t, h, got)
			}
		})
	}
}

func status(s string) func(model.Task) bool {
	return func(t model.Task) bool { return t.LastStatus == s }
}

func TestContainerSpec(t *testing.T) {
	cp := newFakeCP()
	cp.env = map[string]string{"AWS_ENDPOINT_URL": "http://cp:7070", "SHARED": "from-server"}
	rt := newRuntime()
	startAgent(t, rt, cp, func(c *Config) {
		c.ContainerEnv = map[string]string{"SHARED": "from-config", "EXTRA": "1"}
	})
	hostDir := t.TempDir()
	mem, soft, stop := 256, 128, 5
	app := ctrDef("app", "", func(c *model.ContainerDefinition) {
		c.Environment = append(c.Environment, model.KeyValuePair{Name: "MODE", Value: "def"}, model.KeyValuePair{Name: "EXTRA", Value: "def"})
		c.Command = []string{"serve"}
		c.EntryPoint = []string{"/app"}
		c.WorkingDirectory = "/srv"
		c.User = "1000"
		c.Cpu = 256
		c.Memory, c.MemoryReservation, c.StopTimeout = &mem, &soft, &stop
		c.DockerLabels = map[string]string{"team": "a", "orch.task": "spoof"}
		c.MountPoints = []model.MountPoint{{SourceVolume: "data", ContainerPath: "/data", ReadOnly: true}, {SourceVolume: "scratch", ContainerPath: "/tmp/s"}}
		c.HealthCheck = &model.HealthCheck{Command: []string{"CMD-SHELL", "curl -f localhost"}, Interval: 5}
		c.LogConfiguration = &model.LogConfiguration{LogDriver: "json-file", Options: map[string]string{"max-size": "1m"}}
	})
	task, def := newTask("node-1", app)
	def.Volumes = []model.Volume{{Name: "data", Host: &model.HostVolumeSource{SourcePath: hostDir}}, {Name: "scratch"}}
	task.Overrides = []model.ContainerOverride{{Name: "app", Command: []string{"migrate"}, Environment: []model.KeyValuePair{{Name: "MODE", Value: "override"}}}}
	cp.run(task, def)
	got := cp.waitStatus(t, task.TaskID, model.StatusRunning)
	spec, ok := rt.Spec(ctrOf(got, "app").RuntimeID)
	if !ok {
		t.Fatal("container not in the runtime")
	}
	if want := "orch-fam-app-" + task.TaskID; spec.Name != want {
		t.Errorf("name %q, want %q", spec.Name, want)
	}
	env := map[string]string{}
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{
		"AWS_ENDPOINT_URL": "http://cp:7070", "SHARED": "from-config", "EXTRA": "def", "MODE": "override",
		"ORCH_TASK_ID": task.TaskID, "ORCH_NODE": "node-1", "ORCH_CONTAINER_NAME": "app",
	} {
		if env[k] != want {
			t.Errorf("env %s=%q, want %q", k, env[k], want)
		}
	}
	for k, want := range map[string]string{
		runtime.LabelManaged: "true", runtime.LabelTask: task.TaskID, runtime.LabelContainer: "app",
		runtime.LabelFamily: "fam", runtime.LabelRevision: "1", runtime.LabelNode: "node-1", "team": "a", LabelStopTimeout: "5",
	} {
		if spec.Labels[k] != want {
			t.Errorf("label %s=%q, want %q", k, spec.Labels[k], want)
		}
	}
	if !slices.Equal(spec.Command, []string{"migrate"}) || !slices.Equal(spec.Entrypoint, []string{"/app"}) || spec.WorkingDir != "/srv" || spec.User != "1000" {
		t.Errorf("command %v entrypoint %v workdir %q user %q", spec.Command, spec.Entrypoint, spec.WorkingDir, spec.User)
	}
	if spec.CPUShares != 256 || spec.MemoryBytes != 256<<20 || spec.MemoryReservationBytes != 128<<20 || spec.StopTimeout.Seconds() != 5 {
		t.Errorf("limits cpu %d mem %d soft %d stop %v", spec.CPUShares, spec.MemoryBytes, spec.MemoryReservationBytes, spec.StopTimeout)
	}
	if len(spec.Mounts) != 2 || spec.Mounts[0] != (runtime.Mount{Source: hostDir, Target: "/data", ReadOnly: true}) || spec.Mounts[1].Target != "/tmp/s" || spec.Mounts[1].Source == "" {
		t.Errorf("mounts %+v", spec.Mounts)
	}
	if hc := spec.HealthCheck; hc == nil || hc.Interval.Seconds() != 5 || hc.Timeout.Seconds() != 5 || hc.Retries != 3 || hc.Test[0] != "CMD-SHELL" {
		t.Errorf("health check %+v", spec.HealthCheck)
	}
	if spec.LogMaxSize != "1m" || spec.LogMaxFiles != 3 {
		t.Errorf("log rotation %s × %d", spec.LogMaxSize, spec.LogMaxFiles)
	}
	if spec.PullPolicy != model.PullIfNotPresent {
		t.Errorf("pull policy %q", spec.PullPolicy)
	}
	// The scratch volume goes away with the task.
	cp.remove(task.TaskID)
	eventually(t, "containers removed", func() bool {
		l, _ := rt.List(context.Background(), map[string]string{runtime.LabelTask: task.TaskID})
		return len(l) == 0
	})
}

// A task stopped by its user was healthy until then: the runtime reading
// "unhealthy" once the checks stop must not show up as the task's health.
func TestStoppedTaskKeepsItsHealth(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   string
	}{
		{name: "healthy while running", script: "", want: model.HealthHealthy},
		{name: "never checked", script: "health=healthy_after:1h", want: model.HealthUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := newFakeCP()
			startAgent(t, newRuntime(), cp)
			task, def := newTask("node-1", ctrDef("app", tt.script, withHealthCheck))
			cp.run(task, def)
			cp.waitTask(t, task.TaskID, "RUNNING with health "+tt.want, func(tk model.Task) bool {
				return tk.LastStatus == model.StatusRunning && tk.HealthStatus == tt.want
			})
			cp.stop(task.TaskID, model.StopUserInitiated, "done")
			got := cp.waitStatus(t, task.TaskID, model.StatusStopped)
			if got.HealthStatus != tt.want || ctrOf(got, "app").HealthStatus != tt.want {
				t.Errorf("after stop: task health %s, container health %s; want %s for both",
					got.HealthStatus, ctrOf(got, "app").HealthStatus, tt.want)
			}
		})
	}
}
