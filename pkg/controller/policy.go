package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Policy reads and sets the cluster policy and checks task definitions
// against it. Reads are cached for a second (RunTask is a hot path); a set
// through this replica takes effect here at once, on others within that.
type Policy struct {
	st *store.Store

	mu     sync.Mutex
	cached *model.ClusterPolicy
	at     time.Time
}

// policyTTL is how long a read policy is trusted.
const policyTTL = time.Second

// policies shares one Policy per store, so the task definition, task and
// service handlers built on a store (and a set through the API) see the
// same cache without each being wired to it.
var policies sync.Map // *store.Store -> *Policy

// PolicyOf returns the policy handler of st.
func PolicyOf(st *store.Store) *Policy {
	p, _ := policies.LoadOrStore(st, &Policy{st: st})
	return p.(*Policy)
}

// Get returns the cluster policy (the default one until an admin sets one).
func (p *Policy) Get(ctx context.Context) (model.ClusterPolicy, error) {
	p.mu.Lock()
	if p.cached != nil && time.Since(p.at) < policyTTL {
		c := *p.cached
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	pol, err := p.st.ClusterPolicy(ctx)
	if err != nil {
		return pol, err
	}
	p.mu.Lock()
	p.cached, p.at = &pol, time.Now()
	p.mu.Unlock()
	return pol, nil
}

// Set validates and stores a new policy. Task definitions registered
// before keep existing, but running or deploying one that breaks the new
// policy is refused.
func (p *Policy) Set(ctx context.Context, pol model.ClusterPolicy) (model.ClusterPolicy, error) {
	if pol.AllowedHostPaths == nil {
		pol.AllowedHostPaths = []string{}
	}
	if pol.DeniedHostPaths == nil {
		pol.DeniedHostPaths = []string{}
	}
	if err := pol.Validate(); err != nil {
		return pol, err
	}
	if err := p.st.PutClusterPolicy(ctx, pol); err != nil {
		return pol, err
	}
	p.mu.Lock()
	p.cached, p.at = &pol, time.Now()
	p.mu.Unlock()
	return pol, nil
}

// Check returns td's violations of the policy: field errors at td's own
// paths, each naming the rule.
func (p *Policy) Check(ctx context.Context, td *model.TaskDefinition) error {
	pol, err := p.Get(ctx)
	if err != nil {
		return err
	}
	return pol.Check(td)
}

// policyCheckRef checks a registered task definition that is about to be
// run or deployed (it may predate a tightened policy); the error is at
// the request's taskDefinition field and cites td's own field paths.
func policyCheckRef(ctx context.Context, st *store.Store, td *model.TaskDefinition) error {
	pol, err := PolicyOf(st).Get(ctx)
	if err != nil {
		return err
	}
	if err := pol.Check(td); err != nil {
		return &model.FieldError{Path: "taskDefinition", Message: fmt.Sprintf("task definition %s breaks the cluster policy: %v", td.Ref(), err)}
	}
	return nil
}
