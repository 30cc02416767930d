package model

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"time"
)

// Service statuses (ECS): ACTIVE while it runs, DRAINING after a delete
// until its tasks are gone (then the record is removed), INACTIVE for an
// hour after that (a tombstone the ECS API describes, so `aws ecs wait
// services-inactive` succeeds).
const (
	ServiceActive   = "ACTIVE"
	ServiceDraining = "DRAINING"
	ServiceInactive = "INACTIVE"
)

// Deployment statuses (ECS): the PRIMARY deployment is the one the service
// converges to; ACTIVE ones still have tasks being replaced; INACTIVE ones
// are history.
const (
	DeploymentPrimary  = "PRIMARY"
	DeploymentActive   = "ACTIVE"
	DeploymentInactive = "INACTIVE"
)

// Rollout states (ECS).
const (
	RolloutInProgress = "IN_PROGRESS"
	RolloutCompleted  = "COMPLETED"
	RolloutFailed     = "FAILED"
)

// Defaults and bounds of a service's deployment configuration (ECS).
const (
	DefaultMinimumHealthyPercent = 100
	DefaultMaximumPercent        = 200
	// MaxServiceDesiredCount bounds desiredCount (ECS allows 5,000 tasks
	// per service).
	MaxServiceDesiredCount = 5000
	// MaxGracePeriodSeconds is ECS's bound for healthCheckGracePeriodSeconds.
	MaxGracePeriodSeconds = 2147483647
)

// ReasonUnhealthy is the stoppedReason of a service task the service
// scheduler stopped because its health checks failed (ECS wording).
const ReasonUnhealthy = "Task failed container health checks"

// Service keeps DesiredCount copies of a task definition running, shaped
// like ECS CreateService's input plus what DescribeServices adds. The
// user-supplied part (the spec) and the controller's part (deployments,
// events) live in one etcd key so a new leader continues where the old one
// stopped.
type Service struct {
	ServiceName    string `json:"serviceName"`
	ServiceArn     string `json:"serviceArn,omitempty"`
	TaskDefinition string `json:"taskDefinition"` // FAMILY or FAMILY:REVISION, as given
	// DesiredCount is how many tasks to keep running; nil in input means 1.
	DesiredCount                  *int                     `json:"desiredCount,omitempty"`
	DeploymentConfiguration       *DeploymentConfiguration `json:"deploymentConfiguration,omitempty"`
	PlacementStrategy             []PlacementStrategy      `json:"placementStrategy,omitempty"`
	PlacementConstraints          []PlacementConstraint    `json:"placementConstraints,omitempty"`
	HealthCheckGracePeriodSeconds *int                     `json:"healthCheckGracePeriodSeconds,omitempty"`
	Tags                          []Tag                    `json:"tags,omitempty"`
	ClientToken                   string                   `json:"clientToken,omitempty"`
	// AutoScaling (Orch) is the short form of a scalable target and its
	// policies; applying the service registers them (see ServiceAutoScaling).
	AutoScaling *ServiceAutoScaling `json:"autoScaling,omitempty"`

	// Server-assigned.
	Status      string         `json:"status,omitempty"`
	CreatedAt   *time.Time     `json:"createdAt,omitempty"`
	Deployments []Deployment   `json:"deployments,omitempty"`
	Events      []ServiceEvent `json:"events,omitempty"`
	// Steady is true while the service is at its steady state (set by the
	// controller; the "reached a steady state" event is added on entry).
	Steady bool `json:"steady,omitempty"`
	// RestartBackoff is set while replacements wait because tasks keep
	// failing: how many failed, until when, and the last failure's reason.
	RestartBackoff *RestartBackoff `json:"restartBackoff,omitempty"`

	// Counts are derived from the tasks when reading; not stored.
	RunningCount int `json:"runningCount"`
	PendingCount int `json:"pendingCount"`
	HealthyCount int `json:"healthyCount"`
	// Scaling is the service's scalable target when reading (bounds and
	// activities, newest last); not stored with the service.
	Scaling *ServiceScaling `json:"scaling,omitempty"`

	ModRevision int64 `json:"-"`
}

// ServiceScaling is what `orch get/describe service` shows of auto scaling.
type ServiceScaling struct {
	MinCapacity int               `json:"minCapacity"`
	MaxCapacity int               `json:"maxCapacity"`
	Activities  []ScalingActivity `json:"activities,omitempty"`
}

