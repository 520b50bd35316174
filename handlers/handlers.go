// Package handlers holds aftermath's HTTP routes: webhook ingress, health,
// metrics, the admin API and the managers' overview page. It speaks HTTP only: it verifies, decodes,
// validates, stores and answers, and never calls PagerDuty or Jira.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"slices"
	"strings"
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

// SmallBodyBytes caps the body of every route other than the two webhooks:
// the login form (a token and the page's query) and requests that carry no
// body at all.
const SmallBodyBytes = 8 << 10

// Queue stores accepted deliveries.
type Queue interface {
	// EnqueueWithin stores d, giving up after timeout. d's strings and
	// Body share the request's buffer, which serves the next webhook once
	// the answer is written: an implementation must be done with them (or
	// copy them) when it returns.
	EnqueueWithin(ctx context.Context, d store.Delivery, timeout time.Duration) (store.EnqueueResult, error)
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
	// AuthLimiter counts wrong admin tokens per client address and locks
	// out an address that sent too many; nil: a limiter of this process
	// alone, with store.DefaultAuthLimits.
	AuthLimiter AuthLimiter
	// Sessions revokes the overview's login sessions on logout; nil: a
	// logout only clears the cookie in the browser.
	Sessions Sessions
	// TrustedProxies are the proxies whose X-Forwarded-For hops are
	// believed; none: a request's client is the socket's peer.
	TrustedProxies []netip.Prefix
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

	// The client address (log lines, the admin lockout) comes from
	// X-Forwarded-For only through the proxies the operator declared.
	e.IPExtractor = ipExtractor(o.TrustedProxies)
	// Every route has a body cap; the webhooks enforce theirs (MaxBodyBytes)
	// with their own answers, the login form its own with the page.
	e.Use(capBodies(SmallBodyBytes, "/webhooks/pagerduty", "/webhooks/jira", "/postmortems/login"))

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
	auth := newAdminAuth(o)
	if o.Records != nil {
		api := e.Group("/api/v1", requireAdmin(auth))
		api.GET("/incidents/:id", admin.incident)
		api.GET("/dead-letters", admin.deadLetters)
		auth.route("/api/v1/incidents/:id")
		auth.route("/api/v1/dead-letters")
	}
	if o.Postmortems != nil {
		routeOverview(e, o, admin, auth)
	}
	if o.Reloader != nil {
		e.POST("/-/reload", admin.reload(o.Reloader), requireAdmin(auth))
		auth.route("/-/reload")
	}
	routeProfiles(e, auth)
	return e
}

// routeProfiles serves Go's runtime profiles (CPU, allocations, heap,
// goroutines) under /debug/pprof/, behind the admin token like the admin
// API: a profile names code paths and costs CPU while it runs, so it is
// never open to anyone who can reach the webhook. make bench-ingest
// -profile reads them to show where ingest's CPU goes. A CPU profile must
// end within the server's WriteTimeout (15 s): ask for less and merge.
func routeProfiles(e *echo.Echo, auth *adminAuth) {
	g := e.Group("/debug/pprof", requireAdmin(auth))
	for path, h := range map[string]http.HandlerFunc{
		"/profile": pprof.Profile, "/trace": pprof.Trace, "/cmdline": pprof.Cmdline, "/symbol": pprof.Symbol,
		// Index serves the named profiles (allocs, heap, goroutine, ...)
		// by the path after /debug/pprof/, and their list at /debug/pprof/.
		"/*": pprof.Index,
	} {
		g.GET(path, echo.WrapHandler(h))
		auth.route("/debug/pprof" + path)
	}
}

// routeOverview serves the managers' overview: its API, and its page with
// the page's login, logout and stylesheet.
func routeOverview(e *echo.Echo, o Options, admin *adminHandler, auth *adminAuth) {
	ov := &overviewHandler{pms: o.Postmortems, severities: o.Severities, location: o.Location, now: o.Now, admin: admin, auth: auth,
		sessions: o.Sessions, log: o.Logger}
	if ov.severities == nil {
		ov.severities = func() []string { return nil }
	}
	if ov.location == nil {
		ov.location = func() *time.Location { return time.UTC }
	}
	e.GET("/api/v1/postmortems", ov.api, requireAdmin(auth))
	e.GET("/api/v1/followups", ov.followupsAPI, requireAdmin(auth))
	e.GET("/postmortems", ov.pageHTML)
	// The page's forms post only from the page itself: a login or
	// logout from another site is refused.
	e.POST("/postmortems/login", ov.loginPost, sameOrigin())
	e.POST("/postmortems/logout", ov.logout, sameOrigin())
	e.GET("/postmortems/style.css", ov.style)
	auth.route("/api/v1/postmortems")
	auth.route("/api/v1/followups")
	auth.route("/postmortems")
	auth.route("/postmortems/login")
}

// ipExtractor finds a request's client address: the socket's peer, or
// with trusted proxies the first X-Forwarded-For hop, from the right, that
// is not one of them (a hop may carry a port, as some proxies write it:
// "192.0.2.66:51234"). Echo's own default trusts every private-network
// peer, which lets anyone inside the network choose their address.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	isTrusted := func(a netip.Addr) bool {
		return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	return func(req *http.Request) string {
		peer, ok := hopAddr(req.RemoteAddr)
		if !ok {
			return echo.ExtractIPDirect()(req)
		}
		client := peer
		if !isTrusted(peer) {
			return client.String()
		}
		hops := strings.Split(strings.Join(req.Header.Values(echo.HeaderXForwardedFor), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := hopAddr(hops[i])
			if !ok {
				// A hop we cannot read: the last address we can vouch for
				// is the client, never a guess at what the hop meant.
				return client.String()
			}
			client = a
			if !isTrusted(a) {
				break
			}
		}
		return client.String()
	}
}

// hopAddr reads one address of X-Forwarded-For or RemoteAddr: an IP, an
// ip:port, or a bracketed IPv6 with a port; an IPv4 mapped in IPv6 is
// unmapped.
func hopAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return a.Unmap(), err == nil
}

// capBodies refuses a body over limit bytes with 413, by its
// Content-Length or once that much has been read, on every route but the
// ones named, which cap their bodies themselves.
func capBodies(limit int64, own ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if slices.Contains(own, c.Path()) {
				return next(c)
			}
			req := c.Request()
			if req.ContentLength > limit {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", limit))
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			return next(c)
		}
	}
}

// sameOrigin refuses a cross-origin browser request (Sec-Fetch-Site, or
// Origin against Host on browsers without it) with 403. Requests without
// either header are not from a browser form and pass.
func sameOrigin() echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := cop.Check(c.Request()); err != nil {
				return echo.NewHTTPError(http.StatusForbidden, "cross-origin request refused: this form is posted only from aftermath's own page")
			}
			return next(c)
		}
	}
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
