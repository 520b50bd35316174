package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
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
	// by holds each outcome's series, looked up once here rather than by
	// label values on every webhook.
	by map[string]outcomeSeries
}

type outcomeSeries struct {
	total   prometheus.Counter
	latency prometheus.Observer
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
	m.by = map[string]outcomeSeries{}
	for _, o := range []string{outcomeQueued, outcomeDuplicate, outcomeIgnored, outcomeUnauthorized, outcomeBadRequest, outcomeTooLarge, outcomeUnavailable} {
		m.by[o] = outcomeSeries{total: m.total.WithLabelValues(o), latency: m.latency.WithLabelValues(o)}
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
	buf := bodyBuffers.Get().(*[]byte)
	code, outcome, answer := h.ingest(c, buf)
	m := h.metrics.by[outcome]
	m.total.Inc()
	m.latency.Observe(time.Since(start).Seconds())
	err := writeAnswer(c, code, answer)
	// The answer's IDs point into the body (the decoder does not copy), and
	// the store holds it only until EnqueueWithin returns: from here nothing
	// refers to the body, and its buffer serves the next webhook.
	releaseBody(buf)
	return err
}

// releaseBody gives a body buffer back for the next webhook. Tests replace
// it to overwrite each buffer as it is released, so that a use after
// release shows.
var releaseBody = func(buf *[]byte) {
	if cap(*buf) <= maxPooledBody {
		bodyBuffers.Put(buf)
	}
}

// bodyBuffers holds webhook body buffers for reuse: a body is the largest
// allocation a webhook makes, and every one is garbage once it is answered.
// A buffer grown past maxPooledBody (a body near the cap) is not kept, so
// the pool holds at most a few small buffers per concurrent webhook.
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBody = 64 << 10

// writeAnswer writes a exactly as c.JSON writes it (same bytes, same
// headers), without encoding/json's reflection when it can: no query (c.JSON
// indents for ?pretty) and every value plain ASCII that JSON does not escape,
// as the IDs and types PagerDuty sends are. Anything else goes through c.JSON.
func writeAnswer(c echo.Context, code int, a webhookAnswer) error {
	if c.Request().URL.RawQuery != "" || c.Echo().Debug {
		return c.JSON(code, a)
	}
	buf := answerBuffers.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= maxPooledAnswer {
			answerBuffers.Put(buf)
		}
	}()
	b, ok := a.appendJSON((*buf)[:0])
	if !ok {
		return c.JSON(code, a)
	}
	*buf = b
	return c.Blob(code, echo.MIMEApplicationJSON, b)
}

// answerBuffers holds writeAnswer's buffers: an answer is a few hundred
// bytes, copied into the connection's buffer by the write. One grown by
// very long IDs is not kept.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

const maxPooledAnswer = 4 << 10

// appendJSON appends a as json.Encoder encodes it (omitempty fields in
// order, a newline after); ok is false when a value needs escaping.
func (a webhookAnswer) appendJSON(b []byte) (_ []byte, ok bool) {
	b = append(b, '{')
	n := 0
	for _, f := range [...]struct{ name, v string }{
		{"status", a.Status}, {"error", a.Error}, {"event_id", a.EventID},
		{"event_type", a.EventType}, {"incident_id", a.IncidentID}, {"reason", a.Reason},
	} {
		if f.v == "" {
			continue
		}
		if !plainJSON(f.v) {
			return b, false
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, `":"`...)
		b = append(b, f.v...)
		b = append(b, '"')
	}
	return append(b, '}', '\n'), true
}

// plainJSON reports whether s is printable ASCII that encoding/json writes
// as it is: no quote, backslash or HTML character (<, >, &), which it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// webhookLog writes the handler's log lines. Their common attributes (the
// client's address, the webhook ID) are made only for a line that is
// written: most webhooks write one line, and a logger narrowed with With
// would format them on every webhook whether or not a line follows.
type webhookLog struct {
	log *slog.Logger
	c   echo.Context
	// event attributes, once the body is decoded
	ev *webhook.Event
}

func (l *webhookLog) write(level slog.Level, msg string, attrs ...slog.Attr) {
	ctx := l.c.Request().Context()
	if !l.log.Enabled(ctx, level) {
		return
	}
	// One array for the line's attributes: LogAttrs copies them, so the
	// array stays on the stack while a line has at most 8.
	var all [8]slog.Attr
	line := append(all[:0],
		slog.String("remote", l.c.RealIP()),
		slog.String("webhook_id", clipHeader(l.c.Request().Header.Get(WebhookIDHeader))))
	if l.ev != nil {
		line = append(line, slog.String("event", l.ev.ID), slog.String("event_type", l.ev.EventType), slog.String("incident", l.ev.IncidentID()))
	}
	l.log.LogAttrs(ctx, level, msg, append(line, attrs...)...)
}

