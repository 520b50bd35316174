package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftermath-dev/aftermath/store"
)

// AuthLimiter counts wrong admin tokens per client and locks out a client
// that sent too many (store.AuthLimiter, shared by every replica through
// Redis).
type AuthLimiter interface {
	// Fail counts a wrong token from client and says whether the client
	// is now locked out.
	Fail(ctx context.Context, client string) store.AuthState
	// Locked returns how long client stays locked out; 0 when it is not.
	Locked(ctx context.Context, client string) time.Duration
}

// authStoreTimeout bounds the limiter's Redis call; past it the limiter
// counts in memory.
const authStoreTimeout = time.Second

// adminAuth checks the admin token, wherever it is presented (bearer header
// or login form), against one lockout per client address.
type adminAuth struct {
	token    string
	digest   [sha256.Size]byte
	limiter  AuthLimiter
	log      *slog.Logger
	failures *prometheus.CounterVec
	lockouts *prometheus.CounterVec
}

func newAdminAuth(o Options) *adminAuth {
	a := &adminAuth{
		token: o.AdminToken, digest: sha256.Sum256([]byte(o.AdminToken)), limiter: o.AuthLimiter, log: o.Logger,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftermath_admin_auth_failures_total",
			Help: "Wrong admin tokens received (bearer header or login form), by route.",
		}, []string{"route"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftermath_admin_auth_lockouts_total",
			Help: "Client addresses locked out after too many wrong admin tokens, by the route of the failure that locked them.",
		}, []string{"route"}),
	}
	if a.limiter == nil {
		a.limiter = store.NewLocalAuthLimiter(store.DefaultAuthLimits, o.Now)
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(a.failures, a.lockouts)
	}
	return a
}

// route makes the series of an admin route exist from the start, so that
// an alert on its increase sees the first failure.
func (a *adminAuth) route(path string) {
	a.failures.WithLabelValues(path)
	a.lockouts.WithLabelValues(path)
}

// matches compares a given token with the admin token. Comparing digests
// keeps the comparison constant-time whatever the lengths.
func (a *adminAuth) matches(got string) bool {
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], a.digest[:]) == 1
}

// verify checks a token the request presents. A wrong one counts against
// the client's address; a right one is refused too while that address is
// locked out, or the lockout would tell a guesser which guess was right.
// lockedFor > 0 means: answer 429 with Retry-After. Other addresses are
// never affected, so the right token still works from anywhere else.
func (a *adminAuth) verify(c echo.Context, got string) (ok bool, lockedFor time.Duration) {
	remote := c.RealIP()
	client := clientKey(remote)
	ctx, cancel := context.WithTimeout(c.Request().Context(), authStoreTimeout)
	defer cancel()
	if a.matches(got) {
		return true, a.limiter.Locked(ctx, client)
	}
	st := a.limiter.Fail(ctx, client)
	a.failures.WithLabelValues(c.Path()).Inc()
	log := a.log.With("remote", remote, "route", c.Path(), "failures", st.Failures)
	switch {
	case st.LockedNow:
		a.lockouts.WithLabelValues(c.Path()).Inc()
		log.Warn("admin token refused; too many wrong tokens from this address: locked out", "locked_for", st.LockedFor.Round(time.Second).String())
	case st.LockedFor > 0:
		// Already locked out and warned about: a line each would let a
		// guesser fill the log. The metric still counts it.
		log.Debug("admin token refused during the lockout")
	default:
		log.Warn("admin token refused")
	}
	return false, st.LockedFor
}

// clientKey is what the lockout counts by: the address, or for IPv6 its
// /64, which one subscriber usually holds whole.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// retryAfter sets Retry-After to d in whole seconds, rounded up.
func retryAfter(c echo.Context, d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	c.Response().Header().Set("Retry-After", strconv.Itoa(s))
	return s
}

// requireAdmin guards the admin API with a bearer token. Without a configured
// token the API is off (403), so a deployment never exposes it by accident.
func requireAdmin(a *adminAuth) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if a.token == "" {
				return echo.NewHTTPError(http.StatusForbidden, "admin API disabled: set AFTERMATH_ADMIN_TOKEN to enable it")
			}
			auth := c.Request().Header.Get(echo.HeaderAuthorization)
			scheme, got, ok := strings.Cut(auth, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="aftermath"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "missing bearer token")
			}
			ok, locked := a.verify(c, strings.TrimSpace(got))
			if locked > 0 {
				s := retryAfter(c, locked)
				return echo.NewHTTPError(http.StatusTooManyRequests, fmt.Sprintf("too many wrong admin tokens from this address: try again in %d seconds", s))
			}
			if !ok {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="aftermath", error="invalid_token"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "invalid bearer token")
			}
			return next(c)
		}
	}
}

type adminHandler struct {
	records Records
	log     *slog.Logger
}

func (a *adminHandler) incident(c echo.Context) error {
	id := c.Param("id")
	if id == "" || len(id) > 64 {
		return echo.NewHTTPError(http.StatusBadRequest, "incident ID must be 1 to 64 characters")
	}
	rec, found, err := a.records.IncidentRecord(c.Request().Context(), id)
	if err != nil {
		return a.unavailable("read incident record", err)
	}
	if !found {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no record for incident %s: no resolved event for it was processed", id))
	}
	return c.JSON(http.StatusOK, rec)
}

func (a *adminHandler) deadLetters(c echo.Context) error {
	// Each dead letter is read with its body (up to 1 MiB): keep pages small.
	limit := 50
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return echo.NewHTTPError(http.StatusBadRequest, "limit must be a number from 1 to 200")
		}
		limit = n
	}
	list, err := a.records.DeadLetters(c.Request().Context(), limit)
	if err != nil {
		return a.unavailable("list dead letters", err)
	}
	return c.JSON(http.StatusOK, map[string]any{"dead_letters": list})
}

// unavailable answers 503 for a store failure, logging the cause for ops and
// keeping it out of the answer.
func (a *adminHandler) unavailable(what string, err error) error {
	a.log.Error(what+" failed", "err", err)
	return echo.NewHTTPError(http.StatusServiceUnavailable, what+": store unavailable; retry later")
}

// reload answers 200 with the new rules' summary, or 422 with every problem
// of a file that does not load; then the previous rules stay in force.
func (a *adminHandler) reload(r Reloader) echo.HandlerFunc {
	return func(c echo.Context) error {
		summary, problems, err := r.ReloadRules()
		if err != nil {
			if problems == nil {
				problems = []string{err.Error()}
			}
			return c.JSON(http.StatusUnprocessableEntity, map[string]any{
				"error":    "rules not reloaded; the previous rules stay in force",
				"problems": problems,
			})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "reloaded", "summary": summary})
	}
}
