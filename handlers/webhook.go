package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/webhook"
	"github.com/aftermath-dev/aftermath/store"
)

// WebhookIDHeader is the same on every retry of one delivery.
const WebhookIDHeader = "X-Webhook-Id"

// Webhook outcomes, as metric labels.
const (
	outcomeQueued       = "queued"
	outcomeDuplicate    = "duplicate"
	outcomeIgnored      = "ignored"
	outcomeUnauthorized = "unauthorized"
	outcomeBadRequest   = "bad_request"
	outcomeTooLarge     = "too_large"
	outcomeUnavailable  = "unavailable"
)

type webhookMetrics struct {
	total   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func newWebhookMetrics(reg prometheus.Registerer) *webhookMetrics {
	m := &webhookMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftermath_webhooks_total",
			Help: "PagerDuty webhooks received, by outcome: queued, duplicate, ignored, unauthorized, bad_request, too_large, unavailable.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aftermath_webhook_ingest_duration_seconds",
			Help:    "Time from reading a webhook to answering it, by outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"outcome"}),
	}
	for _, o := range []string{outcomeQueued, outcomeDuplicate, outcomeIgnored, outcomeUnauthorized, outcomeBadRequest, outcomeTooLarge, outcomeUnavailable} {
		m.total.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.total, m.latency)
	}
	return m
}

type webhookHandler struct {
	opts    Options
	metrics *webhookMetrics
}

type webhookAnswer struct {
	Status     string `json:"status,omitempty"`
	Error      string `json:"error,omitempty"`
	EventID    string `json:"event_id,omitempty"`
	EventType  string `json:"event_type,omitempty"`
	IncidentID string `json:"incident_id,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// serve verifies, decodes, stores and answers; nothing else. A 2xx is sent
// only once the event is in Redis, so an answered event is never lost.
func (h *webhookHandler) serve(c echo.Context) error {
	start := time.Now()
	code, outcome, answer := h.ingest(c)
	h.metrics.total.WithLabelValues(outcome).Inc()
	h.metrics.latency.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return c.JSON(code, answer)
}

func (h *webhookHandler) ingest(c echo.Context) (int, string, webhookAnswer) {
	req := c.Request()
	log := h.opts.Logger.With("remote", c.RealIP(), "webhook_id", clipHeader(req.Header.Get(WebhookIDHeader)))
	limit := h.opts.MaxBodyBytes

	if req.ContentLength > limit {
		log.Warn("webhook refused: body too large", "content_length", req.ContentLength)
		return http.StatusRequestEntityTooLarge, outcomeTooLarge, webhookAnswer{Error: fmt.Sprintf("body exceeds %d bytes", limit)}
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		log.Warn("webhook refused: reading the body failed", "err", err)
		return http.StatusBadRequest, outcomeBadRequest, webhookAnswer{Error: "could not read the request body"}
	}
	if int64(len(body)) > limit {
		log.Warn("webhook refused: body too large")
		return http.StatusRequestEntityTooLarge, outcomeTooLarge, webhookAnswer{Error: fmt.Sprintf("body exceeds %d bytes", limit)}
	}

	switch err := h.opts.Verifier.Verify(req.Header.Get(webhook.SignatureHeader), body); {
	case errors.Is(err, webhook.ErrEmptyBody):
		return http.StatusBadRequest, outcomeBadRequest, webhookAnswer{Error: "empty body: not a PagerDuty V3 webhook"}
	case err != nil:
		log.Warn("webhook refused: signature", "reason", err.Error())
		return http.StatusUnauthorized, outcomeUnauthorized, webhookAnswer{Error: err.Error()}
	}

	env, err := webhook.Decode(body)
	if err != nil {
		log.Warn("webhook refused: not a V3 envelope", "reason", err.Error())
		return http.StatusBadRequest, outcomeBadRequest, webhookAnswer{Error: err.Error()}
	}
	ev := &env.Event
	log = log.With("event", ev.ID, "event_type", ev.EventType, "incident", ev.IncidentID())

	if !h.opts.QueueEvent(ev.EventType) {
		log.Debug("webhook ignored")
		return http.StatusOK, outcomeIgnored, webhookAnswer{
			Status: "ignored", EventID: ev.ID, EventType: ev.EventType,
			Reason: "aftermath acts on " + webhook.EventIncidentResolved + " only",
		}
	}

	ctx, cancel := context.WithTimeout(req.Context(), h.opts.EnqueueTimeout)
	defer cancel()
	res, err := h.opts.Queue.Enqueue(ctx, store.Delivery{
		WebhookID:  req.Header.Get(WebhookIDHeader),
		EventID:    ev.ID,
		EventType:  ev.EventType,
		IncidentID: ev.IncidentID(),
		OccurredAt: ev.OccurredAt,
		ReceivedAt: h.opts.Now(),
		Body:       body,
	})
	if err != nil {
		// PagerDuty retries 5xx for 48 hours: nothing is lost by refusing.
		log.Error("webhook not stored; answering 503 so PagerDuty retries", "err", err)
		return http.StatusServiceUnavailable, outcomeUnavailable, webhookAnswer{Error: "event store unavailable; retry later"}
	}
	if res.Duplicate {
		log.Debug("webhook duplicate", "entry", res.ID)
		return http.StatusOK, outcomeDuplicate, webhookAnswer{Status: "duplicate", EventID: ev.ID}
	}
	log.Info("webhook queued", "entry", res.ID)
	return http.StatusAccepted, outcomeQueued, webhookAnswer{
		Status: "queued", EventID: ev.ID, EventType: ev.EventType, IncidentID: ev.IncidentID(),
	}
}

// clipHeader bounds an untrusted header value before it reaches a log line.
func clipHeader(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}
