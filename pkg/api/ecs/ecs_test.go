package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// fakes: in-memory backends, enough to exercise the adapter's mapping.

type fakeTaskDefs struct{ tds []*model.TaskDefinition }

func (f *fakeTaskDefs) Register(_ context.Context, td *model.TaskDefinition) (*model.TaskDefinition, bool, error) {
	if err := td.Validate(); err != nil {
		return nil, false, err
	}
	rev := 1
	for _, o := range f.tds {
		if o.Family == td.Family {
			rev++
		}
	}
	c := *td
	now := time.Unix(1700000000, 123e6)
	c.Revision, c.Status, c.RegisteredAt = rev, "ACTIVE", &now
	c.TaskDefinitionArn = c.Arn()
	f.tds = append(f.tds, &c)
	return &c, true, nil
}

func (f *fakeTaskDefs) Get(_ context.Context, ref string) (*model.TaskDefinition, error) {
	fam, rev, err := model.ParseRef(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", model.ErrInvalid, err)
	}
	var best *model.TaskDefinition
	for _, td := range f.tds {
		if td.Family == fam && (rev == 0 || td.Revision == rev) {
			best = td
		}
	}
	if best == nil {
		return nil, fmt.Errorf("task definition %s: %w", ref, model.ErrNotFound)
	}
	return best, nil
}

func (f *fakeTaskDefs) List(context.Context, string) ([]*model.TaskDefinition, error) {
	return f.tds, nil
}

func (f *fakeTaskDefs) Deregister(ctx context.Context, ref string) ([]*model.TaskDefinition, error) {
	td, err := f.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	td.Status = "INACTIVE"
	return []*model.TaskDefinition{td}, nil
}

func (f *fakeTaskDefs) UpdateTags(ctx context.Context, ref string, add []model.Tag, remove []string) (*model.TaskDefinition, error) {
	td, err := f.Get(ctx, ref)
	if err == nil {
		td.Tags = model.MergeTags(td.Tags, add, remove)
	}
	return td, err
}

func (f *fakeTaskDefs) Delete(ctx context.Context, ref string) (*model.TaskDefinition, error) {
	return f.Get(ctx, ref)
}

type fakeTasks struct{ tasks []*model.Task }

func (f *fakeTasks) Run(_ context.Context, in model.RunTaskInput) ([]*model.Task, error) {
	if in.TaskDefinition == "missing" {
		return nil, fmt.Errorf("task definition missing: %w", model.ErrNotFound)
	}
	n := max(in.Count, 1)
	var out []*model.Task
	for i := range n {
		t := &model.Task{TaskID: fmt.Sprintf("%032d", len(f.tasks)+i), Family: "web", Revision: 1, DesiredStatus: "RUNNING",
			LastStatus: "PENDING", CreatedAt: time.Unix(1700000000, 0), Tags: in.Tags, StartedBy: in.StartedBy}
		out = append(out, t)
	}
	f.tasks = append(f.tasks, out...)
	return out, nil
}

func (f *fakeTasks) Stop(ctx context.Context, id, code, reason string) (*model.Task, error) {
	t, err := f.Get(ctx, id)
	if err == nil {
		t.DesiredStatus, t.StopCode, t.StoppedReason = "STOPPED", code, reason
	}
	return t, err
}

func (f *fakeTasks) Get(_ context.Context, id string) (*model.Task, error) {
	for _, t := range f.tasks {
		if t.TaskID == id {
			return t, nil
		}
	}
	return nil, fmt.Errorf("task %s: %w", id, model.ErrNotFound)
}

func (f *fakeTasks) List(flt model.TaskFilter) []*model.Task {
	var out []*model.Task
	for _, t := range f.tasks {
		if flt.Match(t) {
			out = append(out, t)
		}
	}
	return out
}

func (f *fakeTasks) UpdateTags(ctx context.Context, id string, add []model.Tag, remove []string) (*model.Task, error) {
	t, err := f.Get(ctx, id)
	if err == nil {
		t.Tags = model.MergeTags(t.Tags, add, remove)
	}
	return t, err
}

type fakeServices struct{ svcs map[string]*model.Service }

func (f *fakeServices) Apply(_ context.Context, in *model.Service) (*model.Service, string, error) {
	if err := in.Validate(); err != nil {
		return nil, "", err
	}
	c := *in
	c.Status = model.ServiceActive
	c.StartDeployment(time.Unix(1700000000, 0), in.TaskDefinition, "arn:td/"+in.TaskDefinition, false, c.Desired())
	f.svcs[in.ServiceName] = &c
	return &c, "created", nil
}

