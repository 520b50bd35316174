package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// requireAdmin guards the admin API with a bearer token. Without a configured
// token the API is off (403), so a deployment never exposes it by accident.
func requireAdmin(token string) echo.MiddlewareFunc {
	want := sha256.Sum256([]byte(token))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if token == "" {
				return echo.NewHTTPError(http.StatusForbidden, "admin API disabled: set AFTERMATH_ADMIN_TOKEN to enable it")
			}
			auth := c.Request().Header.Get(echo.HeaderAuthorization)
			scheme, got, ok := strings.Cut(auth, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="aftermath"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "missing bearer token")
			}
			// Comparing digests keeps the comparison constant-time whatever
			// the lengths.
			gotSum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
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
