// Package handlers holds aftermath's HTTP routes: webhook ingress, health,
// metrics, the admin API and the managers' overview page. It speaks HTTP only: it verifies, decodes,
// validates, stores and answers, and never calls PagerDuty or Jira.
package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/webhook"
	"github.com/aftermath-dev/aftermath/store"
)

// DefaultMaxBodyBytes is the webhook body limit. PagerDuty drops webhooks over
// 256 KB, so 1 MiB refuses nothing PagerDuty can send.
const DefaultMaxBodyBytes = 1 << 20

// Queue stores accepted deliveries.
type Queue interface {
	Enqueue(ctx context.Context, d store.Delivery) (store.EnqueueResult, error)
}

// Reloader reloads the rules file. problems lists every problem of a file
// that does not load, each as FILE:LINE:COL: message.
type Reloader interface {
	ReloadRules() (summary string, problems []string, err error)
}

// Records reads what the admin API shows.
type Records interface {
	IncidentRecord(ctx context.Context, incidentID string) (store.IncidentRecord, bool, error)
	DeadLetters(ctx context.Context, count int) ([]store.DeadLetterEntry, error)
}

// Options wire the routes to the rest of the process.
type Options struct {
	Verifier *webhook.Verifier
	Queue    Queue
	Records  Records
	Reloader Reloader
	// Ready reports whether the process can serve: Redis answers, rules are
	// loaded. nil means always ready.
	Ready func(ctx context.Context) error
	// EpicStatuses and JiraWebhookSecret serve POST /webhooks/jira; without
	// the secret that route answers 404.
	EpicStatuses      EpicStatuses
	JiraWebhookSecret string
	// AdminToken guards /api/v1, /postmortems and /-/reload; empty
	// disables them (403).
	AdminToken string
	// Postmortems serves the managers' overview, GET /api/v1/postmortems
	// and the page GET /postmortems; nil: neither route.
	Postmortems Postmortems
	// Severities are the rules' severity names (filter values and links);
	// Location the rules' time zone (the page's times; nil: UTC).
	Severities func() []string
	Location   func() *time.Location
	// QueueEvent says which event types are queued; nil queues
	// incident.resolved only. Other types are answered "ignored".
	QueueEvent   func(eventType string) bool
	MaxBodyBytes int64
	// EnqueueTimeout bounds the Redis write; PagerDuty waits 5 s for an answer.
	EnqueueTimeout time.Duration
	Registerer     prometheus.Registerer
	Gatherer       prometheus.Gatherer
	Logger         *slog.Logger
	Now            func() time.Time
}

// New returns the Echo instance. Health and metrics are always served; the
// webhook route needs Queue and Verifier, the admin API Records, and
// /-/reload a Reloader.
func New(o Options) *echo.Echo {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.EnqueueTimeout <= 0 {
		o.EnqueueTimeout = 3 * time.Second
	}
	if o.QueueEvent == nil {
		o.QueueEvent = func(t string) bool { return t == webhook.EventIncidentResolved }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Gatherer == nil {
		o.Gatherer = prometheus.DefaultGatherer
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(o.Logger)

	// X-Forwarded-For is believed only from private-network proxies, so the
	// "remote" of a log line cannot be forged from the internet.
	e.IPExtractor = echo.ExtractIPFromXFFHeader()

	if o.Queue != nil && o.Verifier != nil {
		wh := &webhookHandler{opts: o, metrics: newWebhookMetrics(o.Registerer)}
		e.POST("/webhooks/pagerduty", wh.serve)
	}
	if o.EpicStatuses != nil && o.JiraWebhookSecret != "" {
		jh := &jiraWebhook{secret: []byte(o.JiraWebhookSecret), statuses: o.EpicStatuses, max: o.MaxBodyBytes, log: o.Logger}
		e.POST("/webhooks/jira", jh.serve)
	}

	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", readyz(o.Ready))
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{})))

	admin := &adminHandler{records: o.Records, log: o.Logger}
	if o.Records != nil {
		api := e.Group("/api/v1", requireAdmin(o.AdminToken))
		api.GET("/incidents/:id", admin.incident)
		api.GET("/dead-letters", admin.deadLetters)
	}
	if o.Postmortems != nil {
		ov := &overviewHandler{pms: o.Postmortems, severities: o.Severities, location: o.Location, now: o.Now, admin: admin, token: o.AdminToken}
		if ov.severities == nil {
			ov.severities = func() []string { return nil }
		}
		if ov.location == nil {
			ov.location = func() *time.Location { return time.UTC }
		}
		e.GET("/api/v1/postmortems", ov.api, requireAdmin(o.AdminToken))
		e.GET("/postmortems", ov.pageHTML)
		e.POST("/postmortems/login", ov.loginPost)
		e.POST("/postmortems/logout", ov.logout)
		e.GET("/postmortems/style.css", ov.style)
	}
	if o.Reloader != nil {
		e.POST("/-/reload", admin.reload(o.Reloader), requireAdmin(o.AdminToken))
	}
	return e
}

type errorBody struct {
	Error string `json:"error"`
}

// errorHandler answers every error as JSON, including Echo's own 404 and 405.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code, msg := http.StatusInternalServerError, "internal error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code = he.Code
			if m, ok := he.Message.(string); ok {
				msg = m
			} else {
				msg = http.StatusText(code)
			}
		} else {
			log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(code)
			return
		}
		_ = c.JSON(code, errorBody{Error: msg})
	}
}

func readyz(ready func(context.Context) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ready != nil {
			ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
			defer cancel()
			if err := ready(ctx); err != nil {
				return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			}
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	}
}