func (f *fakeServices) Create(ctx context.Context, in *model.Service) (*model.Service, error) {
	if _, ok := f.svcs[in.ServiceName]; ok {
		return nil, fmt.Errorf("%w: Creation of service was not idempotent: service %s exists", model.ErrConflict, in.ServiceName)
	}
	s, _, err := f.Apply(ctx, in)
	return s, err
}

func (f *fakeServices) Deleted(_ context.Context, name string) (*model.Service, error) {
	return nil, fmt.Errorf("deleted service %s: %w", name, model.ErrNotFound)
}

func (f *fakeServices) Delete(ctx context.Context, name string) (*model.Service, error) {
	s, _, err := f.Get(ctx, name)
	if err == nil {
		s.Status = model.ServiceDraining
	}
	return s, err
}

func (f *fakeServices) Get(_ context.Context, name string) (*model.Service, []*model.Task, error) {
	if s, ok := f.svcs[name]; ok {
		return s, nil, nil
	}
	return nil, nil, fmt.Errorf("service %s: %w", name, model.ErrNotFound)
}

func (f *fakeServices) List(context.Context) ([]*model.Service, error) {
	var out []*model.Service
	for _, s := range f.svcs {
		out = append(out, s)
	}
	return out, nil
}

func (f *fakeServices) ForceNewDeployment(ctx context.Context, name string) (*model.Service, error) {
	s, _, err := f.Get(ctx, name)
	return s, err
}

func (f *fakeServices) UpdateTags(ctx context.Context, name string, add []model.Tag, remove []string) (*model.Service, error) {
	s, _, err := f.Get(ctx, name)
	if err == nil {
		s.Tags = model.MergeTags(s.Tags, add, remove)
	}
	return s, err
}

type fakeNodes struct{ nodes map[string]*model.Node }

