package queue

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's Prometheus metrics.
type Metrics struct {
	outcomes  *prometheus.CounterVec
	duration  prometheus.Histogram
	panics    prometheus.Counter
	reclaimed prometheus.Counter
}

// NewMetrics creates the worker's metrics and registers them with reg, when
// reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftermath_processing_total",
			Help: "Processing attempts of queued events by outcome: done, retry, dead_lettered, released (handed back on shutdown), lost (reclaimed by another consumer).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aftermath_processing_duration_seconds",
			Help:    "Duration of one processing attempt.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 8),
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aftermath_processing_panics_total",
			Help: "Processing attempts that panicked (recovered, counted as failed attempts).",
		}),
		reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aftermath_queue_reclaimed_total",
			Help: "Queue entries taken over from a consumer that stopped heartbeating.",
		}),
	}
	for _, o := range []string{"done", "retry", "dead_lettered", "released", "lost"} {
		m.outcomes.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.duration, m.panics, m.reclaimed)
	}
	return m
}
