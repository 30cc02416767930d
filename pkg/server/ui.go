package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
	"github.com/orch-project/orch/pkg/store"
	"github.com/orch-project/orch/pkg/topic"
	"github.com/orch-project/orch/pkg/ui"
)

// uiFeature serves the dashboard at /ui. It reads what the /v1 API reads
// (the controller over the shared caches, the queue broker) through
// ui.Backend, signs people in with the same tokens and roles, and feeds the
// dashboard's one live-update hub from cache subscriptions: one etcd watch
// per kind per server, however many browsers are open.
type uiFeature struct {
	d        *ui.UI
	caches   *controller.Caches
	services *store.Cache[model.Service]
}

type uiDeps struct {
	store    *store.Store
	caches   *controller.Caches
	tasks    *controller.Tasks
	nodes    *controller.Nodes
	services *controller.Services
	taskDefs *controller.TaskDefs
	queues   *queue.Broker
	topics   *topic.Service
	fns      *function.Service
	logger   *slog.Logger
	audit    *store.AuditLog
	agentTLS func(node string) *tls.Config // the log callback's (nil: plain HTTP)
}

func newUIFeature(d uiDeps) *uiFeature {
	b := uiBackend{d}
	var audit func(model.AuditEntry)
	if d.audit != nil {
		audit = d.audit.Record
	}
	return &uiFeature{
		d:        ui.New(ui.Config{Backend: b, Authenticate: b.authenticate, Logger: d.logger, Audit: audit}),
		caches:   d.caches,
		services: d.store.ServiceCache(),
	}
}

// UI returns the dashboard (tests and benchmarks read its client count).
func (s *Server) UI() *ui.UI {
	return s.ui
}

func (f *uiFeature) Routes(r api.Routes) {
	r.Protocol(func(r *http.Request) bool { return r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, "/ui/") }, f.d)
}

func (f *uiFeature) Kinds() []api.Kind { return nil }

// Run follows the caches into the hub. The filters run on the caches'
// goroutines and never queue anything: Notify only marks a kind changed.
func (f *uiFeature) Run(ctx context.Context) error {
	notify := func(kind string) func(any) bool { return func(any) bool { f.d.Notify(kind); return false } }
	tn, nn := notify(ui.KindTasks), notify(ui.KindNodes)
	subs := []interface{ Close() }{
		f.caches.Tasks.SubscribeFilter(func(store.Change[model.Task]) bool { return tn(nil) }),
		f.caches.Nodes.SubscribeFilter(func(store.Change[model.Node]) bool { return nn(nil) }),
		f.caches.Alive.SubscribeFilter(func(store.Change[string]) bool { return nn(nil) }),
		f.services.SubscribeFilter(func(store.Change[model.Service]) bool { f.d.Notify(ui.KindServices); return false }),
	}
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { f.services.Run(ctx) })
	return f.d.Run(ctx)
}

// uiBackend adapts the server's domain objects to ui.Backend.
type uiBackend struct{ uiDeps }

func (b uiBackend) authenticate(ctx context.Context, tok string) (ui.Viewer, error) {
	id, err := b.store.TokenInfo(ctx, tok)
	if err != nil {
		return ui.Viewer{}, err
	}
	// Agents' tokens (join, node, task) may not look at the dashboard.
	if auth.Permit(auth.RoleViewer, id, "") != nil {
		return ui.Viewer{}, fmt.Errorf("a %s token cannot sign in to the dashboard: %w", id.Role, model.ErrNotFound)
	}
	if id.Expired(time.Now()) {
		return ui.Viewer{}, fmt.Errorf("the token expired at %s: %w", id.ExpiresAt.UTC().Format(time.RFC3339), model.ErrNotFound)
	}
	return ui.Viewer{Name: id.Name, Role: string(id.Role), TokenID: id.ID, CanWrite: auth.CanWrite(id.Role)}, nil
}

func (b uiBackend) Nodes() []model.NodeView                { return b.nodes.List() }
func (b uiBackend) Tasks(f model.TaskFilter) []*model.Task { return b.tasks.List(f) }
func (b uiBackend) Task(ctx context.Context, id string) (*model.Task, error) {
	return b.tasks.Get(ctx, id)
}
func (b uiBackend) TaskDefinition(ctx context.Context, ref string) (*model.TaskDefinition, error) {
	return b.taskDefs.Get(ctx, ref)
}
func (b uiBackend) Services(ctx context.Context) ([]*model.Service, error) {
	return b.services.List(ctx)
}
func (b uiBackend) Service(ctx context.Context, name string) (*model.Service, []*model.Task, error) {
	return b.services.Get(ctx, name)
}
func (b uiBackend) Scale(ctx context.Context, name string, n int) error {
	_, err := b.services.Scale(ctx, name, n)
	return err
}
func (b uiBackend) Rollback(ctx context.Context, name string) error {
	_, err := b.services.Rollback(ctx, name)
	return err
}

