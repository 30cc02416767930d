package ui

import (
	"context"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

func (u *UI) show(w http.ResponseWriter, r *http.Request, ss *session, name, title, active, live string, data any) {
	u.renderPage(w, r, http.StatusOK, name, &page{Title: title, Active: active, Live: live, Viewer: ss.viewer, CSRF: ss.csrf, Data: data})
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, model.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, model.ErrInvalid), errors.As(err, new(model.FieldErrors)):
		status = http.StatusBadRequest
	case errors.Is(err, ErrElsewhere):
		status = http.StatusServiceUnavailable
	}
	if status == http.StatusInternalServerError {
		u.log.Error("dashboard request failed", "path", r.URL.Path, "err", err)
	}
	http.Error(w, err.Error(), status)
}

// nodeBox is one node on the Fleet page.
type nodeBox struct {
	model.NodeView
	Tasks []*model.Task // running or on their way, capped at maxTasksPerBox
	More  int
}

const maxTasksPerBox = 12

type fleetData struct {
	Nodes                     []nodeBox
	Active, Draining, Lost    int
	Used, Capacity            model.Resources
	RunningTasks, PendingTask int
}

func (u *UI) fleet(w http.ResponseWriter, r *http.Request, ss *session) {
	nodes := u.cfg.Backend.Nodes()
	slices.SortFunc(nodes, func(a, b model.NodeView) int { return strings.Compare(a.Name, b.Name) })
	byNode := map[string][]*model.Task{}
	for _, t := range u.cfg.Backend.Tasks(model.TaskFilter{DesiredStatus: model.StatusRunning}) {
		if t.NodeName != "" {
			byNode[t.NodeName] = append(byNode[t.NodeName], t)
		}
	}
	d := fleetData{}
	for _, n := range nodes {
		ts := byNode[n.Name]
		slices.SortFunc(ts, func(a, b *model.Task) int { return strings.Compare(a.TaskID, b.TaskID) })
		box := nodeBox{NodeView: n, Tasks: ts}
		if len(ts) > maxTasksPerBox {
			box.Tasks, box.More = ts[:maxTasksPerBox], len(ts)-maxTasksPerBox
		}
		switch {
		case !n.Alive:
			d.Lost++
		case n.Status == model.NodeDraining:
			d.Draining++
		default:
			d.Active++
		}
		d.Used, d.Capacity = d.Used.Add(n.Used), d.Capacity.Add(n.Capacity)
		d.RunningTasks += n.RunningTasks
		d.PendingTask += n.PendingTasks
		d.Nodes = append(d.Nodes, box)
	}
	u.show(w, r, ss, "fleet", "Fleet", "/ui/fleet", "nodes tasks", d)
}

func (u *UI) node(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("name")
	var found *model.NodeView
	for _, n := range u.cfg.Backend.Nodes() {
		if n.Name == name {
			found = &n
			break
		}
	}
	if found == nil {
		u.fail(w, r, errors.Join(model.ErrNotFound, errors.New("no node named "+name+" (see /ui/fleet)")))
		return
	}
	tasks := u.cfg.Backend.Tasks(model.TaskFilter{Node: name})
	sortTasks(tasks)
	u.show(w, r, ss, "node", "Node "+name, "/ui/fleet", "nodes tasks", map[string]any{"Node": found, "Tasks": tasks})
}

func sortTasks(ts []*model.Task) {
	slices.SortFunc(ts, func(a, b *model.Task) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.TaskID, b.TaskID)
	})
}

// serviceRow is one service with what the page derives from it.
type serviceRow struct {
	*model.Service
	Desired  int
	Primary  *model.Deployment
	Progress int // percent of the primary deployment running
	Breaker  string
}

func serviceRowOf(s *model.Service) serviceRow {
	row := serviceRow{Service: s, Desired: s.Desired(), Primary: s.Primary()}
	if p := row.Primary; p != nil && p.DesiredCount > 0 {
		row.Progress = min(100, p.RunningCount*100/p.DesiredCount)
	} else if row.Primary != nil {
		row.Progress = 100
	}
	cb := s.CircuitBreaker()
	switch {
	case !cb.Enable:
		row.Breaker = "off"
	case row.Primary != nil && row.Primary.RolloutState == model.RolloutFailed:
		row.Breaker = "tripped"
	case row.Primary != nil:
		row.Breaker = "armed: " + strconv.Itoa(row.Primary.FailedTasks) + " of " + strconv.Itoa(model.CircuitBreakerThreshold(row.Primary.DesiredCount)) + " failures"
	default:
		row.Breaker = "armed"
	}
	if cb.Enable && cb.Rollback {
		row.Breaker += ", rolls back"
	}
	return row
}

