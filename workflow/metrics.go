package workflow

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's Prometheus metrics.
type Metrics struct {
	outcomes  *prometheus.CounterVec
	duration  prometheus.Histogram
	panics    prometheus.Counter
	reclaimed prometheus.Counter
	reminders *prometheus.CounterVec
	messages  *prometheus.CounterVec
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
		reminders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftermath_reminders_total",
			Help: "Reminders the workflow ran, by outcome: sent (the comment is on the epic), skipped (Reviewed or Closed meanwhile), failed (an attempt failed; it is retried).",
		}, []string{"outcome"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftermath_notifications_total",
			Help: "Messages about post-mortems by channel (email, slack) and outcome: sent, failed (an attempt failed; retried unless refused for good), unknown (an earlier attempt may have sent it: not sent again).",
		}, []string{"channel", "outcome"}),
	}
	for _, c := range []string{"email", "slack"} {
		for _, o := range []string{"sent", "failed", "unknown"} {
			m.messages.WithLabelValues(c, o)
		}
	}
	for _, o := range []string{"sent", "skipped", "failed"} {
		m.reminders.WithLabelValues(o)
	}
	for _, o := range []string{"done", "retry", "dead_lettered", "released", "lost"} {
		m.outcomes.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.duration, m.panics, m.reclaimed, m.reminders, m.messages)
	}
	return m
}

// reminder counts a reminder's outcome; a nil Metrics counts nothing.
func (m *Metrics) reminder(outcome string) {
	if m != nil {
		m.reminders.WithLabelValues(outcome).Inc()
	}
}

// notification counts a message's outcome; a nil Metrics counts nothing.
func (m *Metrics) notification(channel, outcome string) {
	if m != nil {
		m.messages.WithLabelValues(channel, outcome).Inc()
	}
}
