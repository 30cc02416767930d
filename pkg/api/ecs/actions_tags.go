package ecs

import (
	"context"
	"errors"
	"strings"

	"github.com/orch-project/orch/pkg/model"
)

// Tags live on their objects (model fields): a task definition revision, a
// task, a service, a node; the cluster's have a key of their own. Adding
// and removing happen inside each object's conditional update, so
// concurrent calls do not lose each other's tags.

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
		return kind, ClusterName, nil
	}
	return "", "", invalidParam("resourceArn %q: Orch's ECS API tags the cluster, task definitions, tasks, services and container instances, not %q.", arn, kind)
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
	case "cluster":
		tags, err = b.Cluster.Tags(ctx)
	}
	if errors.Is(err, model.ErrNotFound) || errors.Is(err, model.ErrInvalid) {
		return nil, "", "", ecsErr(codeResourceMissing, "The specified resource was not found: %s.", arn)
	}
	return tags, kind, id, err
}

// updateTags adds and removes tags of the resource an ARN names.
func updateTags(ctx context.Context, b Backends, arn string, add []model.Tag, remove []string) error {
	if _, _, _, err := tagsOf(ctx, b, arn); err != nil {
		return err // not found, or not taggable
	}
	kind, id, _ := resource(arn)
	var err error
	switch kind {
	case "task-definition":
		_, err = b.TaskDefinitions.UpdateTags(ctx, id, add, remove)
	case "task":
		_, err = b.Tasks.UpdateTags(ctx, id, add, remove)
	case "service":
		_, err = b.Services.UpdateTags(ctx, id, add, remove)
	case "container-instance":
		_, err = b.Nodes.UpdateTags(ctx, id, add, remove)
	case "cluster":
		_, err = b.Cluster.UpdateTags(ctx, add, remove)
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
	return struct{}{}, updateTags(ctx, b, in.ResourceArn, in.Tags, nil)
}

type untagResourceIn struct {
	ResourceArn string   `json:"resourceArn"`
	TagKeys     []string `json:"tagKeys"`
}

func untagResource(ctx context.Context, b Backends, in *untagResourceIn) (any, error) {
	if len(in.TagKeys) == 0 {
		return nil, required("tagKeys")
	}
	return struct{}{}, updateTags(ctx, b, in.ResourceArn, nil, in.TagKeys)
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