// DeploymentConfiguration is ECS's (the parts Orch acts on).
type DeploymentConfiguration struct {
	MinimumHealthyPercent    *int                      `json:"minimumHealthyPercent,omitempty"`
	MaximumPercent           *int                      `json:"maximumPercent,omitempty"`
	DeploymentCircuitBreaker *DeploymentCircuitBreaker `json:"deploymentCircuitBreaker,omitempty"`
}

// DeploymentCircuitBreaker is ECS's: stop a deployment whose tasks keep
// failing and, with Rollback, return to the last completed deployment.
type DeploymentCircuitBreaker struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
}

// Deployment is one rollout of a task definition revision (ECS shape).
type Deployment struct {
	ID                 string `json:"id"`
	Status             string `json:"status"`
	TaskDefinition     string `json:"taskDefinition"` // FAMILY:REVISION
	TaskDefinitionArn  string `json:"taskDefinitionArn,omitempty"`
	DesiredCount       int    `json:"desiredCount"`
	RolloutState       string `json:"rolloutState"`
	RolloutStateReason string `json:"rolloutStateReason,omitempty"`
	// FailedTasks counts the deployment's tasks that failed to start or
	// to stay healthy (the circuit breaker's input).
	FailedTasks int       `json:"failedTasks"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// HealthChecked records whether the task definition has a health check
	// on an essential container: then a task is healthy only when its checks
	// pass; otherwise when it has been RUNNING for the grace period.
	HealthChecked bool `json:"healthChecked,omitempty"`
	// ReplaceTasks are the ids of tasks of the same revision that a forced
	// new deployment replaces (ECS forceNewDeployment): they count as an
	// earlier deployment's. Cleared when the rollout completes.
	ReplaceTasks []string `json:"replaceTasks,omitempty"`

	// Derived when reading; not stored.
	RunningCount int `json:"runningCount"`
	PendingCount int `json:"pendingCount"`
	HealthyCount int `json:"healthyCount"`
}

// RestartBackoff explains why a service is not starting replacements yet.
type RestartBackoff struct {
	Failures int       `json:"failures"`
	Until    time.Time `json:"until"`
	Reason   string    `json:"reason"`
}

// ServiceEvent is one line of a service's history (ECS service events).
type ServiceEvent struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Message   string    `json:"message"`
}

// MaxServiceEvents and MaxDeploymentHistory bound the service record.
const (
	MaxServiceEvents     = 50
	MaxDeploymentHistory = 10
)

// ServiceArnFor builds the ECS-style ARN of a service.
func ServiceArnFor(name string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:service/default/%s", Region, AccountID, name)
}

// ServiceGroup is the task group of a service's tasks; StartedBy carries
// the same value. Together they mark a task as the service's own.
func ServiceGroup(name string) string { return "service:" + name }

// Desired returns DesiredCount with its default (1).
func (s *Service) Desired() int {
	if s.DesiredCount == nil {
		return 1
	}
	return *s.DesiredCount
}

// MinHealthyPercent returns minimumHealthyPercent with its default.
func (s *Service) MinHealthyPercent() int {
	if c := s.DeploymentConfiguration; c != nil && c.MinimumHealthyPercent != nil {
		return *c.MinimumHealthyPercent
	}
	return DefaultMinimumHealthyPercent
}

// MaxPercent returns maximumPercent with its default.
func (s *Service) MaxPercent() int {
	if c := s.DeploymentConfiguration; c != nil && c.MaximumPercent != nil {
		return *c.MaximumPercent
	}
	return DefaultMaximumPercent
}

// CircuitBreaker returns the circuit breaker settings (zero when unset).
func (s *Service) CircuitBreaker() DeploymentCircuitBreaker {
	if c := s.DeploymentConfiguration; c != nil && c.DeploymentCircuitBreaker != nil {
		return *c.DeploymentCircuitBreaker
	}
	return DeploymentCircuitBreaker{}
}

// GracePeriod returns healthCheckGracePeriodSeconds as a duration.
func (s *Service) GracePeriod() time.Duration {
	if s.HealthCheckGracePeriodSeconds == nil {
		return 0
	}
	return time.Duration(*s.HealthCheckGracePeriodSeconds) * time.Second
}

// Bounds returns the healthy-task floor and the task ceiling of a rollout
// for desired tasks: ECS rounds the minimum up and the maximum down. As on
// ECS, minimumHealthyPercent 100 with maximumPercent 100 leaves no room to
// replace a healthy task during a deployment.
func (s *Service) Bounds(desired int) (minHealthy, maxTotal int) {
	return (desired*s.MinHealthyPercent() + 99) / 100, desired * s.MaxPercent() / 100
}

// CircuitBreakerThreshold is ECS's failure threshold: half the desired
// count (rounded up), at least 3 and at most 200.
func CircuitBreakerThreshold(desired int) int {
	return min(max((desired+1)/2, 3), 200)
}

// Replaces reports whether d is a forced deployment that replaces t.
func (d *Deployment) Replaces(t *Task) bool {
	for _, id := range d.ReplaceTasks {
		if id == t.TaskID {
			return true
		}
	}
	return false
}

// Primary returns the PRIMARY deployment, or nil.
func (s *Service) Primary() *Deployment {
	for i := range s.Deployments {
		if s.Deployments[i].Status == DeploymentPrimary {
			return &s.Deployments[i]
		}
	}
	return nil
}

// DeploymentFor returns the live (non-INACTIVE) deployment of a task
// definition ref, or nil.
func (s *Service) DeploymentFor(ref string) *Deployment {
	for i := range s.Deployments {
		if d := &s.Deployments[i]; d.Status != DeploymentInactive && d.TaskDefinition == ref {
			return d
		}
	}
	return nil
}

// LastCompleted returns the newest deployment whose rollout completed,
// other than skip (by id), or nil.
func (s *Service) LastCompleted(skip string) *Deployment {
	var best *Deployment
	for i := range s.Deployments {
		d := &s.Deployments[i]
		if d.ID == skip || d.RolloutState != RolloutCompleted {
			continue
		}
		if best == nil || d.CreatedAt.After(best.CreatedAt) {
			best = d
		}
	}
	return best
}

// StartDeployment makes a new PRIMARY deployment of td (ref, arn) for
// desired tasks; the previous primary becomes ACTIVE and a live deployment
// of the same ref becomes INACTIVE (its tasks now count for the new one).
func (s *Service) StartDeployment(now time.Time, ref, arn string, healthChecked bool, desired int) *Deployment {
	now = now.UTC()
	for i := range s.Deployments {
		d := &s.Deployments[i]
		switch {
		case d.Status == DeploymentInactive:
		case d.TaskDefinition == ref:
			d.Status, d.UpdatedAt = DeploymentInactive, now
			if d.RolloutState == RolloutInProgress {
				d.RolloutState, d.RolloutStateReason = RolloutFailed, "replaced by a new deployment of the same task definition"
			}
		case d.Status == DeploymentPrimary:
			d.Status, d.UpdatedAt = DeploymentActive, now
			if d.RolloutState == RolloutInProgress {
				d.RolloutState, d.RolloutStateReason = RolloutFailed, "replaced by a newer deployment before it completed"
			}
		}
	}
	s.Deployments = append(s.Deployments, Deployment{
		ID: NewDeploymentID(), Status: DeploymentPrimary, TaskDefinition: ref, TaskDefinitionArn: arn,
		DesiredCount: desired, RolloutState: RolloutInProgress, CreatedAt: now, UpdatedAt: now, HealthChecked: healthChecked,
	})
	s.Steady = false
	s.trimDeployments()
	return &s.Deployments[len(s.Deployments)-1]
}

// trimDeployments drops the oldest INACTIVE deployments beyond the bound.
func (s *Service) trimDeployments() {
	for len(s.Deployments) > MaxDeploymentHistory {
		drop := -1
		for i, d := range s.Deployments {
			if d.Status == DeploymentInactive {
				drop = i
				break
			}
		}
		if drop < 0 {
			return
		}
		s.Deployments = append(s.Deployments[:drop], s.Deployments[drop+1:]...)
	}
}

// AddEvent appends to the service's events, dropping the oldest beyond the
// bound.
func (s *Service) AddEvent(at time.Time, format string, args ...any) {
	s.Events = append(s.Events, ServiceEvent{ID: randomDigits(12), CreatedAt: at.UTC(), Message: Clip(fmt.Sprintf(format, args...), MaxEventMessage)})
	if n := len(s.Events); n > MaxServiceEvents {
		s.Events = append(s.Events[:0:0], s.Events[n-MaxServiceEvents:]...)
	}
}

// NewDeploymentID returns an ECS-style deployment id ("ecs-svc/" and 19 digits).
func NewDeploymentID() string { return "ecs-svc/" + randomDigits(19) }

func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b[i] = byte('0' + d.Int64())
	}
	return string(b)
}

// IsServiceTask reports whether t belongs to service name: its group and
// startedBy both say so. Standalone tasks (orch run) never match unless
// started with exactly these values.
func IsServiceTask(t *Task, name string) bool {
	g := ServiceGroup(name)
	return t.Group == g && t.StartedBy == g
}

// ServiceOf returns the service a task belongs to, or "".
func ServiceOf(t *Task) string {
	if len(t.Group) > len("service:") && t.Group[:len("service:")] == "service:" && t.StartedBy == t.Group {
		return t.Group[len("service:"):]
	}
	return ""
}

// TaskRef is a task's "family:revision".
func TaskRef(t *Task) string { return fmt.Sprintf("%s:%d", t.Family, t.Revision) }

// TaskHealthy reports whether a service task counts as healthy: it should
// run, it is RUNNING and, when the task definition has a health check, the
// check passes; without one, it has been RUNNING for the grace period.
func TaskHealthy(t *Task, healthChecked bool, grace time.Duration, now time.Time) bool {
	if t.DesiredStatus != StatusRunning || t.LastStatus != StatusRunning {
		return false
	}
	if healthChecked {
		return t.HealthStatus == HealthHealthy
	}
	if grace <= 0 {
		return true
	}
	if t.StartedAt == nil {
		return false
	}
	return !now.Before(t.StartedAt.Add(grace))
}

// TaskUnhealthy reports whether a service task failed its health checks
// after the grace period, so the service scheduler should replace it.
func TaskUnhealthy(t *Task, healthChecked bool, grace time.Duration, now time.Time) bool {
	if !healthChecked || t.DesiredStatus != StatusRunning || t.LastStatus != StatusRunning || t.HealthStatus != HealthUnhealthy {
		return false
	}
	if grace > 0 && t.StartedAt != nil && now.Before(t.StartedAt.Add(grace)) {
		return false
	}
	return true
}

// TaskFailed reports whether a stopped service task counts as a failure
// (for the circuit breaker and the restart backoff): it failed to start,
// an essential container exited, or the scheduler stopped it for failing
// its health checks. Tasks stopped by users, by deployments or with their
// node are replaced without counting.
func TaskFailed(t *Task) bool {
	if !t.IsStopped() {
		return false
	}
	switch t.StopCode {
	case StopTaskFailedToStart, StopEssentialContainerExited:
		return true
	case StopServiceSchedulerInitiated:
		return len(t.StoppedReason) >= len(ReasonUnhealthy) && t.StoppedReason[:len(ReasonUnhealthy)] == ReasonUnhealthy
	}
	return false
}

// Validate checks the user-supplied part of a service, with field paths,
// placement strategies and constraints included (memberOf expressions are
// parsed). Whether the task definition exists is checked by the controller.
func (s *Service) Validate() error {
	var errs FieldErrors
	if s.ServiceName == "" {
		errs.Add("serviceName", "is required")
	} else if !ValidName(s.ServiceName, MaxNameLength) {
		errs.Add("serviceName", "must be 1-255 letters, digits, hyphens or underscores")
	}
	if s.TaskDefinition == "" {
		errs.Add("taskDefinition", "is required (FAMILY or FAMILY:REVISION of a registered task definition)")
	} else if _, _, err := ParseRef(s.TaskDefinition); err != nil {
		errs.Add("taskDefinition", err.Error())
	}
	if s.DesiredCount != nil && (*s.DesiredCount < 0 || *s.DesiredCount > MaxServiceDesiredCount) {
		errs.Add("desiredCount", fmt.Sprintf("must be between 0 and %d, got %d", MaxServiceDesiredCount, *s.DesiredCount))
	}
	if c := s.DeploymentConfiguration; c != nil {
		lo, hi := s.MinHealthyPercent(), s.MaxPercent()
		if lo > hi {
			errs.Add("deploymentConfiguration.minimumHealthyPercent", fmt.Sprintf("%d is above maximumPercent %d; the minimum must not exceed the maximum", lo, hi))
		} else if lo < 0 || lo > 100 {
			errs.Add("deploymentConfiguration.minimumHealthyPercent", fmt.Sprintf("must be between 0 and 100, got %d", lo))
		}
		if hi < 100 || hi > 1000 {
			errs.Add("deploymentConfiguration.maximumPercent", fmt.Sprintf("must be between 100 and 1000, got %d", hi))
		}
	}
	if g := s.HealthCheckGracePeriodSeconds; g != nil && *g < 0 {
		errs.Add("healthCheckGracePeriodSeconds", fmt.Sprintf("must be 0 or more, got %d", *g))
	}
	errs = append(errs, ValidatePlacement(s.PlacementStrategy, s.PlacementConstraints)...)
	if a := s.AutoScaling; a != nil {
		a.validate(&errs, s.ServiceName)
	}
	for i, t := range s.Tags {
		if t.Key == "" {
			errs.Add(fmt.Sprintf("tags[%d].key", i), "required: every tag needs a key")
		}
	}
	return errs.Err()
}
