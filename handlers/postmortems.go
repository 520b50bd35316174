package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/aftermath-dev/aftermath/store"
)

// Postmortems reads the managers' overview: the deadline index, never Jira.
type Postmortems interface {
	Postmortems(ctx context.Context, q store.PostmortemQuery) (store.PostmortemPage, error)
	AllPostmortems(ctx context.Context) ([]store.Deadline, error)
}

// statuses are the post-mortem statuses, in their order.
var statuses = []string{store.StatusDraft, store.StatusInReview, store.StatusReviewed, store.StatusClosed}

// overviewParams are the query parameters of the overview, API and page.
var overviewParams = []string{"status", "severity", "overdue", "owner", "limit", "cursor"}

// overviewQuery validates the overview's query parameters; each problem is
// a 400 that says what is allowed.
func overviewQuery(q url.Values, severities []string, defLimit int, now time.Time) (store.PostmortemQuery, error) {
	out := store.PostmortemQuery{Now: now, Limit: defLimit}
	for name, vs := range q {
		if !slices.Contains(overviewParams, name) {
			return out, fmt.Errorf("unknown parameter %q: the filters are %s", name, strings.Join(overviewParams, ", "))
		}
		if len(vs) > 1 {
			return out, fmt.Errorf("parameter %q given %d times: give it once", name, len(vs))
		}
	}
	if s := q.Get("status"); s != "" {
		i := slices.IndexFunc(statuses, func(st string) bool { return strings.EqualFold(st, s) })
		if i < 0 {
			return out, fmt.Errorf("status must be one of %s", strings.Join(statuses, ", "))
		}
		out.Status = statuses[i]
	}
	if s := q.Get("severity"); s != "" {
		i := slices.IndexFunc(severities, func(sev string) bool { return strings.EqualFold(sev, s) })
		if i < 0 {
			return out, fmt.Errorf("severity must be one of the rules' severities: %s", strings.Join(severities, ", "))
		}
		out.Severity = severities[i]
	}
	if s := q.Get("overdue"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return out, errors.New("overdue must be true or false")
		}
		out.Overdue = &b
	}
	if s := q.Get("owner"); s != "" {
		if len(s) > 254 || !strings.Contains(s, "@") {
			return out, errors.New("owner must be an email address")
		}
		out.Owner = s
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return out, errors.New("limit must be a number from 1 to 200")
		}
		out.Limit = n
	}
	out.Cursor = q.Get("cursor")
	return out, nil
}

// postmortemJSON is one post-mortem in GET /api/v1/postmortems.
type postmortemJSON struct {
	Incident    string    `json:"incident"`
	Number      int       `json:"number"`
	Title       string    `json:"title"`
	IncidentURL string    `json:"incident_url"`
	Severity    string    `json:"severity"`
	Owner       string    `json:"owner"` // email; "" when unassigned
	EpicKey     string    `json:"epic_key"`
	EpicURL     string    `json:"epic_url"`
	Status      string    `json:"status"`
	ReviewDue   time.Time `json:"review_due"`
	MeetingDue  time.Time `json:"meeting_due"`
	Overdue     bool      `json:"overdue"`
	DaysOverdue int       `json:"days_overdue"`
	Group       []string  `json:"group"`
	Followups   []string  `json:"followups"`
	// FollowupsDone is as of FollowupsCheckedAt, the last status sync
	// (null before the first).
	FollowupsDone      int        `json:"followups_done"`
	FollowupsCheckedAt *time.Time `json:"followups_checked_at"`
}

func toJSON(d store.Deadline, now time.Time) postmortemJSON {
	late, days := d.Overdue(now)
	p := postmortemJSON{
		Incident: d.Incident, Number: d.Number, Title: d.Title, IncidentURL: d.URL, Severity: d.Severity, Owner: d.Owner,
		EpicKey: d.Key, EpicURL: d.EpicURL, Status: d.Status, ReviewDue: d.ReviewDue, MeetingDue: d.MeetingDue,
		Overdue: late, DaysOverdue: days, Group: d.Group, Followups: d.Followups, FollowupsDone: d.FollowupsDone,
	}
	if p.Group == nil {
		p.Group = []string{d.Incident}
	}
	if p.Followups == nil {
		p.Followups = []string{}
	}
	if !d.FollowupsCheckedAt.IsZero() {
		at := d.FollowupsCheckedAt
		p.FollowupsCheckedAt = &at
	}
	return p
}

type overviewHandler struct {
	pms        Postmortems
	severities func() []string
	location   func() *time.Location
	now        func() time.Time
	admin      *adminHandler
	auth       *adminAuth
	sessions   Sessions // nil: no revocation
	log        *slog.Logger
}

// page reads one page of the overview; a bad cursor is the client's error.
func (o *overviewHandler) page(c echo.Context, q store.PostmortemQuery) (store.PostmortemPage, error) {
	page, err := o.pms.Postmortems(c.Request().Context(), q)
	if errors.Is(err, store.ErrBadCursor) {
		return page, echo.NewHTTPError(http.StatusBadRequest, "cursor must be the next_cursor of a previous page")
	}
	if err != nil {
		return page, o.admin.unavailable("list post-mortems", err)
	}
	return page, nil
}

// api serves GET /api/v1/postmortems.
func (o *overviewHandler) api(c echo.Context) error {
	now := o.now()
	q, err := overviewQuery(c.QueryParams(), o.severities(), 50, now)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	page, err := o.page(c, q)
	if err != nil {
		return err
	}
	out := struct {
		Postmortems []postmortemJSON `json:"postmortems"`
		NextCursor  string           `json:"next_cursor,omitempty"`
		AsOf        time.Time        `json:"as_of"`
	}{Postmortems: make([]postmortemJSON, len(page.Postmortems)), NextCursor: page.Next, AsOf: now.UTC()}
	for i, d := range page.Postmortems {
		out.Postmortems[i] = toJSON(d, now)
	}
	return c.JSON(http.StatusOK, out)
}
