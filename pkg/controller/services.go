package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Services creates, updates, scales, rolls back and deletes services for
// the API (any replica). It only writes what users ask for (the spec and a
// new deployment when the task definition changes); the leader's service
// reconciler does the rest.
type Services struct {
	st     *store.Store
	caches *Caches
	tds    *TaskDefs
	now    func() time.Time
}

// NewServices returns the services handler.
func NewServices(st *store.Store, caches *Caches) *Services {
	return &Services{st: st, caches: caches, tds: NewTaskDefs(st), now: time.Now}
}

// Validate checks a service's spec with field paths: the model's rules,
// placement included (model.ValidatePlacement, expressions parsed). Whether
// the task definition exists is checked by CheckTaskDefinition.
func (s *Services) Validate(svc *model.Service) error { return svc.Validate() }

// CheckTaskDefinition resolves the service's task definition: a missing or
// INACTIVE one is a validation error at "taskDefinition".
func (s *Services) CheckTaskDefinition(ctx context.Context, ref string) (*model.TaskDefinition, error) {
	td, err := s.tds.Get(ctx, ref)
	switch {
	case errors.Is(err, model.ErrNotFound):
		return nil, &model.FieldError{Path: "taskDefinition", Message: fmt.Sprintf("task definition %q is not registered; apply it first (orch apply -f taskdef.yaml) or fix the name", ref)}
	case errors.Is(err, model.ErrInvalid):
		return nil, &model.FieldError{Path: "taskDefinition", Message: err.Error()}
	case err != nil:
		return nil, err
	case td.Status == "INACTIVE":
		return nil, &model.FieldError{Path: "taskDefinition", Message: fmt.Sprintf("task definition %s is INACTIVE (deregistered); register a new revision", td.Ref())}
	}
	if err := policyCheckRef(ctx, s.st, td); err != nil {
		return nil, err
	}
	return td, nil
}

// hasHealthCheck reports whether an essential container of td has a
// health check (then service tasks count as healthy only when it passes).
func hasHealthCheck(td *model.TaskDefinition) bool {
	for _, c := range td.ContainerDefinitions {
		if c.IsEssential() && c.HealthCheck != nil {
			return true
		}
	}
	return false
}

// specOf is the user-supplied part of a service, for comparisons.
func specOf(svc *model.Service) model.Service {
	return model.Service{
		ServiceName: svc.ServiceName, TaskDefinition: svc.TaskDefinition, DesiredCount: svc.DesiredCount,
		DeploymentConfiguration: svc.DeploymentConfiguration, PlacementStrategy: svc.PlacementStrategy,
		PlacementConstraints: svc.PlacementConstraints, HealthCheckGracePeriodSeconds: svc.HealthCheckGracePeriodSeconds, Tags: svc.Tags,
		AutoScaling: svc.AutoScaling,
	}
}

func sameSpec(a, b *model.Service) bool {
	ja, _ := json.Marshal(specOf(a))
	jb, _ := json.Marshal(specOf(b))
	return reflect.DeepEqual(ja, jb)
}

// newService is the record a create of in stores: its spec, ACTIVE, and a
// first deployment of td.
func (s *Services) newService(in *model.Service, td *model.TaskDefinition) *model.Service {
	now := s.now().UTC()
	svc := specOf(in)
	if a := in.AutoScaling; a != nil && svc.DesiredCount == nil {
		n := a.MinCapacity // auto scaling takes it from there
		svc.DesiredCount = &n
	}
	svc.ServiceArn, svc.Status, svc.CreatedAt = model.ServiceArnFor(in.ServiceName), model.ServiceActive, &now
	d := svc.StartDeployment(now, td.Ref(), td.Arn(), hasHealthCheck(td), svc.Desired())
	svc.AddEvent(now, "(service %s) created with %d desired tasks; deployment %s of %s started", svc.ServiceName, svc.Desired(), d.ID, td.Ref())
	return &svc
}

