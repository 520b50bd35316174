package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/aftermath-dev/aftermath/store"
)

// The follow-ups view: GET /api/v1/followups and the page's Follow-ups
// tab, from the follow-up index the status sync keeps (never Jira).

// followupParams are the query parameters of the follow-ups view.
var followupParams = []string{"state", "overdue", "assignee", "severity", "postmortem", "team", "limit", "cursor"}

// followupStates are the values of state; the first is the default.
var followupStates = []string{store.FollowupsOpen, store.FollowupsDone, store.FollowupsAll}

// followupsQuery validates the follow-ups view's query parameters; each
// problem is a 400 that says what is allowed. loc is the rules' zone: a
// follow-up is overdue after the end of its due date there.
func followupsQuery(q url.Values, severities []string, defLimit int, now time.Time, loc *time.Location) (store.FollowupQuery, error) {
	out := store.FollowupQuery{Now: now, Location: loc, State: store.FollowupsOpen}
	if err := checkParams(q, followupParams); err != nil {
		return out, err
	}
	if s := q.Get("state"); s != "" {
		i := slices.IndexFunc(followupStates, func(st string) bool { return strings.EqualFold(st, s) })
		if i < 0 {
			return out, errors.New("state must be one of " + strings.Join(followupStates, ", "))
		}
		out.State = followupStates[i]
	}
	var err error
	if out.Overdue, err = overdueParam(q); err != nil {
		return out, err
	}
	if out.Assignee, err = emailParam(q, "assignee"); err != nil {
		return out, err
	}
	if out.Severity, err = severityParam(q, severities); err != nil {
		return out, err
	}
	if s := q.Get("postmortem"); s != "" {
		if !isID(s) {
			return out, errors.New("postmortem must be a post-mortem's epic key (e.g. PM-4) or an incident ID (e.g. PABC123)")
		}
		out.Postmortem = s
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

// followupJSON is one follow-up in GET /api/v1/followups.
type followupJSON struct {
	Key          string `json:"key"`
	URL          string `json:"url,omitempty"` // the ticket in Jira; "" when the epic's URL does not say where Jira is
	Summary      string `json:"summary"`
	Status       string `json:"status"`
	Done         bool   `json:"done"`
	Assignee     string `json:"assignee"` // email (or Jira account ID when it has none); "" when unassigned
	AssigneeName string `json:"assignee_name"`
	// Due is its Jira due date, "2026-03-10"; "" when it has none.
	Due         string     `json:"due"`
	Overdue     bool       `json:"overdue"`
	DaysOverdue int        `json:"days_overdue"`
	CreatedAt   *time.Time `json:"created_at"` // null when the sync has not read it
	// SeenAt is when the status sync last read it from Jira.
	SeenAt     *time.Time         `json:"seen_at"`
	Postmortem followupPostmortem `json:"postmortem"`
	Teams      []teamJSON         `json:"teams"`
}

// followupPostmortem is the post-mortem a follow-up belongs to.
type followupPostmortem struct {
	EpicKey     string `json:"epic_key"`
	EpicURL     string `json:"epic_url"`
	Incident    string `json:"incident"`
	Number      int    `json:"number"`
	Title       string `json:"title"`
	IncidentURL string `json:"incident_url"`
	Severity    string `json:"severity"`
	Status      string `json:"status"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toFollowupJSON(r store.FollowupRow) followupJSON {
	d := r.Postmortem
	f := followupJSON{
		Key: r.Key, Summary: r.Summary, Status: r.Status, Done: r.Done, Assignee: r.Assignee, AssigneeName: r.AssigneeName,
		Overdue: r.Overdue, DaysOverdue: r.DaysOverdue, CreatedAt: optTime(r.CreatedAt), SeenAt: optTime(r.SeenAt),
		Postmortem: followupPostmortem{EpicKey: d.Key, EpicURL: d.EpicURL, Incident: d.Incident, Number: d.Number,
			Title: d.Title, IncidentURL: d.URL, Severity: d.Severity, Status: d.Status},
		Teams: teamsJSON(d.Teams),
	}
	if !r.Due.IsZero() {
		f.Due = r.Due.UTC().Format(time.DateOnly)
	}
	if l := followupLinks(d.EpicURL, d.Key, []string{r.Key}); len(l) == 1 {
		f.URL = l[0].URL
	}
	return f
}

// followupsPage reads one page of the follow-ups view; a bad cursor is the
// client's error.
func (o *overviewHandler) followupsPage(c echo.Context, q store.FollowupQuery) (store.FollowupPage, error) {
	page, err := o.pms.ListFollowups(c.Request().Context(), q)
	if errors.Is(err, store.ErrBadCursor) {
		return page, echo.NewHTTPError(http.StatusBadRequest, "cursor must be the next_cursor of a previous page of /api/v1/followups")
	}
	if err != nil {
		return page, o.admin.unavailable("list follow-ups", err)
	}
	return page, nil
}

// followupsAPI serves GET /api/v1/followups.
func (o *overviewHandler) followupsAPI(c echo.Context) error {
	now := o.now()
	q, err := followupsQuery(c.QueryParams(), o.severities(), 50, now, o.location())
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	page, err := o.followupsPage(c, q)
	if err != nil {
		return err
	}
	out := struct {
		Followups  []followupJSON `json:"followups"`
		NextCursor string         `json:"next_cursor,omitempty"`
		AsOf       time.Time      `json:"as_of"`
	}{Followups: make([]followupJSON, len(page.Followups)), NextCursor: page.Next, AsOf: now.UTC()}
	for i, r := range page.Followups {
		out.Followups[i] = toFollowupJSON(r)
	}
	return c.JSON(http.StatusOK, out)
}

// followupRow is one follow-up on the page's Follow-ups tab.
type followupRow struct {
	followupJSON
	Age            string // since Jira created it: "12 days"; "" unknown
	AssigneeHref   string // this assignee's follow-ups; "" when not an email
	PostmortemHref string // this post-mortem's follow-ups
}

type followupsData struct {
	Tabs    []filterLink
	Filters []filterGroup
	Rows    []followupRow
	Next    string
	Zone    string
	Loc     *time.Location
	Now     time.Time
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

func followupsHref(name, value string) string {
	return "/postmortems?" + url.Values{"view": {viewFollowups}, name: {value}}.Encode()
}

// followupFilters are the Follow-ups tab's filters as links.
func followupFilters(q url.Values, severities []string, all []store.Deadline) []filterGroup {
	link := filterLinker(q)
	st := filterGroup{Label: "State", Links: []filterLink{link("Open", "state", "")}}
	st.Links[0].On = q.Get("state") == "" || strings.EqualFold(q.Get("state"), store.FollowupsOpen)
	st.Links = append(st.Links, link("Done", "state", store.FollowupsDone), link("All", "state", store.FollowupsAll))
	sev := filterGroup{Label: "Severity", Links: []filterLink{link("All", "severity", "")}}
	for _, s := range severities {
		sev.Links = append(sev.Links, link(s, "severity", s))
	}
	over := filterGroup{Label: "Due date", Links: []filterLink{link("All", "overdue", ""), link("Overdue", "overdue", "true"), link("Not overdue", "overdue", "false")}}
	out := []filterGroup{st, sev, over}
	if g := teamFilter(q, all); g != nil {
		out = append(out, *g)
	}
	for _, f := range []struct{ label, name string }{{"Assignee", "assignee"}, {"Post-mortem", "postmortem"}} {
		if v := q.Get(f.name); v != "" {
			out = append(out, filterGroup{Label: f.label, Links: []filterLink{link("All", f.name, ""), link(v, f.name, v)}})
		}
	}
	return out
}

// followupsTab serves GET /postmortems?view=followups: the follow-ups,
// open ones by default, oldest first, with their due dates, assignees and
// post-mortems. params are the request's, filterParams the same without
// the tab.
func (o *overviewHandler) followupsTab(c echo.Context, params, filterParams url.Values, now time.Time) error {
	sevs, loc := o.severities(), o.location()
	q, err := followupsQuery(filterParams, sevs, 100, now, loc)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	page, err := o.followupsPage(c, q)
	if err != nil {
		return err
	}
	all, err := o.pms.AllPostmortems(c.Request().Context())
	if err != nil {
		return o.admin.unavailable("list post-mortems", err)
	}
	data := followupsData{Tabs: tabs(viewFollowups), Filters: followupFilters(params, sevs, all), Zone: loc.String(), Loc: loc, Now: now}
	for _, r := range page.Followups {
		row := followupRow{followupJSON: toFollowupJSON(r), PostmortemHref: followupsHref("postmortem", r.Postmortem.Key)}
		if !r.CreatedAt.IsZero() && !r.CreatedAt.After(now) {
			row.Age = days(int(now.Sub(r.CreatedAt) / (24 * time.Hour)))
		}
		if strings.Contains(r.Assignee, "@") && len(r.Assignee) <= 254 {
			row.AssigneeHref = followupsHref("assignee", r.Assignee)
		}
		data.Rows = append(data.Rows, row)
	}
	if page.Next != "" {
		v := url.Values{}
		for k, vs := range params {
			v[k] = vs
		}
		v.Set("cursor", page.Next)
		data.Next = "/postmortems?" + v.Encode()
	}
	return o.render(c, http.StatusOK, "followups", data)
}