func (f *fakeNodes) List() []model.NodeView {
	var out []model.NodeView
	for _, n := range f.nodes {
		out = append(out, model.NodeView{Node: *n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (f *fakeNodes) Get(name string) (*model.NodeView, error) {
	if n, ok := f.nodes[name]; ok {
		return &model.NodeView{Node: *n}, nil
	}
	return nil, fmt.Errorf("node %s: %w", name, model.ErrNotFound)
}

func (f *fakeNodes) SetStatus(_ context.Context, name, status string) (*model.Node, error) {
	n, ok := f.nodes[name]
	if !ok {
		return nil, fmt.Errorf("node %s: %w", name, model.ErrNotFound)
	}
	n.Status = status
	return n, nil
}

func (f *fakeNodes) PutAttributes(_ context.Context, name string, attrs map[string]*string) (*model.Node, error) {
	n := f.nodes[name]
	for k, v := range attrs {
		if v == nil {
			delete(n.Attributes, k)
		} else {
			n.Attributes[k] = *v
		}
	}
	return n, nil
}

func (f *fakeNodes) UpdateTags(_ context.Context, name string, add []model.Tag, remove []string) (*model.Node, error) {
	f.nodes[name].Tags = model.MergeTags(f.nodes[name].Tags, add, remove)
	return f.nodes[name], nil
}

type fakeCluster struct{ tags []model.Tag }

func (f *fakeCluster) Tags(context.Context) ([]model.Tag, error) { return f.tags, nil }

func (f *fakeCluster) UpdateTags(_ context.Context, add []model.Tag, remove []string) ([]model.Tag, error) {
	f.tags = model.MergeTags(f.tags, add, remove)
	return f.tags, nil
}

func newFakes() Backends {
	return Backends{
		TaskDefinitions: &fakeTaskDefs{}, Tasks: &fakeTasks{}, Services: &fakeServices{svcs: map[string]*model.Service{}},
		Nodes: &fakeNodes{nodes: map[string]*model.Node{
			"n1": {Name: "n1", Status: "ACTIVE", Capacity: model.Resources{CPU: 2048, MemoryMiB: 4096}, Attributes: map[string]string{"os": "linux"}},
			"n2": {Name: "n2", Status: "ACTIVE", Attributes: map[string]string{}},
		}},
		Cluster: &fakeCluster{},
	}
}

// call sends one action to a handler and decodes the answer.
func call(t *testing.T, h http.Handler, action, body string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("X-Amz-Target", TargetPrefix+action)
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: answer is not JSON: %s", action, w.Body)
	}
	return w.Code, out
}

func TestErrorsAsECSCodes(t *testing.T) {
	h := NewHandler(newFakes(), nil, nil)
	call(t, h, "CreateService", `{"serviceName":"web","taskDefinition":"web:1"}`)
	tests := []struct {
		action, body, code, inMessage string
	}{
		{"Nope", `{}`, "UnknownOperationException", "Nope"},
		{"ListTasks", `{"maxResults":"ten"}`, "SerializationException", "maxResults"},
		{"ListTasks", `not json`, "SerializationException", "not valid JSON"},
		{"ListTasks", `{"cluster":"prod"}`, "ClusterNotFoundException", "prod"},
		{"ListTasks", `{"maxResults":500}`, "InvalidParameterException", "maxResults"},
		{"ListTasks", `{"nextToken":"zzz"}`, "InvalidParameterException", "nextToken"},
		{"RegisterTaskDefinition", `{"family":"web","containerDefinitions":[{"name":"a","image":"x","memory":-1}]}`, "InvalidParameterException", "containerDefinitions[0].memory"},
		{"RegisterTaskDefinition", `{"family":"web","containerDefinitions":[{"name":"a","image":"x","memroy":1}]}`, "InvalidParameterException", "memroy"},
		{"DescribeTaskDefinition", `{"taskDefinition":"ghost:1"}`, "ClientException", "ghost:1"},
		{"DescribeTaskDefinition", `{}`, "InvalidParameterException", "taskDefinition is required"},
		{"DeregisterTaskDefinition", `{"taskDefinition":"web"}`, "InvalidParameterException", "family:revision"},
		{"RunTask", `{"taskDefinition":"missing"}`, "ClientException", "missing"},
		{"RunTask", `{"taskDefinition":"web","count":0}`, "InvalidParameterException", "count"},
		{"StopTask", `{"task":"ghost"}`, "InvalidParameterException", "not found"},
		{"UpdateService", `{"service":"ghost"}`, "ServiceNotFoundException", "ghost"},
		{"UpdateService", `{"service":"web","desiredCount":-1}`, "InvalidParameterException", "desiredCount"},
		{"CreateService", `{"serviceName":"web","taskDefinition":"web:1"}`, "InvalidParameterException", "not idempotent"},
		{"CreateService", `{"serviceName":"x","taskDefinition":"web","schedulingStrategy":"DAEMON"}`, "InvalidParameterException", "DAEMON"},
		{"DeleteService", `{"service":"web"}`, "InvalidParameterException", "scaled above 0"},
		{"UpdateContainerInstancesState", `{"containerInstances":["n1"],"status":"GONE"}`, "InvalidParameterException", "ACTIVE or DRAINING"},
		{"PutAttributes", `{"attributes":[{"name":"a","value":"b","targetId":"ghost"}]}`, "TargetNotFoundException", "ghost"},
		{"ListAttributes", `{}`, "InvalidParameterException", "targetType"},
		{"TagResource", `{"resourceArn":"arn:aws:ecs:us-east-1:000000000000:service/default/ghost","tags":[{"key":"a","value":"b"}]}`, "ResourceNotFoundException", "ghost"},
		{"TagResource", `{"resourceArn":"nonsense","tags":[{"key":"a","value":"b"}]}`, "InvalidParameterException", "not an ECS ARN"},
		{"TagResource", `{"resourceArn":"arn:aws:ecs:us-east-1:000000000000:service/default/web","tags":[{"key":"","value":"b"}]}`, "InvalidParameterException", "tags[0].key"},
	}
	for _, tc := range tests {
		t.Run(tc.action+"/"+tc.code, func(t *testing.T) {
			status, out := call(t, h, tc.action, tc.body)
			if status != 400 || out["__type"] != tc.code || !strings.Contains(fmt.Sprint(out["message"]), tc.inMessage) {
				t.Fatalf("%s %s: %d %v\nwant 400 %s mentioning %q", tc.action, tc.body, status, out, tc.code, tc.inMessage)
			}
		})
	}
}

func TestDomainErrorMapping(t *testing.T) {
	tests := []struct {
		err    error
		code   string
		status int
	}{
		{model.FieldErrors{{Path: "desiredCount", Message: "bad"}}, "InvalidParameterException", 400},
		{fmt.Errorf("x: %w", model.ErrNotFound), "ClientException", 400},
		{fmt.Errorf("%w: busy", model.ErrConflict), "InvalidParameterException", 400},
		{model.ErrNotLeader, "ServerException", 503},
		{context.DeadlineExceeded, "ServerException", 503},
		{errors.New("disk on fire"), "ServerException", 500},
	}
	for _, tc := range tests {
		e := toWire(tc.err)
		if e.Code != tc.code || e.HTTPStatus() != tc.status {
			t.Errorf("toWire(%v) = %s %d, want %s %d", tc.err, e.Code, e.HTTPStatus(), tc.code, tc.status)
		}
	}
}

func TestRegisterReportsIgnoredFieldsAndEpochTimes(t *testing.T) {
	h := NewHandler(newFakes(), nil, nil)
	status, out := call(t, h, "RegisterTaskDefinition", `{"family":"web","executionRoleArn":"arn:aws:iam::1:role/r",
		"containerDefinitions":[{"name":"a","image":"x","memory":64,"secrets":[{"name":"S","valueFrom":"v"}]}],"tags":[{"key":"k","value":"v"}]}`)
	if status != 200 {
		t.Fatalf("register: %d %v", status, out)
	}
	td := out["taskDefinition"].(map[string]any)
	if got := fmt.Sprint(td["ignoredFields"]); got != "[executionRoleArn containerDefinitions[0].secrets]" {
		t.Errorf("ignoredFields = %s, want executionRoleArn and containerDefinitions[0].secrets", got)
	}
	if td["registeredAt"] != 1700000000.123 {
		t.Errorf("registeredAt = %v, want epoch seconds 1700000000.123", td["registeredAt"])
	}
	if td["taskDefinitionArn"] != "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1" || fmt.Sprint(out["tags"]) != "[map[key:k value:v]]" {
		t.Errorf("arn %v tags %v", td["taskDefinitionArn"], out["tags"])
	}
}

func TestServiceShapeListsLiveDeploymentsNewestFirst(t *testing.T) {
	s := &model.Service{ServiceName: "web", Status: model.ServiceActive}
	t0 := time.Unix(1700000000, 0)
	s.StartDeployment(t0, "web:1", "arn:web:1", false, 2)
	s.Deployments[0].RolloutState = model.RolloutCompleted
	s.StartDeployment(t0.Add(time.Minute), "web:2", "arn:web:2", false, 2)
	s.StartDeployment(t0.Add(2*time.Minute), "web:1", "arn:web:1b", false, 2) // web:1's old deployment goes INACTIVE
	s.AddEvent(t0, "first")
	s.AddEvent(t0.Add(time.Second), "second")
	o := serviceShape(s)
	if len(o.Deployments) != 2 || o.Deployments[0].Status != "PRIMARY" || o.Deployments[0].TaskDefinition != "arn:web:1b" || o.Deployments[1].TaskDefinition != "arn:web:2" {
		t.Fatalf("deployments = %+v, want PRIMARY arn:web:1b then ACTIVE arn:web:2 (no INACTIVE)", o.Deployments)
	}
	if c := o.DeploymentConfiguration; *c.MinimumHealthyPercent != 100 || *c.MaximumPercent != 200 || c.DeploymentCircuitBreaker.Enable {
		t.Fatalf("deploymentConfiguration = %+v, want ECS's defaults 100/200, no circuit breaker", c)
	}
	if o.TaskDefinition != "arn:web:1b" || o.Events[0].Message != "second" {
		t.Fatalf("taskDefinition %s, first event %q; want the primary's ARN and the newest event first", o.TaskDefinition, o.Events[0].Message)
	}
}

func TestPage(t *testing.T) {
	keys := []string{"a", "b", "c", "d", "e"}
	var got []string
	token := ""
	for i := 0; ; i++ {
		pg, next, err := page("L", keys, false, token, 2, 100, 100)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pg...)
		if next == "" {
			break
		}
		if i > 5 {
			t.Fatal("pagination does not end")
		}
		token = next
	}
	if strings.Join(got, "") != "abcde" {
		t.Fatalf("pages gave %v, want a..e once each", got)
	}
	// A key deleted between pages: the next page resumes after it.
	_, next, _ := page("L", keys, false, "", 2, 100, 100)
	pg, _, _ := page("L", []string{"a", "c", "d"}, false, next, 2, 100, 100)
	if strings.Join(pg, "") != "cd" {
		t.Fatalf("after b was deleted: %v, want c d", pg)
	}
	if _, _, err := page("Other", keys, false, next, 2, 100, 100); err == nil {
		t.Fatal("a token of another list was accepted")
	}
	if _, _, err := page("L", keys, false, "", 101, 100, 100); err == nil {
		t.Fatal("maxResults 101 was accepted")
	}
	pg, _, _ = page("L", []string{"e", "d", "c"}, true, "", 10, 100, 100)
	if strings.Join(pg, "") != "edc" {
		t.Fatalf("desc: %v", pg)
	}
}

func TestAttributesAndDrain(t *testing.T) {
	b := newFakes()
	h := NewHandler(b, nil, nil)
	if st, out := call(t, h, "PutAttributes", `{"attributes":[{"name":"disk","value":"ssd","targetId":"arn:aws:ecs:us-east-1:000000000000:container-instance/default/n2"}]}`); st != 200 {
		t.Fatalf("PutAttributes: %d %v", st, out)
	}
	_, out := call(t, h, "ListAttributes", `{"targetType":"container-instance","attributeName":"disk"}`)
	if got := fmt.Sprint(out["attributes"]); !strings.Contains(got, "value:ssd") || !strings.Contains(got, "container-instance/default/n2") {
		t.Fatalf("ListAttributes = %s", got)
	}
	_, out = call(t, h, "UpdateContainerInstancesState", `{"containerInstances":["n1","ghost"],"status":"DRAINING"}`)
	ci := out["containerInstances"].([]any)[0].(map[string]any)
	if ci["status"] != "DRAINING" || fmt.Sprint(out["failures"]) != "[map[arn:ghost reason:MISSING]]" {
		t.Fatalf("UpdateContainerInstancesState = %v", out)
	}
	res := fmt.Sprint(ci["registeredResources"])
	if !strings.Contains(res, "name:CPU") || !strings.Contains(res, "integerValue:2048") {
		t.Fatalf("registeredResources = %s", res)
	}
}

// FuzzActions: whatever the body, no action panics or answers a client's
// bytes with a 5xx.
func FuzzActions(f *testing.F) {
	for name := range actions {
		f.Add(name, `{}`)
	}
	f.Add("RunTask", `{"taskDefinition":"web","count":3,"overrides":{"containerOverrides":[{"name":"a"}]}}`)
	f.Add("CreateService", `{"serviceName":"s","taskDefinition":"web:1","deploymentConfiguration":{"maximumPercent":50}}`)
	f.Add("PutAttributes", `{"attributes":[{"name":"a","targetId":"n1"}]}`)
	f.Add("TagResource", `{"resourceArn":"arn:aws:ecs:us-east-1:000000000000:task-definition/web:1","tags":[{"key":"a"}]}`)
	f.Fuzz(func(t *testing.T, action, body string) {
		h := NewHandler(newFakes(), nil, nil)
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", TargetPrefix+action)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", action, body, w.Code, w.Body)
		}
	})
}

