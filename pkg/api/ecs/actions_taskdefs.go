package ecs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/orch-project/orch/pkg/manifest"
	"github.com/orch-project/orch/pkg/model"
)

// The request bodies of RegisterTaskDefinition and CreateService are the
// documents manifests hold, so they are read by the manifest kinds: the
// same strict decoding, the same list of ECS fields Orch accepts without
// acting on them (reported in ignoredFields), the same validation with
// field paths. Implicit: the request has no kind field.
var (
	taskDefDecoder = manifest.NewDecoder(manifest.Kind{Name: manifest.KindTaskDefinition,
		Decode: manifest.TaskDefinitionKind.Decode, Implicit: func(*manifest.Body) bool { return true }})
	serviceDecoder = manifest.NewDecoder(manifest.Kind{Name: manifest.KindService,
		Decode: manifest.ServiceKind.Decode, Implicit: func(*manifest.Body) bool { return true }})
)

// decodeDocument reads one request body with a manifest decoder; its
// errors (line:column and field path each) are InvalidParameterException
// ("request:1:57: containerDefinitions[0].memory: ...").
func decodeDocument(d *manifest.Decoder, action string, body []byte) (any, error) {
	docs, err := d.Parse("request", body)
	if err != nil {
		var es manifest.Errors
		if errors.As(err, &es) {
			msgs := make([]string, 0, len(es))
			for _, e := range es {
				msgs = append(msgs, e.Error())
			}
			return nil, invalidParam("%s: %s", action, strings.Join(msgs, "; "))
		}
		return nil, invalidParam("%s: %v", action, err)
	}
	if len(docs) != 1 {
		return nil, ecsErr(codeSerialization, "%s: the request must be one JSON object", action)
	}
	return docs[0].Object, nil
}

func registerTaskDefinition(ctx context.Context, b Backends, body []byte) (any, error) {
	obj, err := decodeDocument(taskDefDecoder, "RegisterTaskDefinition", body)
	if err != nil {
		return nil, err
	}
	td, _, err := b.TaskDefinitions.Register(ctx, obj.(*model.TaskDefinition))
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskDefinition": taskDefShape(td), "tags": nonNilTags(td.Tags)}, nil
}

func nonNilTags(t []model.Tag) []model.Tag {
	if t == nil {
		return []model.Tag{}
	}
	return t
}

// getTaskDef reads a task definition, ECS's ClientException when missing.
func getTaskDef(ctx context.Context, b Backends, ref string) (*model.TaskDefinition, error) {
	if ref == "" {
		return nil, required("taskDefinition")
	}
	td, err := b.TaskDefinitions.Get(ctx, ref)
	if errors.Is(err, model.ErrNotFound) {
		return nil, clientErr("Unable to describe task definition %s: it is not registered.", ref)
	}
	return td, err
}

type describeTaskDefinitionIn struct {
	TaskDefinition string   `json:"taskDefinition"`
	Include        []string `json:"include"`
}

func describeTaskDefinition(ctx context.Context, b Backends, in *describeTaskDefinitionIn) (any, error) {
	td, err := getTaskDef(ctx, b, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"taskDefinition": taskDefShape(td)}
	if includes(in.Include, "TAGS") {
		out["tags"] = nonNilTags(td.Tags)
	}
	return out, nil
}

