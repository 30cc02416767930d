package ecs

import (
	"context"
	"errors"
	"strings"

	"github.com/orch-project/orch/pkg/model"
)

// Tags live on their objects (model fields): a task definition revision, a
// task, a service, a node. The cluster is Orch's one implicit cluster and
// has none.

// resource names what an ARN points at: kind and id.
func resource(arn string) (kind, id string, err error) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:ecs:")
	parts := strings.SplitN(rest, ":", 3) // region, account, kind/...
	if !ok || len(parts) != 3 {
		return "", "", invalidParam("resourceArn %q is not an ECS ARN (arn:aws:ecs:REGION:ACCOUNT:KIND/...).", arn)
	}
	kind, path, _ := strings.Cut(parts[2], "/")
	switch kind {
	case "task-definition":
		return kind, path, nil
	case "task", "service", "container-instance":
		return kind, path[strings.LastIndexByte(path, '/')+1:], nil
	case "cluster":
		if err := checkCluster(arn); err != nil {
			return "", "", err
		}
		return "", "", invalidParam("the cluster %s is Orch's implicit cluster and takes no tags; tag its services, tasks, task definitions and container instances.", arn)
	}
	return "", "", invalidParam("resourceArn %q: Orch's ECS API tags task definitions, tasks, services and container instances, not %q.", arn, kind)
}

// tagsOf reads the tags of the resource an ARN names.
func tagsOf(ctx context.Context, b Backends, arn string) ([]model.Tag, string, string, error) {
	kind, id, err := resource(arn)
	if err != nil {
		return nil, "", "", err
	}
	var tags []model.Tag
	switch kind {
	case "task-definition":
		var td *model.TaskDefinition
		if td, err = b.TaskDefinitions.Get(ctx, id); err == nil {
			tags = td.Tags
		}
	case "task":
		var t *model.Task
		if t, err = b.Tasks.Get(ctx, id); err == nil {
			tags = t.Tags
		}
	case "service":
		var s *model.Service
		if s, _, err = b.Services.Get(ctx, id); err == nil {
			tags = s.Tags
		}
	case "container-instance":
		var v *model.NodeView
		if v, err = b.Nodes.Get(id); err == nil {
			tags = v.Tags
		}
	}
	if errors.Is(err, model.ErrNotFound) || errors.Is(err, model.ErrInvalid) {
		return nil, "", "", ecsErr(codeResourceMissing, "The specified resource was not found: %s.", arn)
	}
	return tags, kind, id, err
}

func setTags(ctx context.Context, b Backends, kind, id string, tags []model.Tag) error {
	var err error
	switch kind {
	case "task-definition":
		_, err = b.TaskDefinitions.SetTags(ctx, id, tags)
	case "task":
		_, err = b.Tasks.SetTags(ctx, id, tags)
	case "service":
		_, err = b.Services.SetTags(ctx, id, tags)
	case "container-instance":
		_, err = b.Nodes.SetTags(ctx, id, tags)
	}
	return err
}

type tagResourceIn struct {
	ResourceArn string      `json:"resourceArn"`
	Tags        []model.Tag `json:"tags"`
}

func tagResource(ctx context.Context, b Backends, in *tagResourceIn) (any, error) {
	if len(in.Tags) == 0 {
		return nil, required("tags")
	}
	if err := model.ValidateTags("tags", in.Tags).Err(); err != nil {
		return nil, err
	}
	tags, kind, id, err := tagsOf(ctx, b, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return struct{}{}, setTags(ctx, b, kind, id, model.MergeTags(tags, in.Tags, nil))
}

type untagResourceIn struct {
	ResourceArn string   `json:"resourceArn"`
	TagKeys     []string `json:"tagKeys"`
}

func untagResource(ctx context.Context, b Backends, in *untagResourceIn) (any, error) {
	if len(in.TagKeys) == 0 {
		return nil, required("tagKeys")
	}
	tags, kind, id, err := tagsOf(ctx, b, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return struct{}{}, setTags(ctx, b, kind, id, model.MergeTags(tags, nil, in.TagKeys))
}

type listTagsIn struct {
	ResourceArn string `json:"resourceArn"`
}

func listTagsForResource(ctx context.Context, b Backends, in *listTagsIn) (any, error) {
	tags, _, _, err := tagsOf(ctx, b, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return map[string]any{"tags": nonNilTags(tags)}, nil
}
