package reconcile

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the controller's Prometheus series.
type Metrics struct {
	Placements      prometheus.Counter
	PlacementErrors prometheus.Counter
	Pending         prometheus.Gauge
	Passes          prometheus.Histogram
	Leader          prometheus.Gauge
	Scaling         *ScalingMetrics
}

// NewMetrics creates the series and registers them with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Placements:      prometheus.NewCounter(prometheus.CounterOpts{Name: "orch_placements_total", Help: "Tasks placed on nodes."}),
		PlacementErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "orch_placement_conflicts_total", Help: "Placements dropped because the task changed meanwhile."}),
		Pending:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "orch_tasks_unplaced", Help: "Tasks waiting for a node after the last pass."}),
		Passes:          prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orch_scheduler_pass_seconds", Help: "Duration of a scheduling pass including commits.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		Leader:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "orch_controller_leader", Help: "1 when this process leads the controller election."}),
	}
	if reg != nil {
		reg.MustRegister(m.Placements, m.PlacementErrors, m.Pending, m.Passes, m.Leader)
	}
	m.Scaling = newScalingMetrics(reg)
	return m
}

func (m *Metrics) setLeader(v bool) {
	if v {
		m.Leader.Set(1)
	} else {
		m.Leader.Set(0)
	}
}