// Apply creates the service or updates its spec. A task definition that
// resolves to another revision than the primary deployment's (or a primary
// whose rollout failed) starts a new deployment. It returns the stored
// service and the action: created, configured or unchanged.
func (s *Services) Apply(ctx context.Context, in *model.Service) (*model.Service, string, error) {
	if err := s.Validate(in); err != nil {
		return nil, "", err
	}
	td, err := s.CheckTaskDefinition(ctx, in.TaskDefinition)
	if err != nil {
		return nil, "", err
	}
	now := s.now().UTC()
	spec := specOf(in)
	if a := in.AutoScaling; a != nil && spec.DesiredCount == nil {
		n := a.MinCapacity // auto scaling takes it from there
		spec.DesiredCount = &n
	}
	hc := hasHealthCheck(td)
	if in.ClientToken != "" {
		// A retry of a create returns what the first call made; a service
		// that exists without the token's record is updated as usual.
		out, action, done, err := s.createOnce(ctx, in, s.newService(in, td))
		if done || err != nil {
			return out, action, err
		}
	} else {
		svc := s.newService(in, td)
		created, err := s.st.CreateService(ctx, svc)
		if err != nil {
			return nil, "", err
		}
		if created {
			return svc, "created", s.applyAutoScaling(ctx, svc)
		}
	}
	action := "unchanged"
	out, err := s.st.UpdateService(ctx, in.ServiceName, nil, func(cur *model.Service) (bool, error) {
		action = "unchanged"
		if cur.Status == model.ServiceDraining {
			return false, fmt.Errorf("%w: service %s is being deleted; wait until it is gone, then apply again", model.ErrConflict, cur.ServiceName)
		}
		if spec.AutoScaling != nil && in.DesiredCount == nil {
			// Auto scaling owns the count: re-applying keeps it.
			spec.DesiredCount = cur.DesiredCount
		}
		changed := !sameSpec(cur, &spec)
		oldDesired := cur.Desired()
		cur.TaskDefinition, cur.DesiredCount, cur.DeploymentConfiguration = spec.TaskDefinition, spec.DesiredCount, spec.DeploymentConfiguration
		cur.PlacementStrategy, cur.PlacementConstraints = spec.PlacementStrategy, spec.PlacementConstraints
		cur.HealthCheckGracePeriodSeconds, cur.Tags = spec.HealthCheckGracePeriodSeconds, spec.Tags
		cur.AutoScaling = spec.AutoScaling
		p := cur.Primary()
		switch {
		case p == nil || p.TaskDefinition != td.Ref() || p.RolloutState == model.RolloutFailed:
			was := "-"
			if p != nil {
				was = p.TaskDefinition
			}
			nd := cur.StartDeployment(now, td.Ref(), td.Arn(), hc, cur.Desired())
			cur.AddEvent(now, "(service %s) deployment %s started: %s (was %s), %d desired tasks", cur.ServiceName, nd.ID, td.Ref(), was, cur.Desired())
			changed = true
		case oldDesired != cur.Desired():
			p.DesiredCount, p.UpdatedAt, cur.Steady = cur.Desired(), now, false
			cur.AddEvent(now, "(service %s) desired count changed from %d to %d", cur.ServiceName, oldDesired, cur.Desired())
		}
		if changed {
			action = "configured"
		}
		return changed, nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, action, s.applyAutoScaling(ctx, out)
}

// applyAutoScaling maps a service's autoScaling short form onto its
// scalable target and policies (the objects the Application Auto Scaling
// API manages), removing short-form policies it no longer names.
func (s *Services) applyAutoScaling(ctx context.Context, svc *model.Service) error {
	a := svc.AutoScaling
	if a == nil {
		return nil
	}
	sc := NewScaling(s.st)
	t, ps := a.Objects(svc.ServiceName)
	if _, err := sc.RegisterTarget(ctx, t); err != nil {
		return fmt.Errorf("service %s: autoScaling: %w", svc.ServiceName, err)
	}
	keep := map[string]bool{}
	for _, p := range ps {
		keep[p.PolicyName] = true
		if _, err := sc.PutPolicy(ctx, p); err != nil {
			return fmt.Errorf("service %s: autoScaling: %w", svc.ServiceName, err)
		}
	}
	old, err := sc.Policies(ctx, svc.ServiceName)
	if err != nil {
		return err
	}
	for _, p := range old {
		for _, suf := range model.ShortFormPolicySuffixes {
			if p.PolicyName == svc.ServiceName+suf && !keep[p.PolicyName] {
				if err := sc.DeletePolicy(ctx, svc.ServiceName, p.PolicyName); err != nil && !errors.Is(err, model.ErrNotFound) {
					return err
				}
			}
		}
	}
	return nil
}

// Scale sets a service's desired count.
func (s *Services) Scale(ctx context.Context, name string, n int) (*model.Service, error) {
	if n < 0 || n > model.MaxServiceDesiredCount {
		return nil, &model.FieldError{Path: "desiredCount", Message: fmt.Sprintf("must be between 0 and %d, got %d", model.MaxServiceDesiredCount, n)}
	}
	now := s.now().UTC()
	return s.st.UpdateService(ctx, name, nil, func(cur *model.Service) (bool, error) {
		if cur.Status == model.ServiceDraining {
			return false, fmt.Errorf("%w: service %s is being deleted", model.ErrConflict, name)
		}
		old := cur.Desired()
		if old == n {
			return false, nil
		}
		cur.DesiredCount, cur.Steady = &n, false
		if p := cur.Primary(); p != nil {
			p.DesiredCount, p.UpdatedAt = n, now
		}
		cur.AddEvent(now, "(service %s) desired count changed from %d to %d", name, old, n)
		return true, nil
	})
}

// Rollback returns a service to its last completed deployment other than
// the primary (ECS: UpdateService with the previous task definition).
func (s *Services) Rollback(ctx context.Context, name string) (*model.Service, error) {
	now := s.now().UTC()
	return s.st.UpdateService(ctx, name, nil, func(cur *model.Service) (bool, error) {
		if cur.Status == model.ServiceDraining {
			return false, fmt.Errorf("%w: service %s is being deleted", model.ErrConflict, name)
		}
		p := cur.Primary()
		if p == nil {
			return false, fmt.Errorf("%w: service %s has no deployment", model.ErrConflict, name)
		}
		var target *model.Deployment
		for i := len(cur.Deployments) - 1; i >= 0; i-- {
			d := &cur.Deployments[i]
			if d.ID != p.ID && d.RolloutState == model.RolloutCompleted && d.TaskDefinition != p.TaskDefinition {
				target = d
				break
			}
		}
		if target == nil {
			return false, fmt.Errorf("%w: service %s has no earlier completed deployment to roll back to (deployments: %s)", model.ErrConflict, name, deploymentSummary(cur))
		}
		if p.RolloutState == model.RolloutInProgress {
			p.RolloutState, p.RolloutStateReason = model.RolloutFailed, "rolled back by the user"
		}
		from := p.TaskDefinition
		t := *target
		cur.TaskDefinition = t.TaskDefinition
		nd := cur.StartDeployment(now, t.TaskDefinition, t.TaskDefinitionArn, t.HealthChecked, cur.Desired())
		nd.RolloutStateReason = "rollback requested by the user"
		cur.AddEvent(now, "(service %s) rolling back from %s to %s (deployment %s) at the user's request", name, from, t.TaskDefinition, nd.ID)
		return true, nil
	})
}

func deploymentSummary(svc *model.Service) string {
	s := ""
	for i, d := range svc.Deployments {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %s %s", d.TaskDefinition, d.Status, d.RolloutState)
	}
	return s
}

// Delete scales a service to 0 and marks it DRAINING; the reconciler
// removes the record once its tasks have stopped.
func (s *Services) Delete(ctx context.Context, name string) (*model.Service, error) {
	now := s.now().UTC()
	return s.st.UpdateService(ctx, name, nil, func(cur *model.Service) (bool, error) {
		if cur.Status == model.ServiceDraining {
			return false, nil
		}
		zero := 0
		cur.Status, cur.DesiredCount, cur.Steady = model.ServiceDraining, &zero, false
		if p := cur.Primary(); p != nil {
			p.DesiredCount, p.UpdatedAt = 0, now
		}
		cur.AddEvent(now, "(service %s) deletion requested: scaling to 0, then deleting", name)
		return true, nil
	})
}

// Create creates a service (ECS CreateService): a service of that name
// that exists already is a conflict, unless in.ClientToken is the token
// that created it with the same spec within the last hour (a retry), which
// returns the service as it is now.
func (s *Services) Create(ctx context.Context, in *model.Service) (*model.Service, error) {
	if err := s.Validate(in); err != nil {
		return nil, err
	}
	td, err := s.CheckTaskDefinition(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	svc := s.newService(in, td)
	if in.ClientToken != "" {
		out, _, done, err := s.createOnce(ctx, in, svc)
		if err != nil || done {
			return out, err
		}
	} else {
		created, err := s.st.CreateService(ctx, svc)
		if err != nil {
			return nil, err
		}
		if created {
			return svc, s.applyAutoScaling(ctx, svc)
		}
	}
	return nil, fmt.Errorf("%w: Creation of service was not idempotent: service %s already exists; change it with UpdateService", model.ErrConflict, in.ServiceName)
}

// Deleted returns the tombstone of a service deleted within the last
// hour (status INACTIVE), or model.ErrNotFound.
func (s *Services) Deleted(ctx context.Context, name string) (*model.Service, error) {
	return s.st.GetDeletedService(ctx, name)
}

// Get returns a service with its counts, and its tasks (newest first).
func (s *Services) Get(ctx context.Context, name string) (*model.Service, []*model.Task, error) {
	svc, err := s.st.GetService(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	tasks := s.Tasks(name)
	fillServiceCounts(svc, tasks, s.now())
	if t, err := s.st.GetScalableTarget(ctx, name); err == nil {
		lo, hi := t.Bounds()
		svc.Scaling = &model.ServiceScaling{MinCapacity: lo, MaxCapacity: hi, Activities: t.Activities}
	}
	return svc, tasks, nil
}

// List returns every service with its counts.
func (s *Services) List(ctx context.Context) ([]*model.Service, error) {
	svcs, err := s.st.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	by := map[string][]*model.Task{}
	for _, t := range s.caches.Tasks.List() {
		if n := model.ServiceOf(t); n != "" {
			by[n] = append(by[n], t)
		}
	}
	now := s.now()
	targets := map[string]*model.ScalableTarget{}
	if ts, err := s.st.ListScalableTargets(ctx); err == nil {
		for _, t := range ts {
			targets[t.Service()] = t
		}
	}
	for _, svc := range svcs {
		fillServiceCounts(svc, by[svc.ServiceName], now)
		if t := targets[svc.ServiceName]; t != nil {
			lo, hi := t.Bounds()
			svc.Scaling = &model.ServiceScaling{MinCapacity: lo, MaxCapacity: hi}
			if a := t.LastActivity(); a != nil {
				svc.Scaling.Activities = []model.ScalingActivity{*a}
			}
		}
	}
	return svcs, nil
}

// Tasks returns a service's tasks from the cache, newest first.
func (s *Services) Tasks(name string) []*model.Task {
	var out []*model.Task
	for _, t := range s.caches.Tasks.List() {
		if model.IsServiceTask(t, name) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].TaskID < out[j].TaskID
	})
	return out
}

// fillServiceCounts sets the derived running, pending and healthy counts of
// a service and of its deployments from its tasks.
func fillServiceCounts(svc *model.Service, tasks []*model.Task, now time.Time) {
	svc.RunningCount, svc.PendingCount, svc.HealthyCount = 0, 0, 0
	for i := range svc.Deployments {
		d := &svc.Deployments[i]
		d.RunningCount, d.PendingCount, d.HealthyCount = 0, 0, 0
	}
	grace := svc.GracePeriod()
	for _, t := range tasks {
		if t.IsStopped() || t.DesiredStatus != model.StatusRunning {
			continue
		}
		d := svc.DeploymentFor(model.TaskRef(t))
		hc := d != nil && d.HealthChecked
		if d != nil && d.Replaces(t) {
			d = nil // a forced deployment is replacing it: an earlier deployment's task
		}
		healthy := model.TaskHealthy(t, hc, grace, now)
		running := t.LastStatus == model.StatusRunning
		if running {
			svc.RunningCount++
		} else {
			svc.PendingCount++
		}
		if healthy {
			svc.HealthyCount++
		}
		if d != nil {
			if running {
				d.RunningCount++
			} else {
				d.PendingCount++
			}
			if healthy {
				d.HealthyCount++
			}
		}
	}
}