func TestForcedDeploymentListsTheReplacedOneUntilDone(t *testing.T) {
	s := &model.Service{ServiceName: "web", Status: model.ServiceActive}
	t0 := time.Unix(1700000000, 0)
	s.StartDeployment(t0, "web:1", "arn:web:1", false, 2)
	s.Deployments[0].RolloutState = model.RolloutCompleted
	p := s.StartDeployment(t0.Add(time.Minute), "web:1", "arn:web:1", false, 2)
	p.ReplaceTasks = []string{"a", "b"}
	if o := serviceShape(s); len(o.Deployments) != 2 || o.Deployments[1].Status != "ACTIVE" {
		t.Fatalf("while replacing: %+v, want the PRIMARY and the replaced one ACTIVE", o.Deployments)
	}
	s.Primary().ReplaceTasks = nil
	if o := serviceShape(s); len(o.Deployments) != 1 {
		t.Fatalf("after replacing: %+v, want the PRIMARY only", o.Deployments)
	}
}

func TestListContainerInstancesFilter(t *testing.T) {
	h := NewHandler(newFakes(), nil, nil)
	tests := []struct{ filter, want string }{
		{"attribute:os == linux", "[arn:aws:ecs:us-east-1:000000000000:container-instance/default/n1]"},
		{"attribute:ecs.os-type == linux", "[arn:aws:ecs:us-east-1:000000000000:container-instance/default/n1]"},
		{"attribute:os !exists", "[arn:aws:ecs:us-east-1:000000000000:container-instance/default/n2]"},
	}
	for _, tc := range tests {
		st, out := call(t, h, "ListContainerInstances", fmt.Sprintf(`{"filter":%q}`, tc.filter))
		if st != 200 || fmt.Sprint(out["containerInstanceArns"]) != tc.want {
			t.Errorf("filter %q: %d %v, want %s", tc.filter, st, out, tc.want)
		}
	}
	if st, out := call(t, h, "ListContainerInstances", `{"filter":"attribute:os =="}`); st != 400 || out["__type"] != "InvalidParameterException" {
		t.Errorf("a malformed filter: %d %v, want InvalidParameterException", st, out)
	}
}
