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

// Postmortems reads the managers' overview: the deadline index, the
// follow-up index and the recurrence log, never Jira.
type Postmortems interface {
	Postmortems(ctx context.Context, q store.PostmortemQuery) (store.PostmortemPage, error)
	AllPostmortems(ctx context.Context) ([]store.Deadline, error)
	// Recurrences are shown on the post-mortem they recurred.
	Recurrences(ctx context.Context, from, to time.Time) ([]store.Recurrence, error)
	// ListFollowups serves the follow-ups view, API and page.
	ListFollowups(ctx context.Context, q store.FollowupQuery) (store.FollowupPage, error)
}

// statuses are the post-mortem statuses, in their order.
var statuses = []string{store.StatusDraft, store.StatusInReview, store.StatusReviewed, store.StatusClosed}

// overviewParams are the query parameters of the overview, API and page.
var overviewParams = []string{"status", "severity", "overdue", "owner", "team", "limit", "cursor"}

// overviewQuery validates the overview's query parameters; each problem is
// a 400 that says what is allowed.
func overviewQuery(q url.Values, severities []string, defLimit int, now time.Time) (store.PostmortemQuery, error) {
	out := store.PostmortemQuery{Now: now, Limit: defLimit}
	if err := checkParams(q, overviewParams); err != nil {
		return out, err
	}
	if s := q.Get("status"); s != "" {
		i := slices.IndexFunc(statuses, func(st string) bool { return strings.EqualFold(st, s) })
		if i < 0 {
			return out, fmt.Errorf("status must be one of %s", strings.Join(statuses, ", "))
		}
		out.Status = statuses[i]
	}
	var err error
	if out.Severity, err = severityParam(q, severities); err != nil {
		return out, err
	}
	if out.Overdue, err = overdueParam(q); err != nil {
		return out, err
	}
	if out.Owner, err = emailParam(q, "owner"); err != nil {
		return out, err
	}
	if out.Team, err = teamParam(q); err != nil {
		return out, err
	}
	if out.Limit, err = limitParam(q, defLimit); err != nil {
		return out, err
	}
	out.Cursor = q.Get("cursor")
	return out, nil
}

// checkParams refuses a parameter not in allowed, or given twice.
func checkParams(q url.Values, allowed []string) error {
	for name, vs := range q {
		if !slices.Contains(allowed, name) {
			return fmt.Errorf("unknown parameter %q: the filters are %s", name, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return fmt.Errorf("parameter %q given %d times: give it once", name, len(vs))
		}
	}
	return nil
}

// severityParam is the rules' severity the parameter names, in any case.
func severityParam(q url.Values, severities []string) (string, error) {
	s := q.Get("severity")
	if s == "" {
		return "", nil
	}
	i := slices.IndexFunc(severities, func(sev string) bool { return strings.EqualFold(sev, s) })
	if i < 0 {
		return "", fmt.Errorf("severity must be one of the rules' severities: %s", strings.Join(severities, ", "))
	}
	return severities[i], nil
}

// overdueParam is nil when the parameter is absent.
func overdueParam(q url.Values) (*bool, error) {
	s := q.Get("overdue")
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, errors.New("overdue must be true or false")
	}
	return &b, nil
}

// isID says whether s could be a PagerDuty ID or a Jira key: 1 to 64
// letters, digits, '-' and '_'.
func isID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// emailParam is the parameter name, which must be an email address.
func emailParam(q url.Values, name string) (string, error) {
	s := q.Get(name)
	if s != "" && (len(s) > 254 || !strings.Contains(s, "@")) {
		return "", errors.New(name + " must be an email address")
	}
	return s, nil
}

func teamParam(q url.Values) (string, error) {
	s := q.Get("team")
	if s != "" && (!isID(s) || strings.ContainsAny(s, "-_")) {
		return "", errors.New("team must be a PagerDuty team ID (letters and digits, e.g. PTEAM1)")
	}
	return s, nil
}

