package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/controller"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
)

// usageFeature serves GET /v1/usage (orch usage) and puts the same
// figures on /metrics: per function what Lambda bills (from the
// functions' meter) and per service and task what Fargate bills (vCPU-
// and GB-seconds, computed from the task cache at each request).
type usageFeature struct {
	caches *controller.Caches
	fns    *function.Service
}

func newUsageFeature(caches *controller.Caches, fns *function.Service, reg *prometheus.Registry) usageFeature {
	u := usageFeature{caches: caches, fns: fns}
	for _, c := range fns.Collectors() {
		reg.MustRegister(c)
	}
	reg.MustRegister(taskUsageCollector{u})
	return u
}

func (u usageFeature) Routes(r api.Routes) {
	r.Handle("GET /v1/usage", auth.RoleViewer, u.serve)
}

func (u usageFeature) Kinds() []api.Kind         { return nil }
func (u usageFeature) Run(context.Context) error { return nil }

func (u usageFeature) serve(w http.ResponseWriter, _ *http.Request) {
	out := wire.Usage{Functions: []wire.FunctionUsage{}}
	for _, f := range u.fns.Usage() {
		out.Functions = append(out.Functions, functionUsage(f))
	}
	out.Services, out.Tasks = u.tasks(time.Now())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// tasks returns the usage of every recorded task and its sum per service
// (standalone tasks under service ""), both in a stable order.
func (u usageFeature) tasks(now time.Time) ([]wire.ServiceUsage, []wire.TaskUsage) {
	tasks := []wire.TaskUsage{}
	by := map[string]*wire.ServiceUsage{}
	for _, t := range u.caches.Tasks.List() {
		tu := model.UsageOf(t, now)
		tasks = append(tasks, wire.TaskUsage{TaskID: tu.TaskID, Service: tu.Service, Family: tu.Family, Running: tu.Running,
			Seconds: tu.Seconds, VCPUSeconds: tu.VCPUSeconds, GBSeconds: tu.GBSeconds})
		s := by[tu.Service]
		if s == nil {
			s = &wire.ServiceUsage{Service: tu.Service}
			by[tu.Service] = s
		}
		s.Tasks++
		s.VCPUSeconds += tu.VCPUSeconds
		s.GBSeconds += tu.GBSeconds
	}
	services := make([]wire.ServiceUsage, 0, len(by))
	for _, s := range by {
		services = append(services, *s)
	}
	sort.Slice(services, func(i, j int) bool { return services[i].Service < services[j].Service })
	sort.Slice(tasks, func(i, j int) bool {
		if tasks[i].Service != tasks[j].Service {
			return tasks[i].Service < tasks[j].Service
		}
		return tasks[i].TaskID < tasks[j].TaskID
	})
	return services, tasks
}

var (
	svcVCPUDesc = prometheus.NewDesc("orch_service_vcpu_seconds", "vCPU-seconds of a service's recorded tasks (Fargate billing: pull start to stop, 1-minute minimum); service \"\" is standalone tasks.", []string{"service"}, nil)
	svcGBDesc   = prometheus.NewDesc("orch_service_gb_seconds", "GB-seconds of memory reserved by a service's recorded tasks (Fargate billing).", []string{"service"}, nil)
	taskVCPU    = prometheus.NewDesc("orch_task_vcpu_seconds", "vCPU-seconds of a recorded task (Fargate billing).", []string{"task", "service", "family"}, nil)
	taskGB      = prometheus.NewDesc("orch_task_gb_seconds", "GB-seconds of a recorded task (Fargate billing).", []string{"task", "service", "family"}, nil)
)

// taskUsageCollector computes the services' and tasks' usage at scrape
// time. They are gauges: stopped tasks leave the figures when their
// retention ends.
type taskUsageCollector struct{ u usageFeature }

func (c taskUsageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- svcVCPUDesc
	ch <- svcGBDesc
	ch <- taskVCPU
	ch <- taskGB
}

func (c taskUsageCollector) Collect(ch chan<- prometheus.Metric) {
	services, tasks := c.u.tasks(time.Now())
	for _, s := range services {
		ch <- prometheus.MustNewConstMetric(svcVCPUDesc, prometheus.GaugeValue, s.VCPUSeconds, s.Service)
		ch <- prometheus.MustNewConstMetric(svcGBDesc, prometheus.GaugeValue, s.GBSeconds, s.Service)
	}
	for _, t := range tasks {
		ch <- prometheus.MustNewConstMetric(taskVCPU, prometheus.GaugeValue, t.VCPUSeconds, t.TaskID, t.Service, t.Family)
		ch <- prometheus.MustNewConstMetric(taskGB, prometheus.GaugeValue, t.GBSeconds, t.TaskID, t.Service, t.Family)
	}
}

// functionUsage is a function's metering on the wire (orch usage, the
// dashboard).
func functionUsage(f function.Usage) wire.FunctionUsage {
	return wire.FunctionUsage{Function: f.Function, Invocations: f.Invocations, Errors: f.Errors,
		Throttles: f.Throttles, ColdStarts: f.ColdStarts, P50Ms: ms(f.P50), P99Ms: ms(f.P99), BilledMs: f.BilledMs, GBSeconds: f.GBSeconds,
		MaxMemoryUsedMB: f.MaxMemoryUsedMiB}
}
