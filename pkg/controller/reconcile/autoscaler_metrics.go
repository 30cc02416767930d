package reconcile

import "github.com/prometheus/client_golang/prometheus"

// ScalingMetrics are the autoscaler's inputs and decisions in /metrics.
type ScalingMetrics struct {
	Backlog     *prometheus.GaugeVec   // service, queue: visible + in-flight messages
	Utilization *prometheus.GaugeVec   // service, metric (cpu|memory): average percent of reservation
	Desired     *prometheus.GaugeVec   // service: desired count
	Recommended *prometheus.GaugeVec   // service: what the policies ask for (-1: no data)
	Actions     *prometheus.CounterVec // service, direction (out|in)
}

func newScalingMetrics(reg prometheus.Registerer) *ScalingMetrics {
	m := &ScalingMetrics{
		Backlog:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orch_autoscaling_queue_backlog", Help: "Visible plus in-flight messages of a queue a scaling policy follows."}, []string{"service", "queue"}),
		Utilization: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orch_autoscaling_utilization_percent", Help: "Average CPU or memory utilisation of a scaled service's running tasks, percent of their reservation."}, []string{"service", "metric"}),
		Desired:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orch_autoscaling_desired_count", Help: "Desired count of a scaled service after its last evaluation."}, []string{"service"}),
		Recommended: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orch_autoscaling_recommended_count", Help: "Count a scaled service's policies ask for before stabilisation and cooldowns (-1: no metrics)."}, []string{"service"}),
		Actions:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orch_autoscaling_actions_total", Help: "Desired count changes made by auto scaling."}, []string{"service", "direction"}),
	}
	if reg != nil {
		reg.MustRegister(m.Backlog, m.Utilization, m.Desired, m.Recommended, m.Actions)
	}
	return m
}