func limitParam(q url.Values, def int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 200 {
		return 0, errors.New("limit must be a number from 1 to 200")
	}
	return n, nil
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
	Teams              []teamJSON `json:"teams"` // its incidents' PagerDuty teams
	// Recurrences are the later incidents that resolved on its services
	// while its follow-ups were open (the recurrence log), oldest first;
	// RecurrenceOf the epics of earlier post-mortems its incident recurred.
	RecurrenceCount int              `json:"recurrence_count"`
	Recurrences     []recurrenceJSON `json:"recurrences"`
	RecurrenceOf    []string         `json:"recurrence_of"`
}

// teamJSON is a PagerDuty team.
type teamJSON struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

func teamsJSON(ts []store.Team) []teamJSON {
	out := make([]teamJSON, len(ts))
	for i, t := range ts {
		out[i] = teamJSON(t)
	}
	return out
}

// recurrenceJSON is an incident that recurred a post-mortem.
type recurrenceJSON struct {
	Incident   string    `json:"incident"`
	Number     int       `json:"number"`
	Title      string    `json:"title"`
	URL        string    `json:"url,omitempty"`
	Severity   string    `json:"severity,omitempty"`
	Service    string    `json:"service"`
	ResolvedAt time.Time `json:"resolved_at"`
	Open       []string  `json:"open"` // the post-mortem's follow-ups open then
}

// recurrenceIndex is the recurrence log by post-mortem: the incidents that
// recurred each (by its primary), and the epics each new incident recurred.
type recurrenceIndex struct {
	of    map[string][]recurrenceJSON
	recur map[string][]string
}

func indexRecurrences(rs []store.Recurrence) recurrenceIndex {
	x := recurrenceIndex{of: map[string][]recurrenceJSON{}, recur: map[string][]string{}}
	for _, r := range rs {
		open := r.Open
		if open == nil {
			open = []string{}
		}
		x.of[r.Earlier] = append(x.of[r.Earlier], recurrenceJSON{Incident: r.Incident, Number: r.Number, Title: r.Title,
			URL: r.URL, Severity: r.Severity, Service: r.Service, ResolvedAt: r.ResolvedAt, Open: open})
		if !slices.Contains(x.recur[r.Incident], r.EarlierKey) {
			x.recur[r.Incident] = append(x.recur[r.Incident], r.EarlierKey)
		}
	}
	return x
}

// recurrences reads the whole recurrence log: one entry per recurrence
// ever seen, a few hundred at most.
func (o *overviewHandler) recurrences(c echo.Context) (recurrenceIndex, error) {
	rs, err := o.pms.Recurrences(c.Request().Context(), time.Time{}, time.Time{})
	if err != nil {
		return recurrenceIndex{}, o.admin.unavailable("read the recurrences", err)
	}
	return indexRecurrences(rs), nil
}

func toJSON(d store.Deadline, now time.Time, rx recurrenceIndex) postmortemJSON {
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
	p.Teams = teamsJSON(d.Teams)
	p.Recurrences = rx.of[d.Incident]
	if p.Recurrences == nil {
		p.Recurrences = []recurrenceJSON{}
	}
	p.RecurrenceCount = len(p.Recurrences)
	p.RecurrenceOf = rx.recur[d.Incident]
	if p.RecurrenceOf == nil {
		p.RecurrenceOf = []string{}
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
	rx, err := o.recurrences(c)
	if err != nil {
		return err
	}
	out := struct {
		Postmortems []postmortemJSON `json:"postmortems"`
		NextCursor  string           `json:"next_cursor,omitempty"`
		AsOf        time.Time        `json:"as_of"`
	}{Postmortems: make([]postmortemJSON, len(page.Postmortems)), NextCursor: page.Next, AsOf: now.UTC()}
	for i, d := range page.Postmortems {
		out.Postmortems[i] = toJSON(d, now, rx)
	}
	return c.JSON(http.StatusOK, out)
}
