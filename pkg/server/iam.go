package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/awsauth"
	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// TaskCredentialsTTL is how long a task's credentials last; the agent
// fetches fresh ones well before (ECS's are good for about 6 h and
// refreshed after 1 h; shorter here, since nothing else revokes a leaked
// key of a running task).
const TaskCredentialsTTL = time.Hour

// awsKeys is the one place AWS access keys are checked: it verifies
// SigV4 signatures (with keys' session tokens and expiries) and decides,
// per request, what the signer may do. Admin keys may do everything; a
// task's temporary key may do what its role's policy (and the resource's
// Policy) allows, while its task has not stopped.
type awsKeys struct {
	st    *store.Store
	tasks *store.Cache[model.Task]
	v     *awsauth.SigV4

	recs     sync.Map // access key id -> *store.AWSKey, refreshed by every lookup of the verifier
	nrecs    int64
	roles    ttlCache[*model.Role]
	policies sync.Map // resource policy text -> *model.Policy (nil: unparseable)
	npol     int64
	mu       sync.Mutex // guards the counts that bound recs and policies
}

func newAWSKeys(st *store.Store, tasks *store.Cache[model.Task]) *awsKeys {
	k := &awsKeys{st: st, tasks: tasks, roles: ttlCache[*model.Role]{ttl: 2 * time.Second}}
	k.v = awsauth.NewWithKeys(func(ctx context.Context, id string) (awsauth.Key, error) {
		rec, err := st.GetAWSKey(ctx, id)
		if err != nil {
			return awsauth.Key{}, err
		}
		if rec.Status == model.AccessKeyInactive {
			// Refused as AWS refuses an inactive key's signature.
			return awsauth.Key{}, &awsauth.Error{Code: "InvalidClientTokenId", Status: http.StatusForbidden,
				Message: fmt.Sprintf("The security token included in the request is invalid: access key %s is inactive (orch aws-key activate %s turns it back on).", id, id)}
		}
		k.remember(id, rec) // read with the secret, so authorizing costs no second etcd read
		return awsauth.Key{Secret: rec.SecretAccessKey, SessionToken: rec.SessionToken, Expires: rec.Expiration}, nil
	}, awsauth.Options{})
	return k
}

func (k *awsKeys) record(r *http.Request, id string) (*store.AWSKey, error) {
	if rec, ok := k.recs.Load(id); ok {
		return rec.(*store.AWSKey), nil
	}
	rec, err := k.st.GetAWSKey(r.Context(), id)
	if err != nil {
		return nil, &awsproto.Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable, Message: "Looking up the access key failed; retry: " + err.Error()}
	}
	k.remember(id, rec)
	return rec, nil
}

// forget drops a changed key (deactivated, removed) from the verifier's
// cache and the records, so its next request is checked against the store.
func (k *awsKeys) forget(id string) {
	k.v.Forget(id)
	k.recs.Delete(id)
}

// remember records a key; every task mints a key an hour, so the map is
// emptied now and then instead of growing for ever (the verifier's own
// lookups refill it).
func (k *awsKeys) remember(id string, rec *store.AWSKey) {
	k.mu.Lock()
	if k.nrecs++; k.nrecs > 10000 {
		k.recs.Clear()
		k.nrecs = 0
	}
	k.mu.Unlock()
	k.recs.Store(id, rec)
}

// Authorize implements awsproto.Authorizer.
func (k *awsKeys) Authorize(r *http.Request, action, resource string, resourcePolicy func() string) error {
	id := awsproto.AccessKeyID(r)
	note := awsproto.Note(r) // every AWS call passes here: what it is and who signed go to the audit log
	if note != nil && note.Action == "" {
		// The first check is the call's own action; later ones are what
		// it also needs (a subscription's queue, a mapping's function).
		note.Action, note.KeyID = action, id
		if note.Resource == "" {
			note.Resource = resource
		}
	}
	if id == "" {
		return nil // an unsigned request only gets this far where the verifier is off (a dev server)
	}
	rec, err := k.record(r, id)
	if err != nil {
		return err
	}
	if note != nil {
		note.Role, note.RoleArn, note.TaskID = string(rec.Role), rec.RoleArn, rec.TaskID
	}
	if rec.Role == auth.RoleAdmin {
		return nil
	}
	req := auth.AccessRequest{Principal: rec.RoleArn, Action: action, Resource: resource}
	if rec.Role != auth.RoleTask || rec.TaskID == "" {
		return &awsproto.AccessDenied{Message: fmt.Sprintf("Access key %s is the retired shared task key (or not a task's): it may do nothing. Give the task definition a taskRoleArn naming a Role; its tasks get their own credentials.", id)}
	}
	if t := k.tasks.Get(rec.TaskID); t == nil || t.LastStatus == model.StatusStopped {
		return &awsproto.AccessDenied{Message: fmt.Sprintf("Access key %s belongs to task %s, which has stopped: its credentials were revoked.", id, rec.TaskID)}
	}
	role, err := k.role(r.Context(), rec.RoleArn)
	if err != nil {
		return err
	}
	if role == nil {
		return &awsproto.AccessDenied{Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because the role does not exist (any more).", rec.RoleArn, action, resource)}
	}
	var rp *model.Policy
	if resourcePolicy != nil {
		rp = k.resourcePolicy(resourcePolicy())
	}
	if d := auth.Evaluate(role.Policy, rp, req); d != auth.Allowed {
		return &awsproto.AccessDenied{Message: auth.AccessDeniedMessage(req, d)}
	}
	return nil
}

func (k *awsKeys) role(ctx context.Context, arn string) (*model.Role, error) {
	name := model.RoleNameFromArn(arn)
	return k.roles.get(name, func() (*model.Role, error) {
		r, err := k.st.GetRole(ctx, name)
		if errors.Is(err, model.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, &awsproto.Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable, Message: "Reading the role failed; retry: " + err.Error()}
		}
		return r, nil
	})
}

