package function

import (
	"errors"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Usage is one function's metering on this server since it started: what
// a Lambda bill is based on (requests and GB-seconds of billed duration,
// rounded up to 1 ms) and the figures an operator watches.
type Usage struct {
	Function    string
	Invocations int64 // every call routed to an agent or throttled
	Errors      int64 // handler errors, timeouts, crashes, failed inits, lost agents
	Throttles   int64
	ColdStarts  int64
	BilledMs    int64
	GBSeconds   float64
	P50, P99    time.Duration // of the last durationWindow durations
	// MaxMemoryUsedMiB is the highest Max Memory Used an invocation
	// reported (an environment's peak; 0 when the agents cannot tell).
	MaxMemoryUsedMiB int
}

// durationWindow is how many recent durations the percentiles are of.
const durationWindow = 1024

// meter counts invocations per function, in memory (per server replica,
// like the function logs) and on /metrics.
type meter struct {
	mu  sync.Mutex
	fns map[string]*fnMeter

	invocations, errors, throttles, coldStarts *prometheus.CounterVec
	gbSeconds                                  *prometheus.CounterVec
	maxMemory                                  *prometheus.GaugeVec
	duration                                   *prometheus.HistogramVec
}

type fnMeter struct {
	u      Usage
	recent []time.Duration
	next   int
	// The function's series of the metrics every invocation moves, looked
	// up once (WithLabelValues hashes the label and takes a lock each time).
	invocations, gbSeconds prometheus.Counter
	duration               prometheus.Observer
}

func newMeter() *meter {
	return &meter{fns: map[string]*fnMeter{},
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_function_invocations_total", Help: "Function invocations (throttled ones included)."}, []string{"function"}),
		errors:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_function_errors_total", Help: "Function invocations that failed: handler error, timeout, crash, failed init or lost agent."}, []string{"function"}),
		throttles:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_function_throttles_total", Help: "Function invocations refused at the concurrency limit."}, []string{"function"}),
		coldStarts:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_function_cold_starts_total", Help: "Function invocations that started an environment."}, []string{"function"}),
		gbSeconds:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_function_gb_seconds_total", Help: "Billed duration (1 ms granularity) times configured memory, in GB-seconds."}, []string{"function"}),
		maxMemory:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orch_function_max_memory_used_bytes", Help: "The highest Max Memory Used (an environment's peak memory) reported by the function's invocations."}, []string{"function"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orch_function_duration_seconds", Help: "Function handler duration as the agent measured it.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"function"}),
	}
}

// collectors are the meter's Prometheus metrics.
func (m *meter) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.invocations, m.errors, m.throttles, m.coldStarts, m.gbSeconds, m.maxMemory, m.duration}
}

// billedMs is Lambda's billed duration: rounded up to 1 ms, at least 1.
func billedMs(d time.Duration) int64 {
	return max(1, int64(math.Ceil(float64(d)/float64(time.Millisecond))))
}

// record meters one invocation's outcome. One that found no agent at all
// never ran and is not metered (the caller got a 503-class error).
func (m *meter) record(fn string, memMiB int, r Result, err error) {
	if errors.Is(err, ErrNoAgents) {
		return
	}
	m.mu.Lock()
	f := m.fns[fn]
	if f == nil {
		f = &fnMeter{u: Usage{Function: fn}, invocations: m.invocations.WithLabelValues(fn),
			gbSeconds: m.gbSeconds.WithLabelValues(fn), duration: m.duration.WithLabelValues(fn)}
		m.fns[fn] = f
	}
	f.u.Invocations++
	f.invocations.Inc()
	throttled := errors.Is(err, ErrThrottled)
	switch {
	case throttled:
		f.u.Throttles++
		m.throttles.WithLabelValues(fn).Inc()
	case err != nil || r.FunctionError != "":
		f.u.Errors++
		m.errors.WithLabelValues(fn).Inc()
	}
	if r.MaxMemoryMiB > f.u.MaxMemoryUsedMiB {
		f.u.MaxMemoryUsedMiB = r.MaxMemoryMiB
		m.maxMemory.WithLabelValues(fn).Set(float64(r.MaxMemoryMiB) * (1 << 20))
	}
	if r.InitDuration > 0 {
		f.u.ColdStarts++
		m.coldStarts.WithLabelValues(fn).Inc()
	}
	// Billed: what ran on an agent (a throttle or a lost agent ran nothing
	// we know the duration of).
	if err == nil {
		ms := billedMs(r.Duration)
		gbs := float64(ms) / 1000 * float64(memMiB) / 1024
		f.u.BilledMs += ms
		f.u.GBSeconds += gbs
		f.gbSeconds.Add(gbs)
		f.duration.Observe(r.Duration.Seconds())
		if len(f.recent) < durationWindow {
			f.recent = append(f.recent, r.Duration)
		} else {
			f.recent[f.next] = r.Duration
			f.next = (f.next + 1) % durationWindow
		}
	}
	m.mu.Unlock()
}

// usage returns every metered function's usage in name order.
func (m *meter) usage() []Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Usage, 0, len(m.fns))
	for _, f := range m.fns {
		u := f.u
		d := append([]time.Duration(nil), f.recent...)
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		if len(d) > 0 {
			u.P50 = d[len(d)/2]
			u.P99 = d[min(len(d)-1, len(d)*99/100)]
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Function < out[j].Function })
	return out
}

// forget drops a deleted function's figures. The series go under mu
// too: a record at the same time then either keeps series still exported
// or makes new ones, never keeps ones just deleted.
func (m *meter) forget(fn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.fns, fn)
	for _, v := range []*prometheus.CounterVec{m.invocations, m.errors, m.throttles, m.coldStarts, m.gbSeconds} {
		v.DeleteLabelValues(fn)
	}
	m.duration.DeleteLabelValues(fn)
	m.maxMemory.DeleteLabelValues(fn)
}
