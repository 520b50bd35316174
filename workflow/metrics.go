package workflow

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the workflow's Prometheus metrics: the reminders and messages
// it sent. The queue's are queue.Metrics.
type Metrics struct {
	reminders *prometheus.CounterVec
	messages  *prometheus.CounterVec
	digests   *prometheus.CounterVec // aftermath_digests_total: digest.go
	// recurrences: recurrence.go.
	recurrences *prometheus.CounterVec
	// followupReminders counts the overdue follow-ups' reminders
	// (followup_reminders.go).
	followupReminders *prometheus.CounterVec
}

// NewMetrics creates the workflow's metrics and registers them with reg, when
// reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reminders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftermath_reminders_total",
			Help: "Reminders the workflow ran, by outcome: sent (the comment is on the epic), skipped (Reviewed or Closed meanwhile), failed (an attempt failed; it is retried).",
		}, []string{"outcome"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftermath_notifications_total",
			Help: "Messages about post-mortems by channel (email, slack) and outcome: sent, failed (an attempt failed; retried unless refused for good), unknown (an earlier attempt may have sent it: not sent again).",
		}, []string{"channel", "outcome"}),
		digests: newDigestCounter(),
		followupReminders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftermath_followup_reminders_total",
			Help: "Overdue follow-up reminders the workflow ran, by outcome: sent (the comment is on the ticket), skipped_done (done or deleted since it was queued), skipped_moved (its due date moved), skipped_unknown (no longer tracked), failed (an attempt failed; it is retried).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{fuReminderSent, fuReminderDone, fuReminderMoved, fuReminderUnknown, fuReminderFailed} {
		m.followupReminders.WithLabelValues(o)
	}
	for _, c := range []string{"email", "slack"} {
		for _, o := range []string{"sent", "failed", "unknown"} {
			m.messages.WithLabelValues(c, o)
		}
	}
	for _, o := range []string{"sent", "skipped", "failed"} {
		m.reminders.WithLabelValues(o)
	}
	m.recurrences = newRecurrences()
	if reg != nil {
		reg.MustRegister(m.reminders, m.messages, m.digests, m.recurrences, m.followupReminders)
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

// newRecurrences is aftermath_recurrences_total.
func newRecurrences() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aftermath_recurrences_total",
		Help: "Incidents that resolved while an earlier post-mortem on their services (or grouping scope) still had open follow-ups, by the incident's own severity (none: its priority maps to no severity). Counted once an incident, however many earlier post-mortems it recurs.",
	}, []string{"severity"})
}

// recurrence counts an incident that recurred; a nil Metrics counts
// nothing.
func (m *Metrics) recurrence(severity string) {
	if m != nil {
		m.recurrences.WithLabelValues(severity).Inc()
	}
}

// followupReminder counts a follow-up reminder's outcome; a nil Metrics
// counts nothing.
func (m *Metrics) followupReminder(outcome string) {
	if m != nil {
		m.followupReminders.WithLabelValues(outcome).Inc()
	}
}
