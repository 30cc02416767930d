package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
	"github.com/orch-project/orch/pkg/model"
)

// The task endpoints the agent serves to its containers, as the ECS agent
// does:
//
//	GET  $ECS_CONTAINER_METADATA_URI_V4            the container's metadata
//	GET  $ECS_CONTAINER_METADATA_URI_V4/task       the task's, with its containers
//	GET  $ECS_CONTAINER_METADATA_URI_V4/stats      the container's usage
//	GET  $ECS_CONTAINER_METADATA_URI_V4/task/stats every container's usage
//	GET  $ECS_AGENT_URI/task-protection/v1/state   the task's scale-in protection
//	PUT  $ECS_AGENT_URI/task-protection/v1/state   {"ProtectionEnabled": bool, "ExpiresInMinutes": N}
//	GET  $AWS_CONTAINER_CREDENTIALS_FULL_URI       the task role's credentials (credentials.go)
//
// Each task gets its own random secret in these URLs (a capability: the
// URL is the credential), so a container can read and change only its own
// task; an unknown secret is a 404, the same as an unknown path. The
// endpoints listen on their own listener (Config.TaskEndpointListen), not
// on the logs endpoint's.

const (
	// DefaultProtectionMinutes and MaxProtectionMinutes are ECS's.
	DefaultProtectionMinutes = 120
	MaxProtectionMinutes     = 2880
)

func newEndpointSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// taskEndpointListen picks the task endpoints' listen address: containers
// under Docker reach the host through host-gateway (the bridge), which a
// loopback listener does not serve. Without a configured address the port
// is the one a previous run of this agent used, read from the label its
// containers carry (LabelEndpointPort), so the URLs adopted containers
// were given keep working after a restart; with no such container any
// free port does. reused reports that the port came from a container.
func (a *Agent) taskEndpointListen(ctx context.Context) (addr string, reused bool) {
	if a.cfg.TaskEndpointListen != "" {
		return a.cfg.TaskEndpointListen, false
	}
	host := "127.0.0.1"
	if a.rt.Name() == "docker" {
		host = "0.0.0.0"
	}
	if port := a.previousEndpointPort(ctx); port != "" {
		return net.JoinHostPort(host, port), true
	}
	return net.JoinHostPort(host, "0"), false
}

// previousEndpointPort is the task endpoint port recorded on this node's
// containers by a previous run ("" when none has one, or the runtime does
// not answer within a few seconds: then the adopted containers' URLs
// break, which the caller logs).
func (a *Agent) previousEndpointPort(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	states, err := a.rt.List(ctx, map[string]string{runtime.LabelNode: a.node})
	if err != nil {
		a.log.Warn("could not list containers to find the previous task endpoint port; using a new one (adopted containers' ECS_AGENT_URI stops working)", "err", err)
		return ""
	}
	for _, st := range states {
		if p, err := strconv.Atoi(st.Labels[LabelEndpointPort]); err == nil && p > 0 && p < 65536 {
			return strconv.Itoa(p)
		}
	}
	return ""
}

// LabelEndpointPort keeps the task endpoints' port on every container, so
// a restarted agent listens on it again (see taskEndpointListen).
const LabelEndpointPort = "orch.endpoint-port"

// taskEndpointBase is the URL containers use for addr: under Docker the
// host is host.docker.internal (the agent maps it to the host gateway).
func (a *Agent) taskEndpointBase(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	ip := net.ParseIP(host)
	switch {
	case a.cfg.TaskEndpointHost != "":
		host = a.cfg.TaskEndpointHost
	case a.rt.Name() == "docker" && (ip == nil || ip.IsLoopback() || ip.IsUnspecified()):
		host = "host.docker.internal"
	case ip != nil && ip.IsUnspecified():
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// LabelEndpointSecret keeps a task's endpoint secret on its containers, so
// a restarted agent that adopts them serves the URLs they already have.
const LabelEndpointSecret = "orch.endpoint-secret"

// adoptSecret makes an adopted container's secret the task's.
func (r *taskRunner) adoptSecret(secret string) {
	if len(secret) != 32 {
		return
	}
	if _, err := hex.DecodeString(secret); err != nil {
		return
	}
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	if r.secret == secret {
		return
	}
	if r.a.endpoints[r.secret] == r {
		delete(r.a.endpoints, r.secret)
	}
	r.secret = secret
	r.a.endpoints[secret] = r
}

func (r *taskRunner) endpointSecret() string {
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	return r.secret
}

// endpointEnv are the variables that point a container at its endpoints.
func (r *taskRunner) endpointEnv(container string) map[string]string {
	r.a.mu.Lock()
	base, secret := r.a.endpointBase, r.secret
	r.a.mu.Unlock()
	if base == "" {
		return nil
	}
	return map[string]string{
		"ECS_CONTAINER_METADATA_URI_V4": base + "/v4/" + secret + "/" + container,
		"ECS_AGENT_URI":                 base + "/api/" + secret,
	}
}

func (a *Agent) taskEndpointHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v4/{secret}/{container}", a.withTask(a.containerMetadata))
	mux.HandleFunc("GET /v4/{secret}/{container}/task", a.withTask(a.taskMetadata))
	mux.HandleFunc("GET /v4/{secret}/{container}/stats", a.withTask(a.containerStats))
	mux.HandleFunc("GET /v4/{secret}/{container}/task/stats", a.withTask(a.taskStats))
	mux.HandleFunc("GET /api/{secret}/task-protection/v1/state", a.withTask(a.getProtection))
	mux.HandleFunc("PUT /api/{secret}/task-protection/v1/state", a.withTask(a.putProtection))
	mux.HandleFunc("GET /v2/credentials/{secret}", a.withTask(a.taskCredentials))
	return mux
}

func (a *Agent) withTask(h func(http.ResponseWriter, *http.Request, *taskRunner)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		tr := a.endpoints[r.PathValue("secret")]
		a.mu.Unlock()
		if tr == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r, tr)
	}
}