func (u *UI) services(w http.ResponseWriter, r *http.Request, ss *session) {
	svcs, err := u.cfg.Backend.Services(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	slices.SortFunc(svcs, func(a, b *model.Service) int { return strings.Compare(a.ServiceName, b.ServiceName) })
	rows := make([]serviceRow, len(svcs))
	for i, s := range svcs {
		rows[i] = serviceRowOf(s)
	}
	u.show(w, r, ss, "services", "Services", "/ui/services", "services tasks", rows)
}

func (u *UI) service(w http.ResponseWriter, r *http.Request, ss *session) {
	s, tasks, err := u.cfg.Backend.Service(r.Context(), r.PathValue("name"))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	sortTasks(tasks)
	events := slices.Clone(s.Events)
	slices.SortFunc(events, func(a, b model.ServiceEvent) int { return b.CreatedAt.Compare(a.CreatedAt) })
	deps := make([]serviceRow, 0, len(s.Deployments))
	for i := range s.Deployments {
		d := &s.Deployments[i]
		row := serviceRow{Primary: d}
		if d.DesiredCount > 0 {
			row.Progress = min(100, d.RunningCount*100/d.DesiredCount)
		}
		deps = append(deps, row)
	}
	u.show(w, r, ss, "service", "Service "+s.ServiceName, "/ui/services", "services tasks",
		map[string]any{"S": serviceRowOf(s), "Deployments": deps, "Events": events, "Tasks": tasks})
}

func (u *UI) scale(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("name")
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("desiredCount")))
	if err != nil || n < 0 || n > model.MaxServiceDesiredCount {
		http.Error(w, "desiredCount: want a whole number from 0 to "+strconv.Itoa(model.MaxServiceDesiredCount)+", got "+strconv.Quote(r.PostFormValue("desiredCount")), http.StatusBadRequest)
		return
	}
	if err := u.cfg.Backend.Scale(r.Context(), name, n); err != nil {
		u.fail(w, r, err)
		return
	}
	u.log.Info("dashboard scaled a service", "service", name, "desiredCount", n, "by", ss.viewer.Name)
	http.Redirect(w, r, "/ui/services/"+url.PathEscape(name)+"?flash="+url.QueryEscape("Scaled to "+strconv.Itoa(n)+"."), http.StatusSeeOther)
}

func (u *UI) rollback(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("name")
	if err := u.cfg.Backend.Rollback(r.Context(), name); err != nil {
		u.fail(w, r, err)
		return
	}
	u.log.Info("dashboard rolled back a service", "service", name, "by", ss.viewer.Name)
	http.Redirect(w, r, "/ui/services/"+url.PathEscape(name)+"?flash="+url.QueryEscape("Rolling back to the last completed deployment."), http.StatusSeeOther)
}

// maxTaskRows bounds the Tasks table; filters narrow it down.
const maxTaskRows = 500

var taskStatuses = []string{model.StatusProvisioning, model.StatusPending, model.StatusActivating, model.StatusRunning,
	model.StatusDeactivating, model.StatusStopping, model.StatusDeprovisioning, model.StatusStopped}

func (u *UI) tasks(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	f := model.TaskFilter{Node: q.Get("node"), LastStatus: q.Get("status")}
	if svc := q.Get("service"); svc != "" {
		f.Group = model.ServiceGroup(svc)
	}
	if f.LastStatus != "" && !slices.Contains(taskStatuses, f.LastStatus) {
		http.Error(w, "status: want one of "+strings.Join(taskStatuses, ", ")+", got "+strconv.Quote(f.LastStatus), http.StatusBadRequest)
		return
	}
	all := u.cfg.Backend.Tasks(f)
	sortTasks(all)
	total := len(all)
	if len(all) > maxTaskRows {
		all = all[:maxTaskRows]
	}
	// The filter form's choices are outside the live region: a live
	// update does not need them.
	var svcNames, nodeNames []string
	if r.Header.Get("X-UI-Fragment") != "1" {
		if svcs, err := u.cfg.Backend.Services(r.Context()); err == nil {
			for _, s := range svcs {
				svcNames = append(svcNames, s.ServiceName)
			}
			slices.Sort(svcNames)
		}
		for _, n := range u.cfg.Backend.Nodes() {
			nodeNames = append(nodeNames, n.Name)
		}
		slices.Sort(nodeNames)
	}
	u.show(w, r, ss, "tasks", "Tasks", "/ui/tasks", "tasks", map[string]any{
		"Tasks": all, "Total": total, "Service": q.Get("service"), "Status": f.LastStatus, "Node": f.Node,
		"Services": svcNames, "Nodes": nodeNames, "Statuses": taskStatuses, "Max": maxTaskRows})
}

func (u *UI) task(w http.ResponseWriter, r *http.Request, ss *session) {
	t, err := u.cfg.Backend.Task(r.Context(), r.PathValue("id"))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	events := slices.Clone(t.Events)
	slices.SortFunc(events, func(a, b model.TaskEvent) int { return b.At.Compare(a.At) })
	u.show(w, r, ss, "task", "Task "+funcs["short"].(func(string) string)(t.TaskID), "/ui/tasks", "tasks",
		map[string]any{"T": t, "Events": events, "Service": model.ServiceOf(t)})
}

