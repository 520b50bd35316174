package store

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the queue's and the post-mortems' gauges, read from
// Redis at scrape time so that every replica reports the shared state as it
// is (a post-mortem counts from its registration, whoever registered it).
type Collector struct {
	s           *Store
	timeout     time.Duration
	length      *prometheus.Desc
	pending     *prometheus.Desc
	dead        *prometheus.Desc
	retrying    *prometheus.Desc
	up          *prometheus.Desc
	postmortems *prometheus.Desc
	overdue     *prometheus.Desc
	followups   *prometheus.Desc
}

// NewCollector returns a Collector for s.
func NewCollector(s *Store) *Collector {
	return &Collector{
		s:        s,
		timeout:  2 * time.Second,
		length:   prometheus.NewDesc("aftermath_queue_length", "Entries in the event stream: waiting or being processed.", nil, nil),
		pending:  prometheus.NewDesc("aftermath_queue_pending", "Entries delivered to a worker and not yet acknowledged.", nil, nil),
		dead:     prometheus.NewDesc("aftermath_queue_dead_letters", "Entries parked in the dead-letter stream.", nil, nil),
		retrying: prometheus.NewDesc("aftermath_queue_retrying", "Pending entries waiting for their retry time after a failure a retry can fix (a Jira or PagerDuty outage).", nil, nil),
		up:       prometheus.NewDesc("aftermath_redis_up", "1 when Redis answered the last scrape's queue query, else 0.", nil, nil),
		postmortems: prometheus.NewDesc("aftermath_postmortems",
			"Open post-mortems (not Closed) by status, read from Redis when scraped: every replica reports all of them.", []string{"status"}, nil),
		overdue: prometheus.NewDesc("aftermath_postmortems_overdue",
			"Post-mortems past their meeting deadline and not Reviewed, read from Redis when scraped.", nil, nil),
		followups: prometheus.NewDesc("aftermath_followups",
			"Follow-up tickets as the status sync last saw them, read from Redis when scraped: open (not done, not deleted), overdue (open and past the end of their due date), done.", []string{"state"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.length
	ch <- c.pending
	ch <- c.dead
	ch <- c.retrying
	ch <- c.up
	ch <- c.postmortems
	ch <- c.overdue
	ch <- c.followups
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.s.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.length, prometheus.GaugeValue, float64(st.Length))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(st.Dead))
	ch <- prometheus.MustNewConstMetric(c.retrying, prometheus.GaugeValue, float64(st.Retrying))
	pm, err := c.s.PostmortemStats(ctx)
	if err != nil {
		return // no value rather than a wrong one; aftermath_redis_up says Redis answers
	}
	for _, status := range openStatuses {
		ch <- prometheus.MustNewConstMetric(c.postmortems, prometheus.GaugeValue, float64(pm.ByStatus[status]), status)
	}
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(pm.Overdue))
	fu, err := c.s.FollowupStats(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.followups, prometheus.GaugeValue, float64(fu.Open), "open")
	ch <- prometheus.MustNewConstMetric(c.followups, prometheus.GaugeValue, float64(fu.Overdue), "overdue")
	ch <- prometheus.MustNewConstMetric(c.followups, prometheus.GaugeValue, float64(fu.Done), "done")
}