func includes(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

type deregisterTaskDefinitionIn struct {
	TaskDefinition string `json:"taskDefinition"`
}

func deregisterTaskDefinition(ctx context.Context, b Backends, in *deregisterTaskDefinitionIn) (any, error) {
	if _, rev, err := model.ParseRef(in.TaskDefinition); err != nil || rev == 0 {
		return nil, invalidParam("taskDefinition %q: give family:revision or a task definition ARN (a whole family cannot be deregistered at once).", in.TaskDefinition)
	}
	if _, err := getTaskDef(ctx, b, in.TaskDefinition); err != nil {
		return nil, err
	}
	tds, err := b.TaskDefinitions.Deregister(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskDefinition": taskDefShape(tds[0])}, nil
}

type deleteTaskDefinitionsIn struct {
	TaskDefinitions []string `json:"taskDefinitions"`
}

func deleteTaskDefinitions(ctx context.Context, b Backends, in *deleteTaskDefinitionsIn) (any, error) {
	if len(in.TaskDefinitions) == 0 || len(in.TaskDefinitions) > 10 {
		return nil, invalidParam("taskDefinitions must name 1 to 10 task definitions (family:revision or ARN).")
	}
	out := []*taskDefOut{}
	failures := []failure{}
	for _, ref := range in.TaskDefinitions {
		if err := checkUnused(b, ref); err != nil {
			failures = append(failures, failure{Arn: ref, Reason: "TASK_DEFINITION_IN_USE", Detail: err.Error()})
			continue
		}
		td, err := b.TaskDefinitions.Delete(ctx, ref)
		if err != nil {
			e := toWire(err)
			if e.HTTPStatus() >= 500 {
				return nil, err
			}
			failures = append(failures, failure{Arn: ref, Reason: e.Code, Detail: e.Message})
			continue
		}
		td.Status = "DELETE_IN_PROGRESS"
		out = append(out, taskDefShape(td))
	}
	return map[string]any{"taskDefinitions": out, "failures": failures}, nil
}

// checkUnused refuses to delete a revision a task that has not stopped
// still runs (its agent may still need it).
func checkUnused(b Backends, ref string) error {
	family, rev, err := model.ParseRef(ref)
	if err != nil || rev == 0 {
		return nil // Delete reports it
	}
	for _, t := range b.Tasks.List(model.TaskFilter{Family: family}) {
		if t.Revision == rev && !t.IsStopped() {
			return fmt.Errorf("task %s still runs %s:%d; stop it first", t.TaskID, family, rev)
		}
	}
	return nil
}

type listTaskDefinitionsIn struct {
	FamilyPrefix string `json:"familyPrefix"`
	Status       string `json:"status"`
	Sort         string `json:"sort"`
	MaxResults   int    `json:"maxResults"`
	NextToken    string `json:"nextToken"`
}

func listTaskDefinitions(ctx context.Context, b Backends, in *listTaskDefinitionsIn) (any, error) {
	status := in.Status
	if status == "" {
		status = "ACTIVE"
	}
	if status != "ACTIVE" && status != "INACTIVE" && status != "DELETE_IN_PROGRESS" {
		return nil, invalidParam("status must be ACTIVE, INACTIVE or DELETE_IN_PROGRESS, got %q.", in.Status)
	}
	desc := false
	switch in.Sort {
	case "", "ASC":
	case "DESC":
		desc = true
	default:
		return nil, invalidParam("sort must be ASC or DESC, got %q.", in.Sort)
	}
	tds, err := b.TaskDefinitions.List(ctx, "")
	if err != nil {
		return nil, err
	}
	arns := map[string]string{}
	var keys []string
	for _, td := range tds {
		if td.Status == status && strings.HasPrefix(td.Family, in.FamilyPrefix) {
			k := fmt.Sprintf("%s\x00%010d", td.Family, td.Revision)
			keys, arns[k] = append(keys, k), td.Arn()
		}
	}
	sort.Strings(keys)
	if desc {
		sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	}
	keys, next, err := page("ListTaskDefinitions", keys, desc, in.NextToken, in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = arns[k]
	}
	return listOut("taskDefinitionArns", out, next), nil
}

// listOut is a List* answer: the items and, when there are more, nextToken.
func listOut(field string, items []string, next string) map[string]any {
	if items == nil {
		items = []string{}
	}
	out := map[string]any{field: items}
	if next != "" {
		out["nextToken"] = next
	}
	return out
}

type listTaskDefinitionFamiliesIn struct {
	FamilyPrefix string `json:"familyPrefix"`
	Status       string `json:"status"`
	MaxResults   int    `json:"maxResults"`
	NextToken    string `json:"nextToken"`
}

func listTaskDefinitionFamilies(ctx context.Context, b Backends, in *listTaskDefinitionFamiliesIn) (any, error) {
	if in.Status != "" && in.Status != "ACTIVE" && in.Status != "INACTIVE" && in.Status != "ALL" {
		return nil, invalidParam("status must be ACTIVE, INACTIVE or ALL, got %q.", in.Status)
	}
	tds, err := b.TaskDefinitions.List(ctx, "")
	if err != nil {
		return nil, err
	}
	active := map[string]bool{}
	for _, td := range tds {
		if strings.HasPrefix(td.Family, in.FamilyPrefix) {
			active[td.Family] = active[td.Family] || td.Status == "ACTIVE"
		}
	}
	var keys []string
	for f, a := range active {
		if in.Status == "" || in.Status == "ALL" || a == (in.Status == "ACTIVE") {
			keys = append(keys, f)
		}
	}
	sort.Strings(keys)
	keys, next, err := page("ListTaskDefinitionFamilies", keys, false, in.NextToken, in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	return listOut("families", keys, next), nil
}