// resourcePolicy parses a queue's or topic's Policy once per distinct
// text. A policy that does not parse grants nothing.
func (k *awsKeys) resourcePolicy(text string) *model.Policy {
	if text == "" {
		return nil
	}
	if p, ok := k.policies.Load(text); ok {
		return p.(*model.Policy)
	}
	p, err := model.ParsePolicy([]byte(text), true, "Policy")
	if err != nil {
		p = nil
	}
	k.mu.Lock()
	if k.npol++; k.npol > 1000 {
		k.policies.Clear()
		k.npol = 0
	}
	k.mu.Unlock()
	k.policies.Store(text, p)
	return p
}

// targetAuthorized wraps the verifier of a JSON-protocol API (ECS,
// Application Auto Scaling) whose handler knows no Authorizer: after the
// signature, the action named by X-Amz-Target ("...RunTask") is checked
// as "<prefix>:RunTask" on resource "*" (these APIs' resource-level
// permissions are not modelled), so a task role may call only what its
// policy allows, and admin keys everything.
type targetAuthorized struct {
	v      awsproto.Verifier
	keys   *awsKeys
	prefix string // IAM's service prefix: ecs, application-autoscaling
	code   string // the API's access-denied code
}

func (a *targetAuthorized) Verify(r *http.Request, body []byte) error {
	if err := a.v.Verify(r, body); err != nil {
		return err
	}
	target := awsproto.Target(r)
	action := target[strings.LastIndexByte(target, '.')+1:]
	if n := awsproto.Note(r); n != nil && awsproto.Mutating(a.prefix+":"+action) {
		n.Resource = targetResource(body)
	}
	err := a.keys.Authorize(r, a.prefix+":"+action, "*", nil)
	var denied *awsproto.AccessDenied
	if errors.As(err, &denied) {
		return &awsproto.Error{Code: a.code, Status: http.StatusForbidden, Message: denied.Message}
	}
	return err
}

// targetResource names what an ECS or Application Auto Scaling write is
// about, for the audit log (these APIs are authorized on "*"): the first
// of the request's naming fields present, e.g. "family=web" or
// "service=api". Only writes pay for this parse.
func targetResource(body []byte) string {
	var f map[string]json.RawMessage
	if json.Unmarshal(body, &f) != nil {
		return "*"
	}
	var parts []string
	for _, k := range []string{"family", "taskDefinition", "serviceName", "service", "task", "cluster", "resourceId", "resourceArn", "policyName"} {
		var v string
		if json.Unmarshal(f[k], &v) == nil && v != "" {
			parts = append(parts, k+"="+v)
			if len(parts) == 2 {
				break
			}
		}
	}
	if len(parts) == 0 {
		return "*"
	}
	return strings.Join(parts, " ")
}

// ttlCache keeps values for a short while (a role read per request would
// be an etcd read per queue call; a policy change is seen within ttl).
type ttlCache[T any] struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]ttlEntry[T]
}

type ttlEntry[T any] struct {
	v  T
	at time.Time
}

func (c *ttlCache[T]) get(key string, load func() (T, error)) (T, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]ttlEntry[T]{}
	}
	c.m[key] = ttlEntry[T]{v, now}
	c.mu.Unlock()
	return v, nil
}

// iamFeature serves roles (the Role kind, /v1/roles) and the agents'
// endpoint that mints a task's credentials.
type iamFeature struct {
	st    *store.Store
	tasks *store.Cache[model.Task]
	log   *slog.Logger
}

func (f iamFeature) Routes(r api.Routes) {
	r.Handle("GET /v1/roles", auth.RoleViewer, f.listRoles)
	r.Handle("GET /v1/roles/{role}", auth.RoleViewer, f.getRole)
	r.Handle("DELETE /v1/roles/{role}", auth.RoleAdmin, f.deleteRole)
	r.Handle("POST /v1/agent/nodes/{name}/tasks/{id}/credentials", auth.RoleNode, f.taskCredentials)
}

