package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// What the ECS API changes besides specs: tags on every resource, user
// attributes on nodes, and a forced deployment of a service. Tags are
// stored with their object (model fields), so both API doors see them.

// mergeTags returns the function that applies a TagResource (add) or
// UntagResource (remove) to a resource's tags inside its conditional
// update, so concurrent calls do not lose each other's tags.
func mergeTags(add []model.Tag, remove []string) func([]model.Tag) ([]model.Tag, error) {
	return func(cur []model.Tag) ([]model.Tag, error) {
		tags := model.MergeTags(cur, add, remove)
		return tags, model.ValidateTags("tags", tags).Err()
	}
}

// UpdateTags adds and removes tags of a task.
func (s *Tasks) UpdateTags(ctx context.Context, id string, add []model.Tag, remove []string) (*model.Task, error) {
	full, err := s.Resolve(id)
	if err != nil {
		return nil, err
	}
	merge := mergeTags(add, remove)
	return s.st.UpdateTask(ctx, full, func(t *model.Task) (bool, error) {
		tags, err := merge(t.Tags)
		t.Tags = tags
		return err == nil, err
	})
}

// UpdateTags adds and removes tags of one revision ("family:rev" or an ARN).
func (s *TaskDefs) UpdateTags(ctx context.Context, ref string, add []model.Tag, remove []string) (*model.TaskDefinition, error) {
	family, rev, err := model.ParseRef(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", model.ErrInvalid, err)
	}
	if rev == 0 {
		return nil, &model.FieldError{Path: "resourceArn", Message: "name a revision (family:revision), not a whole family"}
	}
	return s.st.UpdateTaskDefinitionTags(ctx, family, rev, mergeTags(add, remove))
}

// UpdateTags adds and removes tags of a service (part of its spec; no new
// deployment).
func (s *Services) UpdateTags(ctx context.Context, name string, add []model.Tag, remove []string) (*model.Service, error) {
	merge := mergeTags(add, remove)
	return s.st.UpdateService(ctx, name, nil, func(cur *model.Service) (bool, error) {
		tags, err := merge(cur.Tags)
		cur.Tags = tags
		return err == nil, err
	})
}

// Cluster is Orch's one cluster as the ECS API sees it: only its tags are
// stored.
type Cluster struct{ st *store.Store }

// NewCluster returns the cluster handler.
func NewCluster(st *store.Store) *Cluster { return &Cluster{st: st} }

// Tags returns the cluster's tags.
func (c *Cluster) Tags(ctx context.Context) ([]model.Tag, error) { return c.st.ClusterTags(ctx) }

// UpdateTags adds and removes tags of the cluster.
func (c *Cluster) UpdateTags(ctx context.Context, add []model.Tag, remove []string) ([]model.Tag, error) {
	merge := mergeTags(add, remove)
	var verr error
	tags, err := c.st.UpdateClusterTags(ctx, func(cur []model.Tag) []model.Tag {
		tags, err := merge(cur)
		if err != nil {
			verr = err
			return cur
		}
		return tags
	})
	if verr != nil {
		return nil, verr
	}
	return tags, err
}

// ForceNewDeployment starts a new deployment of the service's current
// task definition revision (ECS UpdateService forceNewDeployment): the
// service's live tasks are replaced by new ones within the deployment
// configuration's percentages, e.g. to pull an image tag again. The tasks
// to replace are named by id (not by time, so clocks of replicas do not
// matter); tasks the leader starts from now on are the new deployment's.
func (s *Services) ForceNewDeployment(ctx context.Context, name string) (*model.Service, error) {
	now := s.now().UTC()
	var replace []string
	for _, t := range s.Tasks(name) {
		if !t.IsStopped() && t.DesiredStatus == model.StatusRunning {
			replace = append(replace, t.TaskID)
		}
	}
	return s.st.UpdateService(ctx, name, nil, func(cur *model.Service) (bool, error) {
		if cur.Status == model.ServiceDraining {
			return false, fmt.Errorf("%w: service %s is being deleted", model.ErrConflict, name)
		}
		p := cur.Primary()
		if p == nil {
			return false, fmt.Errorf("%w: service %s has no deployment", model.ErrConflict, name)
		}
		ref, arn, hc := p.TaskDefinition, p.TaskDefinitionArn, p.HealthChecked
		nd := cur.StartDeployment(now, ref, arn, hc, cur.Desired())
		nd.ReplaceTasks = replace
		cur.AddEvent(now, "(service %s) deployment %s started: %s forced by the user, replacing %d tasks, %d desired tasks", name, nd.ID, ref, len(replace), cur.Desired())
		return true, nil
	})
}

// UpdateTags adds and removes tags of a node.
func (s *Nodes) UpdateTags(ctx context.Context, name string, add []model.Tag, remove []string) (*model.Node, error) {
	merge := mergeTags(add, remove)
	return s.seen(ctx)(s.st.UpdateNode(ctx, name, func(n *model.Node) (bool, error) {
		tags, err := merge(n.Tags)
		n.Tags = tags
		return err == nil, err
	}))
}

// seen returns a function that waits (briefly) until the node cache has
// seen a write, so that List and Get, which read the cache, show it to
// the caller who just made it.
func (s *Nodes) seen(ctx context.Context) func(*model.Node, error) (*model.Node, error) {
	return func(n *model.Node, err error) (*model.Node, error) {
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = s.caches.Nodes.WaitRevision(wctx, n.ModRevision) // late: the write stands; the cache catches up
		return n, nil
	}
}

// PutAttributes sets (value non-nil) or deletes (nil) user attributes of a
// node (ECS PutAttributes and DeleteAttributes). They join the agent's
// attributes for placement (memberOf(attribute:NAME == ...)) and survive
// the agent registering again.
func (s *Nodes) PutAttributes(ctx context.Context, name string, attrs map[string]*string) (*model.Node, error) {
	for k := range attrs {
		if !validAttributeName(k) {
			return nil, &model.FieldError{Path: "attributes[" + k + "].name", Message: "must be 1-128 letters, digits, hyphens, underscores, periods, at signs or slashes"}
		}
	}
	return s.seen(ctx)(s.st.UpdateNode(ctx, name, func(n *model.Node) (bool, error) {
		if n.UserAttributes == nil {
			n.UserAttributes = map[string]string{}
		}
		if n.Attributes == nil {
			n.Attributes = map[string]string{}
		}
		before := maps.Clone(n.Attributes)
		for _, k := range slices.Sorted(maps.Keys(attrs)) {
			if v := attrs[k]; v != nil {
				n.UserAttributes[k], n.Attributes[k] = *v, *v
			} else if _, ok := n.UserAttributes[k]; ok {
				delete(n.UserAttributes, k)
				delete(n.Attributes, k)
			}
		}
		return !maps.Equal(before, n.Attributes), nil
	}))
}

// validAttributeName is ECS's attribute name rule.
func validAttributeName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '@' || r == '/'
		if !ok {
			return false
		}
	}
	return true
}

// Delete removes an INACTIVE revision ("family:rev" or an ARN) that no
// live task runs (ECS DeleteTaskDefinitions).
func (s *TaskDefs) Delete(ctx context.Context, ref string) (*model.TaskDefinition, error) {
	family, rev, err := model.ParseRef(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", model.ErrInvalid, err)
	}
	if rev == 0 {
		return nil, &model.FieldError{Path: "taskDefinitions", Message: fmt.Sprintf("%q names no revision; give family:revision or an ARN", ref)}
	}
	return s.st.DeleteTaskDefinition(ctx, family, rev)
}