func writeJSONDoc(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// containers lists the task's containers from the runtime (safe from any
// goroutine, unlike the runner's own state).
func (a *Agent) containers(ctx context.Context, tr *taskRunner) []runtime.State {
	states, err := a.rt.List(ctx, map[string]string{runtime.LabelTask: tr.id, runtime.LabelNode: a.node})
	if err != nil {
		return nil
	}
	return states
}

func (tr *taskRunner) snapshot() (model.Task, model.TaskDefinition) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.latest.Task, tr.latest.TaskDefinition
}

func ecsStatus(s string) string {
	switch s {
	case runtime.StatusRunning:
		return "RUNNING"
	case runtime.StatusExited:
		return "STOPPED"
	}
	return "CREATED"
}

func containerDoc(st runtime.State, t model.Task, def model.TaskDefinition) map[string]any {
	name := st.Labels[runtime.LabelContainer]
	labels := map[string]string{}
	for k, v := range st.Labels {
		if k != LabelEndpointSecret {
			labels[k] = v
		}
	}
	doc := map[string]any{
		"DockerId": st.ID, "Name": name, "DockerName": strings.TrimPrefix(st.Name, "/"), "Image": st.Image,
		"Labels": labels, "DesiredStatus": t.DesiredStatus, "KnownStatus": ecsStatus(st.Status), "Type": "NORMAL",
		"ContainerARN": t.TaskArn + "/" + name, "Networks": []map[string]any{{"NetworkMode": "bridge"}},
	}
	if st.Status == runtime.StatusExited {
		doc["ExitCode"] = st.ExitCode
	}
	if !st.StartedAt.IsZero() {
		doc["StartedAt"] = st.StartedAt.UTC().Format(time.RFC3339Nano)
	}
	for _, c := range def.ContainerDefinitions {
		if c.Name == name {
			limits := map[string]any{"CPU": c.Cpu}
			if c.Memory != nil {
				limits["Memory"] = *c.Memory
			}
			doc["Limits"] = limits
		}
	}
	return doc
}

func (a *Agent) containerMetadata(w http.ResponseWriter, r *http.Request, tr *taskRunner) {
	t, def := tr.snapshot()
	for _, st := range a.containers(r.Context(), tr) {
		if st.Labels[runtime.LabelContainer] == r.PathValue("container") {
			writeJSONDoc(w, http.StatusOK, containerDoc(st, t, def))
			return
		}
	}
	http.NotFound(w, r)
}

func (a *Agent) taskMetadata(w http.ResponseWriter, r *http.Request, tr *taskRunner) {
	t, def := tr.snapshot()
	cs := []map[string]any{}
	for _, st := range a.containers(r.Context(), tr) {
		cs = append(cs, containerDoc(st, t, def))
	}
	doc := map[string]any{
		"Cluster": "default", "TaskARN": t.TaskArn, "Family": def.Family, "Revision": itoa(def.Revision),
		"DesiredStatus": t.DesiredStatus, "KnownStatus": t.LastStatus, "Containers": cs, "LaunchType": "EC2",
		"AvailabilityZone": "", "ServiceName": model.ServiceOf(&t),
	}
	limits := map[string]any{}
	if n, err := model.ParseTaskCPU(def.Cpu); err == nil && def.Cpu != "" {
		limits["CPU"] = float64(n) / 1024
	}
	if n, err := model.ParseTaskMemory(def.Memory); err == nil && def.Memory != "" {
		limits["Memory"] = n
	}
	doc["Limits"] = limits
	if t.PullStartedAt != nil {
		doc["PullStartedAt"] = t.PullStartedAt.UTC().Format(time.RFC3339Nano)
	}
	writeJSONDoc(w, http.StatusOK, doc)
}