// Queues are the counts of the queues this replica serves; the others'
// counts live with their shards' owners, which the error names.
func (b uiBackend) Queues(ctx context.Context) ([]wire.QueueView, error) {
	sts, err := b.queues.QueueStats(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]wire.QueueView, len(sts))
	for i, st := range sts {
		out[i] = wire.QueueView{Name: st.Name, Fifo: st.Fifo, Visible: st.Visible, InFlight: st.InFlight, Delayed: st.Delayed,
			OldestAgeSeconds: st.OldestAgeSeconds, DeadLetterQueue: st.DeadLetterQueue, MaxReceiveCount: st.MaxReceiveCount,
			URL: b.queues.SelfURL() + "/" + model.AccountID + "/" + st.Name, Arn: model.QueueArn(b.queues.Region(), st.Name),
			Owner: b.queues.SelfURL()}
	}
	names, err := b.queues.ListQueues(ctx, "")
	if err != nil {
		return out, err
	}
	elsewhere := map[string][]string{}
	for _, n := range names {
		if !b.queues.OwnsQueue(n) {
			u := b.queues.QueueOwnerURL(ctx, n)
			if u == "" {
				u = "no replica yet"
			}
			elsewhere[u] = append(elsewhere[u], n)
		}
	}
	if len(elsewhere) == 0 {
		return out, nil
	}
	var parts []string
	for u, ns := range elsewhere {
		parts = append(parts, fmt.Sprintf("%s (%s/ui/queues): %s", u, u, strings.Join(ns, ", ")))
	}
	sort.Strings(parts)
	return out, fmt.Errorf("%w: the other queues live on other replicas; open their dashboards to see them: %s", ui.ErrElsewhere, strings.Join(parts, "; "))
}

func (b uiBackend) Topics(ctx context.Context) ([]wire.TopicView, error) {
	ts, err := b.topics.Topics(ctx)
	if errors.Is(err, topic.ErrNotOwner) {
		owner, _ := b.topics.OwnerURL(ctx)
		return nil, fmt.Errorf("%w: the topics live on %s; open its dashboard (%s/ui/topics) to see them", ui.ErrElsewhere, owner, owner)
	}
	if err != nil {
		return nil, err
	}
	subs, err := b.topics.ListSubscriptions(ctx, "")
	if err != nil {
		return nil, err
	}
	byTopic := map[string][]wire.SubscriptionView{}
	for _, s := range subs {
		byTopic[s.TopicArn] = append(byTopic[s.TopicArn], wire.SubscriptionView{Arn: s.Arn, Protocol: s.Protocol, Endpoint: s.Endpoint,
			State: s.State, Attributes: s.Attributes, Delivered: s.Delivered, Failures: s.Failures, DeadLettered: s.DeadLettered,
			Pending: s.Pending, Dropped: s.Dropped})
	}
	out := make([]wire.TopicView, len(ts))
	for i, t := range ts {
		out[i] = wire.TopicView{Name: t.Name, Arn: t.Arn, Fifo: t.Fifo, Attributes: t.Attributes, Tags: t.Tags, Subscriptions: byTopic[t.Arn]}
	}
	return out, nil
}

func (b uiBackend) Cluster(ctx context.Context) (ui.Cluster, error) {
	c := ui.Cluster{EmbeddedEtcd: b.store.Embedded()}
	var err error
	if c.Servers, err = b.store.Candidates(ctx, "controller"); err != nil {
		return c, err
	}
	if len(c.Servers) > 0 {
		c.Leader = c.Servers[0]
	}
	c.QueueOwner = shardSummary(b.queues.ShardOwners(ctx))
	members, err := b.store.Members(ctx)
	for _, m := range members {
		c.Members = append(c.Members, ui.EtcdMember{ID: m.ID, Name: m.Name, ClientURLs: m.ClientURLs, Leader: m.Leader,
			Healthy: m.Healthy, Err: m.Err, DBSize: m.DBSize})
	}
	return c, err
}

func (b uiBackend) Logs(ctx context.Context, id string, follow bool, tail int) (io.ReadCloser, error) {
	q := url.Values{"tail": {strconv.Itoa(tail)}}
	if follow {
		q.Set("follow", "1")
	}
	return api.AgentLogs{Tasks: b.tasks, Nodes: b.nodes, TLS: b.agentTLS, CallbackToken: b.store.NodeCallbackToken}.Open(ctx, id, q.Encode())
}

// shardSummary says which replica owns how many queue shards.
func shardSummary(owners []string) string {
	count := map[string]int{}
	for _, u := range owners {
		if u == "" {
			u = "no replica"
		}
		count[u]++
	}
	var parts []string
	for u, n := range count {
		parts = append(parts, fmt.Sprintf("%s (%d of %d shards)", u, n, len(owners)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