// readWebhookBody reads a body of at most limit bytes into *buf, growing it
// when it is too small (*buf is then the larger buffer). A body of known
// length is read in one piece; only a body without Content-Length is read
// by growing. tooLarge reports a body over limit.
func readWebhookBody(req *http.Request, limit int64, buf *[]byte) (body []byte, tooLarge bool, err error) {
	if n := req.ContentLength; n >= 0 && n <= limit {
		if int64(cap(*buf)) < n {
			*buf = make([]byte, n)
		}
		body = (*buf)[:n]
		if _, err := io.ReadFull(req.Body, body); err != nil {
			return nil, false, err
		}
		return body, false, nil
	}
	w := bytes.NewBuffer((*buf)[:0])
	_, err = w.ReadFrom(io.LimitReader(req.Body, limit+1))
	body = w.Bytes()
	*buf = body[:0]
	if err != nil {
		return nil, false, err
	}
	return body, int64(len(body)) > limit, nil
}

// ingest reads the body into *buf, which the caller may reuse once the
// answer is written (the answer's IDs point into it).
func (h *webhookHandler) ingest(c echo.Context, buf *[]byte) (int, string, webhookAnswer) {
	req := c.Request()
	log := &webhookLog{log: h.opts.Logger, c: c}
	limit := h.opts.MaxBodyBytes

	if req.ContentLength > limit {
		log.write(slog.LevelWarn, "webhook refused: body too large", slog.Int64("content_length", req.ContentLength))
		return http.StatusRequestEntityTooLarge, outcomeTooLarge, webhookAnswer{Error: fmt.Sprintf("body exceeds %d bytes", limit)}
	}
	body, tooLarge, err := readWebhookBody(req, limit, buf)
	if err != nil {
		log.write(slog.LevelWarn, "webhook refused: reading the body failed", slog.Any("err", err))
		return http.StatusBadRequest, outcomeBadRequest, webhookAnswer{Error: "could not read the request body"}
	}
	if tooLarge {
		log.write(slog.LevelWarn, "webhook refused: body too large")
		return http.StatusRequestEntityTooLarge, outcomeTooLarge, webhookAnswer{Error: fmt.Sprintf("body exceeds %d bytes", limit)}
	}

	switch err := h.opts.Verifier.Verify(req.Header.Get(webhook.SignatureHeader), body); {
	case errors.Is(err, webhook.ErrEmptyBody):
		return http.StatusBadRequest, outcomeBadRequest, webhookAnswer{Error: "empty body: not a PagerDuty V3 webhook"}
	case err != nil:
		log.write(slog.LevelWarn, "webhook refused: signature", slog.String("reason", err.Error()))
		return http.StatusUnauthorized, outcomeUnauthorized, webhookAnswer{Error: err.Error()}
	}

	env, err := webhook.Decode(body)
	if err != nil {
		log.write(slog.LevelWarn, "webhook refused: not a V3 envelope", slog.String("reason", err.Error()))
		return http.StatusBadRequest, outcomeBadRequest, webhookAnswer{Error: err.Error()}
	}
	ev := &env.Event
	log.ev = ev

	if !h.opts.QueueEvent(ev.EventType) {
		log.write(slog.LevelDebug, "webhook ignored")
		return http.StatusOK, outcomeIgnored, webhookAnswer{
			Status: "ignored", EventID: ev.ID, EventType: ev.EventType,
			Reason: "aftermath acts on " + webhook.EventIncidentResolved + " only",
		}
	}

	res, err := h.opts.Queue.EnqueueWithin(req.Context(), store.Delivery{
		WebhookID:  req.Header.Get(WebhookIDHeader),
		EventID:    ev.ID,
		EventType:  ev.EventType,
		IncidentID: ev.IncidentID(),
		OccurredAt: ev.OccurredAt,
		ReceivedAt: h.opts.Now(),
		Body:       body,
	}, h.opts.EnqueueTimeout)
	if err != nil {
		// PagerDuty retries 5xx for 48 hours: nothing is lost by refusing.
		log.write(slog.LevelError, "webhook not stored; answering 503 so PagerDuty retries", slog.Any("err", err))
		return http.StatusServiceUnavailable, outcomeUnavailable, webhookAnswer{Error: "event store unavailable; retry later"}
	}
	if res.Duplicate {
		log.write(slog.LevelDebug, "webhook duplicate", slog.String("entry", res.ID))
		return http.StatusOK, outcomeDuplicate, webhookAnswer{Status: "duplicate", EventID: ev.ID}
	}
	log.write(slog.LevelInfo, "webhook queued", slog.String("entry", res.ID))
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