// statsDoc is a container's usage in the parts of Docker's stats JSON that
// Orch's runtime measures (read time, memory usage and limit, CPU percent).
func (a *Agent) statsDoc(ctx context.Context, st runtime.State) map[string]any {
	doc := map[string]any{"read": time.Now().UTC().Format(time.RFC3339Nano), "id": st.ID, "name": strings.TrimPrefix(st.Name, "/")}
	if st.Status != runtime.StatusRunning {
		return doc
	}
	s, err := a.rt.Stats(ctx, st.ID)
	if err != nil {
		return doc
	}
	doc["memory_stats"] = map[string]any{"usage": s.MemoryBytes}
	doc["cpu_stats"] = map[string]any{"cpu_percent": s.CPUPercent}
	return doc
}

func (a *Agent) containerStats(w http.ResponseWriter, r *http.Request, tr *taskRunner) {
	for _, st := range a.containers(r.Context(), tr) {
		if st.Labels[runtime.LabelContainer] == r.PathValue("container") {
			writeJSONDoc(w, http.StatusOK, a.statsDoc(r.Context(), st))
			return
		}
	}
	http.NotFound(w, r)
}

func (a *Agent) taskStats(w http.ResponseWriter, r *http.Request, tr *taskRunner) {
	out := map[string]any{}
	for _, st := range a.containers(r.Context(), tr) {
		out[st.ID] = a.statsDoc(r.Context(), st)
	}
	writeJSONDoc(w, http.StatusOK, out)
}

// protectionDoc is the stock agent's answer shape.
func protectionDoc(tr *taskRunner, p *model.ScaleInProtection) map[string]any {
	t, _ := tr.snapshot()
	doc := map[string]any{"ProtectionEnabled": false, "TaskArn": t.TaskArn}
	if p != nil && p.Enabled && p.ExpiresAt != nil && time.Now().Before(*p.ExpiresAt) {
		doc["ProtectionEnabled"] = true
		doc["ExpirationDate"] = p.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return map[string]any{"protection": doc}
}

func protectionError(w http.ResponseWriter, tr *taskRunner, status int, code, msg string) {
	t, _ := tr.snapshot()
	writeJSONDoc(w, status, map[string]any{"error": map[string]any{"Arn": t.TaskArn, "Code": code, "Message": msg}})
}

func (a *Agent) getProtection(w http.ResponseWriter, r *http.Request, tr *taskRunner) {
	tr.mu.Lock()
	p := tr.protection
	tr.mu.Unlock()
	writeJSONDoc(w, http.StatusOK, protectionDoc(tr, p))
}

// putProtection records the task's protection and answers once the control
// plane has it, so a task that was told it is protected is never stopped
// by a scale-in decided afterwards.
func (a *Agent) putProtection(w http.ResponseWriter, r *http.Request, tr *taskRunner) {
	var in struct {
		ProtectionEnabled *bool
		ExpiresInMinutes  *int
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		protectionError(w, tr, http.StatusBadRequest, "InvalidParameterException", "the body must be JSON like {\"ProtectionEnabled\": true, \"ExpiresInMinutes\": 60}: "+err.Error())
		return
	}
	if in.ProtectionEnabled == nil {
		protectionError(w, tr, http.StatusBadRequest, "InvalidParameterException", "ProtectionEnabled is required (true or false)")
		return
	}
	mins := DefaultProtectionMinutes
	if in.ExpiresInMinutes != nil {
		mins = *in.ExpiresInMinutes
	}
	if mins < 1 || mins > MaxProtectionMinutes {
		protectionError(w, tr, http.StatusBadRequest, "InvalidParameterException", "ExpiresInMinutes must be between 1 and 2880")
		return
	}
	t, _ := tr.snapshot()
	if *in.ProtectionEnabled && t.DesiredStatus == model.StatusStopped {
		protectionError(w, tr, http.StatusConflict, "TaskStopping", "the task is already being stopped; protection can no longer be enabled")
		return
	}
	p := &model.ScaleInProtection{Enabled: *in.ProtectionEnabled}
	if p.Enabled {
		until := time.Now().Add(time.Duration(mins) * time.Minute).UTC().Truncate(time.Second)
		p.ExpiresAt = &until
	}
	tr.mu.Lock()
	tr.protection = p
	tr.protVer++
	ver := tr.protVer
	tr.mu.Unlock()
	select {
	case tr.kick <- struct{}{}:
	default:
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	for {
		tr.mu.Lock()
		sent := tr.protSent >= ver
		tr.mu.Unlock()
		if sent {
			break
		}
		select {
		case <-ctx.Done():
			protectionError(w, tr, http.StatusServiceUnavailable, "ServerException", "the agent could not queue the protection change; retry")
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := a.rep.flushed(ctx); err != nil {
		protectionError(w, tr, http.StatusServiceUnavailable, "ServerException", "the control plane did not acknowledge the protection change in time; retry")
		return
	}
	writeJSONDoc(w, http.StatusOK, protectionDoc(tr, p))
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func protectionOf(t model.Task) *model.ScaleInProtection {
	if t.ProtectedUntil == nil {
		return nil
	}
	until := *t.ProtectedUntil
	return &model.ScaleInProtection{Enabled: true, ExpiresAt: &until}
}