func (f iamFeature) Kinds() []api.Kind {
	return []api.Kind{{Name: "Role", Applier: roleApplier{f.st}}}
}

func (iamFeature) Run(ctx context.Context) error { return nil }

func (f iamFeature) listRoles(w http.ResponseWriter, r *http.Request) {
	roles, err := f.st.ListRoles(r.Context())
	if err != nil {
		api.WriteError(w, err)
		return
	}
	out := make([]wire.Role, 0, len(roles))
	for _, role := range roles {
		out = append(out, wireRole(role))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"roles": out})
}

func wireRole(r *model.Role) wire.Role {
	return wire.Role{RoleName: r.RoleName, Arn: r.Arn(), Description: r.Description, PolicyDocument: r.Policy, CreatedAt: r.CreatedAt}
}

func (f iamFeature) getRole(w http.ResponseWriter, r *http.Request) {
	role, err := f.st.GetRole(r.Context(), r.PathValue("role"))
	if err != nil {
		api.WriteError(w, fmt.Errorf("role %s: %w", r.PathValue("role"), err))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireRole(role))
}

func (f iamFeature) deleteRole(w http.ResponseWriter, r *http.Request) {
	if err := f.st.DeleteRole(r.Context(), r.PathValue("role")); err != nil {
		api.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// taskCredentials mints credentials for a task of the calling node, with
// its task definition's role (ECS's agent gets them the same way, from
// the control plane, and serves them to the task's containers).
func (f iamFeature) taskCredentials(w http.ResponseWriter, r *http.Request) {
	node, id := r.PathValue("name"), r.PathValue("id")
	ctx := r.Context()
	t := f.tasks.Get(id)
	if t == nil {
		var err error
		if t, err = f.st.GetTask(ctx, id); err != nil {
			api.WriteError(w, fmt.Errorf("task %s: %w", id, err))
			return
		}
	}
	if t.NodeName != node {
		api.WriteError(w, fmt.Errorf("task %s runs on node %q, not %q: %w", id, t.NodeName, node, model.ErrWrongNode))
		return
	}
	if t.LastStatus == model.StatusStopped {
		api.WriteError(w, fmt.Errorf("task %s has stopped; it gets no more credentials: %w", id, model.ErrConflict))
		return
	}
	td, err := f.st.GetTaskDefinition(ctx, t.Family, t.Revision)
	if err != nil {
		api.WriteError(w, fmt.Errorf("task definition %s:%d: %w", t.Family, t.Revision, err))
		return
	}
	if td.TaskRoleArn == "" {
		api.WriteError(w, fmt.Errorf("task definition %s:%d has no taskRoleArn, so its tasks get no AWS credentials: %w", t.Family, t.Revision, model.ErrNotFound))
		return
	}
	role, err := f.st.GetRole(ctx, model.RoleNameFromArn(td.TaskRoleArn))
	if err != nil {
		api.WriteError(w, fmt.Errorf("role %s (taskRoleArn of %s:%d; create it with kind: Role): %w", td.TaskRoleArn, t.Family, t.Revision, err))
		return
	}
	key := store.AWSKey{
		AccessKeyID:     "ASIA" + randomUpper(16),
		SecretAccessKey: randomBase62(40),
		Role:            auth.RoleTask,
		TaskID:          t.TaskID,
		RoleArn:         role.Arn(),
		SessionToken:    randomBase62(96),
		Expiration:      time.Now().Add(TaskCredentialsTTL).UTC().Truncate(time.Second),
	}
	if err := f.st.PutTemporaryAWSKey(ctx, key); err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, wire.TaskCredentials{
		AccessKeyId: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey, Token: key.SessionToken,
		Expiration: key.Expiration.Format(time.RFC3339), RoleArn: key.RoleArn,
	})
}

// roleApplier is the Role kind of POST /v1/apply.
type roleApplier struct{ st *store.Store }

func (a roleApplier) Decode(spec json.RawMessage) (any, error) {
	var s model.RoleSpec
	if err := strictJSONInto(spec, &s); err != nil {
		return nil, &model.FieldError{Message: "Role: " + err.Error()}
	}
	return s.Role()
}

func (a roleApplier) Apply(ctx context.Context, obj any) (wire.ApplyResult, error) {
	role := obj.(*model.Role)
	res := wire.ApplyResult{Kind: "Role", Name: role.RoleName, Action: "created"}
	cur, err := a.st.GetRole(ctx, role.RoleName)
	switch {
	case err == nil:
		role.CreatedAt = cur.CreatedAt
		if samePolicy(cur, role) {
			res.Action = "unchanged"
			return res, nil
		}
		res.Action = "configured"
	case !errors.Is(err, model.ErrNotFound):
		return res, err
	default:
		role.CreatedAt = time.Now().Unix()
	}
	return res, a.st.PutRole(ctx, role)
}

func strictJSONInto(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func samePolicy(a, b *model.Role) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