// logs is GET /ui/tasks/{id}/logs: the last 500 lines as plain text, or
// (follow=1) a stream the page's script appends as lines arrive.
func (u *UI) logs(w http.ResponseWriter, r *http.Request, ss *session) {
	follow := r.URL.Query().Get("follow") == "1"
	rc, err := u.cfg.Backend.Logs(r.Context(), r.PathValue("id"), follow, 500)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, model.ErrNotFound) {
			status = http.StatusNotFound
		}
		http.Error(w, "logs: "+err.Error(), status)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	buf := make([]byte, 16<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			if err != io.EOF && r.Context().Err() == nil {
				u.log.Debug("log stream ended", "task", r.PathValue("id"), "err", err)
			}
			return
		}
	}
}

// queueRow is one queue with its chart.
type queueRow struct {
	wire.QueueView
	Chart   template.HTML
	Samples int
	DLQOf   []string // queues that send their failures here
	FedBy   []string // topics with a subscription delivering here
	Users   []queueUser
}

// queueUser is a service (or, for standalone tasks, a task family) whose
// running tasks name the queue in their environment (QUEUE=orders, a
// queue URL or ARN): the tasks that send to or drain it.
type queueUser struct {
	Service, Family string
	Tasks           int
}

// envValues returns the environment values a task's containers get: its
// task definition's, then its overrides'.
func (u *UI) envValues(ctx context.Context, t *model.Task) []string {
	ref := model.TaskRef(t)
	var vals []string
	if v, ok := u.tdEnv.Load(ref); ok {
		vals = v.([]string)
	} else if td, err := u.cfg.Backend.TaskDefinition(ctx, ref); err == nil {
		for _, c := range td.ContainerDefinitions {
			for _, kv := range c.Environment {
				vals = append(vals, kv.Value)
			}
		}
		u.tdEnv.Store(ref, vals)
	}
	for _, o := range t.Overrides {
		for _, kv := range o.Environment {
			vals = append(vals, kv.Value)
		}
	}
	return vals
}

// queueUsers links queues to the services whose running tasks name them.
func (u *UI) queueUsers(ctx context.Context, rows []queueRow) {
	type key struct{ q, svc, fam string }
	counts := map[key]int{}
	for _, t := range u.cfg.Backend.Tasks(model.TaskFilter{DesiredStatus: model.StatusRunning}) {
		vals := u.envValues(ctx, t)
		for _, r := range rows {
			if slices.ContainsFunc(vals, func(v string) bool {
				return v == r.Name || v == r.URL || v == r.Arn || strings.HasSuffix(v, "/"+r.Name)
			}) {
				k := key{r.Name, model.ServiceOf(t), ""}
				if k.svc == "" {
					k.fam = t.Family
				}
				counts[k]++
			}
		}
	}
	for i := range rows {
		for k, n := range counts {
			if k.q == rows[i].Name {
				rows[i].Users = append(rows[i].Users, queueUser{Service: k.svc, Family: k.fam, Tasks: n})
			}
		}
		// Services first, then standalone tasks by family.
		slices.SortFunc(rows[i].Users, func(a, b queueUser) int {
			if (a.Service == "") != (b.Service == "") {
				return strings.Compare(b.Service, a.Service)
			}
			return strings.Compare(a.Service+"/"+a.Family, b.Service+"/"+b.Family)
		})
	}
}

func (u *UI) queues(w http.ResponseWriter, r *http.Request, ss *session) {
	u.qmu.Lock()
	qs, err := u.qlatest, u.qerr
	rows := make([]queueRow, len(qs))
	for i, q := range qs {
		h := u.qhist[q.Name]
		rows[i] = queueRow{QueueView: q, Chart: chart(h), Samples: len(h)}
	}
	u.qmu.Unlock()
	for i := range rows {
		for _, o := range rows {
			if o.DeadLetterQueue == rows[i].Name {
				rows[i].DLQOf = append(rows[i].DLQOf, o.Name)
			}
		}
	}
	u.queueUsers(r.Context(), rows)
	fed := u.feeders()
	for i := range rows {
		rows[i].FedBy = fed[rows[i].Name]
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	u.show(w, r, ss, "queues", "Queues", "/ui/queues", "queues topics",
		map[string]any{"Queues": rows, "Err": msg, "Every": u.cfg.QueueSampleEvery, "Span": human(time.Duration(u.cfg.QueueHistory) * u.cfg.QueueSampleEvery)})
}

func (u *UI) cluster(w http.ResponseWriter, r *http.Request, ss *session) {
	c, err := u.cfg.Backend.Cluster(r.Context())
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	u.show(w, r, ss, "cluster", "Cluster", "/ui/cluster", "nodes", map[string]any{"C": c, "Err": msg})
}
