package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/aftermath-dev/aftermath/store"
)

//go:embed overview
var overviewFS embed.FS

var (
	overviewTmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"join":        strings.Join,
		"statusClass": func(s string) string { return strings.ReplaceAll(strings.ToLower(s), " ", "-") },
		"ownerHref":   func(owner string) string { return "/postmortems?" + url.Values{"owner": {owner}}.Encode() },
		"at":          at,
		"day":         func(loc *time.Location, t time.Time) string { d, _ := dayClock(loc, t); return d },
		"clock":       func(loc *time.Location, t time.Time) string { _, c := dayClock(loc, t); return c },
		"top":         func(title string, tabs []filterLink) topData { return topData{Title: title, Tabs: tabs} },
	}).ParseFS(overviewFS, "overview/page.html"))
	overviewCSS, _ = overviewFS.ReadFile("overview/style.css")
)

const (
	sessionCookie = "aftermath_overview"
	sessionTTL    = 12 * time.Hour
	// The page loads its stylesheet and nothing else: no script at all.
	overviewCSP = "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

// Sessions revokes the overview's login sessions (store.Store), so that a
// logged-out cookie is refused by every replica until it would have
// expired.
type Sessions interface {
	RevokeSession(ctx context.Context, id string, until time.Time) error
	SessionRevoked(ctx context.Context, id string) (bool, error)
}

// The login cookie holds an expiry, a random session id and an HMAC of both
// keyed with the admin token, never the token: a leaked cookie opens the
// page for at most 12 hours and does not open the API, changing the token
// ends every session, and logging out revokes the id.
func (o *overviewHandler) session(exp time.Time, sid string) string {
	ts := strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, []byte(o.auth.token))
	m.Write([]byte("aftermath overview session\x00" + ts + "\x00" + sid))
	return ts + "." + sid + "." + hex.EncodeToString(m.Sum(nil))
}

// newSessionID is 128 random bits in hex.
func newSessionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a session id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// parseSession returns the id and expiry of a cookie this token signed that
// has not expired; revocation is checked by the caller.
func (o *overviewHandler) parseSession(v string) (sid string, exp time.Time, ok bool) {
	ts, rest, ok1 := strings.Cut(v, ".")
	sid, _, ok2 := strings.Cut(rest, ".")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if !ok1 || !ok2 || err != nil || len(sid) != 32 {
		return "", time.Time{}, false
	}
	exp = time.Unix(sec, 0)
	if !o.now().Before(exp) {
		return "", time.Time{}, false
	}
	if subtle.ConstantTimeCompare([]byte(v), []byte(o.session(exp, sid))) != 1 {
		return "", time.Time{}, false
	}
	return sid, exp, true
}

// authResult is what auth found: ok opens the page; else problem is shown
// (with 401), or lockedFor answers 429.
type authResult struct {
	ok        bool
	problem   string
	lockedFor time.Duration
}

// auth says whether the request carries the admin token (bearer header) or
// a valid login cookie, and the error to show when it carries a wrong one.
// err is a store that cannot say whether the session was revoked.
func (o *overviewHandler) authRequest(c echo.Context) (authResult, error) {
	// Only a bearer header is an attempt at the admin token: an ingress's
	// basic auth ("Authorization: Basic ...", sent by the browser on every
	// request) leaves the page to the login cookie.
	if scheme, got, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " "); strings.EqualFold(scheme, "Bearer") {
		ok, locked := o.auth.verify(c, strings.TrimSpace(got))
		if locked > 0 {
			return authResult{lockedFor: locked}, nil
		}
		if !ok {
			return authResult{problem: "The bearer token is not the admin token."}, nil
		}
		return authResult{ok: true}, nil
	}
	ck, err := c.Cookie(sessionCookie)
	if err != nil {
		return authResult{}, nil
	}
	sid, _, ok := o.parseSession(ck.Value)
	if !ok {
		return authResult{problem: "Your session has ended: log in again."}, nil
	}
	if o.sessions != nil {
		revoked, err := o.sessions.SessionRevoked(c.Request().Context(), sid)
		if err != nil {
			return authResult{}, o.admin.unavailable("check the login session", err)
		}
		if revoked {
			return authResult{problem: "You logged out of this session: log in again."}, nil
		}
	}
	return authResult{ok: true}, nil
}

func secureHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", overviewCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// at is a time as the page shows it, in the rules' time zone.
func at(loc *time.Location, t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
}

// dayClock is at in two parts, the day and the time of day, which a narrow
// column shows on two lines rather than cut anywhere.
func dayClock(loc *time.Location, t time.Time) (day, clock string) {
	if t.IsZero() {
		return at(loc, t), ""
	}
	t = t.In(loc)
	return t.Format("Mon 2 Jan 2006"), t.Format("15:04 MST")
}

func (o *overviewHandler) render(c echo.Context, code int, name string, data any) error {
	var buf bytes.Buffer
	if err := overviewTmpl.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render the overview's %s: %w", name, err)
	}
	secureHeaders(c)
	return c.HTMLBlob(code, buf.Bytes())
}

type loginData struct {
	Disabled bool
	Error    string
	Query    string // the page's query, kept across the login
}

func (o *overviewHandler) login(c echo.Context, code int, problem string) error {
	return o.render(c, code, "login", loginData{Disabled: o.auth.token == "", Error: problem, Query: c.QueryString()})
}

// tooMany is the login page answering 429: the client's address sent too
// many wrong tokens.
func (o *overviewHandler) tooMany(c echo.Context, lockedFor time.Duration, q string) error {
	wait := fmt.Sprintf("%d seconds", retryAfter(c, lockedFor))
	if m := int(lockedFor.Round(time.Minute) / time.Minute); m >= 2 {
		wait = fmt.Sprintf("%d minutes", m)
	}
	return o.render(c, http.StatusTooManyRequests, "login", loginData{Query: q,
		Error: "Too many wrong tokens from your address: try again in " + wait + "."})
}

// readLoginForm reads the login form's body: URL-encoded only, and at most
// SmallBodyBytes of it, before anything else. Echo's FormValue would parse
// a multipart body of any size, writing its large parts to temporary
// files, before the token is even looked at. code is 0 on success, else
// the answer with problem.
func readLoginForm(c echo.Context) (form url.Values, code int, problem string) {
	req := c.Request()
	mt, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationForm {
		return nil, http.StatusUnsupportedMediaType, "The login form must be sent as application/x-www-form-urlencoded."
	}
	tooLarge := fmt.Sprintf("The login form is larger than %d bytes.", SmallBodyBytes)
	if req.ContentLength > SmallBodyBytes {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, SmallBodyBytes+1))
	switch {
	case err != nil:
		return nil, http.StatusBadRequest, "The login form could not be read."
	case len(body) > SmallBodyBytes:
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	form, err = url.ParseQuery(string(body))
	if err != nil {
		return nil, http.StatusBadRequest, "The login form is not URL-encoded."
	}
	return form, 0, ""
}

// loginPost serves POST /postmortems/login: the admin token, once, for a
// cookie. Login is POST only, from the page itself (sameOrigin), and the
// cookie SameSite=Strict: no other site can make a browser use it.
func (o *overviewHandler) loginPost(c echo.Context) error {
	if o.auth.token == "" {
		return o.login(c, http.StatusForbidden, "")
	}
	form, code, problem := readLoginForm(c)
	if code != 0 {
		return o.render(c, code, "login", loginData{Error: problem})
	}
	q := form.Get("q")
	ok, locked := o.auth.verify(c, form.Get("token"))
	if locked > 0 {
		return o.tooMany(c, locked, q)
	}
	if !ok {
		return o.render(c, http.StatusUnauthorized, "login", loginData{Error: "That is not the admin token.", Query: q})
	}
	sid, err := newSessionID()
	if err != nil {
		return err
	}
	exp := o.now().Add(sessionTTL)
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Value: o.session(exp, sid), Path: "/postmortems", Expires: exp, MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, Secure: c.IsTLS() || c.Scheme() == "https", SameSite: http.SameSiteStrictMode,
	})
	target := "/postmortems"
	if v, err := url.ParseQuery(q); err == nil && len(v) > 0 {
		target += "?" + v.Encode() // re-encoded: a query, never another place
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// logout serves POST /postmortems/logout (from the page itself only): the
// session is revoked for every replica, so a copy of the cookie stops
// working too, and the cookie is cleared.
func (o *overviewHandler) logout(c echo.Context) error {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/postmortems", MaxAge: -1,
		HttpOnly: true, Secure: c.IsTLS() || c.Scheme() == "https", SameSite: http.SameSiteStrictMode})
	if ck, err := c.Cookie(sessionCookie); err == nil && o.sessions != nil {
		if sid, exp, ok := o.parseSession(ck.Value); ok {
			if err := o.sessions.RevokeSession(c.Request().Context(), sid, exp); err != nil {
				o.log.Error("logout not recorded: the session stays valid until it expires", "remote", c.RealIP(), "expires", exp, "err", err)
				return o.render(c, http.StatusServiceUnavailable, "login", loginData{Error: fmt.Sprintf(
					"You are logged out in this browser, but the logout could not be recorded (the session store is unavailable): a copy of this session's cookie stays valid until %s.",
					at(o.location(), exp))})
			}
		}
	}
	return c.Redirect(http.StatusSeeOther, "/postmortems")
}

func (o *overviewHandler) style(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", overviewCSS)
}

// summary is the page's summary line, over every tracked post-mortem.
type summary struct {
	Open, InReview, Overdue int
	Median                  string // days to Reviewed, last 90 days
	Reviewed                int    // how many that median is of
}

// summarize counts open (not Closed), In Review and overdue post-mortems,
// and the median days from registration (the status history's first entry)
// to the first Reviewed, of those that reached Reviewed in the last 90
// days.
func summarize(all []store.Deadline, now time.Time) summary {
	var s summary
	var days []float64
	for _, d := range all {
		if d.Status != store.StatusClosed {
			s.Open++
		}
		if d.Status == store.StatusInReview {
			s.InReview++
		}
		if late, _ := d.Overdue(now); late {
			s.Overdue++
		}
		if len(d.History) == 0 {
			continue
		}
		i := slices.IndexFunc(d.History, func(t store.Transition) bool { return t.Status == store.StatusReviewed })
		if i < 0 {
			continue
		}
		at := d.History[i].At
		if at.After(now) || now.Sub(at) > 90*24*time.Hour {
			continue
		}
		days = append(days, at.Sub(d.History[0].At).Hours()/24)
	}
	s.Reviewed, s.Median = len(days), "–"
	if len(days) > 0 {
		slices.Sort(days)
		m := days[len(days)/2]
		if len(days)%2 == 0 {
			m = (days[len(days)/2-1] + days[len(days)/2]) / 2
		}
		s.Median = strconv.FormatFloat(m, 'f', 1, 64) + " days"
	}
	return s
}

type filterLink struct {
	Text string
	Href string
	On   bool
}

type filterGroup struct {
	Label string
	Links []filterLink
}

// filterLinker makes the links of one tab's filters: each keeps the other
// filters (and the tab) and starts from the first page.
func filterLinker(q url.Values) func(text, name, value string) filterLink {
	return func(text, name, value string) filterLink {
		v := url.Values{}
		for k, vs := range q {
			if k != "cursor" && k != "limit" && k != name {
				v[k] = vs
			}
		}
		if value != "" {
			v.Set(name, value)
		}
		href := "/postmortems"
		if len(v) > 0 {
			href += "?" + v.Encode()
		}
		return filterLink{Text: text, Href: href, On: strings.EqualFold(q.Get(name), value)}
	}
}

// teamFilter is the Team filter: every team of a tracked post-mortem, by
// name, and the one chosen; nil when there are none.
func teamFilter(q url.Values, all []store.Deadline) *filterGroup {
	link := filterLinker(q)
	var teams []store.Team
	for _, d := range all {
		for _, t := range d.Teams {
			if !slices.ContainsFunc(teams, func(k store.Team) bool { return k.ID == t.ID }) {
				teams = append(teams, t)
			}
		}
	}
	chosen := q.Get("team")
	if len(teams) == 0 && chosen == "" {
		return nil
	}
	slices.SortFunc(teams, func(a, b store.Team) int { return strings.Compare(cmpOr(a.Name, a.ID), cmpOr(b.Name, b.ID)) })
	g := filterGroup{Label: "Team", Links: []filterLink{link("All", "team", "")}}
	for _, t := range teams {
		g.Links = append(g.Links, link(cmpOr(t.Name, t.ID), "team", t.ID))
	}
	if chosen != "" && !slices.ContainsFunc(teams, func(t store.Team) bool { return strings.EqualFold(t.ID, chosen) }) {
		g.Links = append(g.Links, link(chosen, "team", chosen))
	}
	return &g
}

// cmpOr is the first of a and b that is not empty.
func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// filters are the post-mortems tab's filters as links.
func filters(q url.Values, severities []string, all []store.Deadline) []filterGroup {
	link := filterLinker(q)
	st := filterGroup{Label: "Status", Links: []filterLink{link("All", "status", "")}}
	for _, s := range statuses {
		st.Links = append(st.Links, link(s, "status", s))
	}
	sev := filterGroup{Label: "Severity", Links: []filterLink{link("All", "severity", "")}}
	for _, s := range severities {
		sev.Links = append(sev.Links, link(s, "severity", s))
	}
	over := filterGroup{Label: "Deadline", Links: []filterLink{link("All", "overdue", ""), link("Overdue", "overdue", "true"), link("On time", "overdue", "false")}}
	out := []filterGroup{st, sev, over}
	if owner := q.Get("owner"); owner != "" {
		out = append(out, filterGroup{Label: "Owner", Links: []filterLink{link("All", "owner", ""), link(owner, "owner", owner)}})
	}
	if g := teamFilter(q, all); g != nil {
		out = append(out, *g)
	}
	return out
}

// pageRow is one post-mortem on the page: what the API answers, and what
// only people read.
type pageRow struct {
	postmortemJSON
	OwnerName     string // "" when the record has none: the email is shown
	FollowupLinks []followupLink
}

// followupLink is a follow-up's key and its Jira issue ("" when the epic's
// URL does not say where Jira is).
type followupLink struct {
	Key, URL string
}

// followupLinks links each follow-up key to its issue, at the Jira the
// epic's URL points to (the Jira client's BrowseURL: base + "/browse/" +
// key), so no host is configured twice; keys stay unlinked when the epic's
// URL is not of that shape.
func followupLinks(epicURL, epicKey string, keys []string) []followupLink {
	base, ok := strings.CutSuffix(epicURL, "/browse/"+epicKey)
	ok = ok && epicKey != "" && base != ""
	out := make([]followupLink, len(keys))
	for i, k := range keys {
		out[i].Key = k
		if ok && k != "" {
			out[i].URL = base + "/browse/" + url.PathEscape(k)
		}
	}
	return out
}

func toRow(d store.Deadline, now time.Time, rx recurrenceIndex) pageRow {
	return pageRow{postmortemJSON: toJSON(d, now, rx), OwnerName: d.OwnerName, FollowupLinks: followupLinks(d.EpicURL, d.Key, d.Followups)}
}

// The page's tabs, by the view parameter.
const (
	viewPostmortems = "postmortems" // the default
	viewFollowups   = "followups"
)

// tabs are the links to the page's tabs; view is the one shown.
func tabs(view string) []filterLink {
	return []filterLink{
		{Text: "Post-mortems", Href: "/postmortems", On: view == viewPostmortems},
		{Text: "Follow-ups", Href: "/postmortems?view=" + viewFollowups, On: view == viewFollowups},
	}
}

// topData is the page's header and tabs.
type topData struct {
	Title string
	Tabs  []filterLink
}

type pageData struct {
	Tabs    []filterLink
	Summary summary
	Filters []filterGroup
	Rows    []pageRow
	Next    string
	Zone    string
	Loc     *time.Location
	Now     time.Time
}

// problemData is a page that says what went wrong, with a way back.
type problemData struct {
	Title, Message string
}

// pageHTML serves GET /postmortems: the login page without a token, the
// overview with one. What goes wrong (a bad filter, the store unavailable)
// is a page too, with a link back: a browser is never answered JSON.
func (o *overviewHandler) pageHTML(c echo.Context) error {
	err := o.overviewPage(c)
	if err == nil || c.Response().Committed {
		return err
	}
	data := problemData{Title: "Something went wrong", Message: "The overview could not be shown; the error is in the server's log."}
	code := http.StatusInternalServerError
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		if m, ok := he.Message.(string); ok {
			data.Message = m
		}
		switch code {
		case http.StatusBadRequest:
			data.Title = "Bad filter"
		case http.StatusServiceUnavailable:
			data.Title = "Try again later"
		default:
			data.Title = http.StatusText(code)
		}
	} else {
		o.log.Error("overview page failed", "path", c.Request().URL.Path, "err", err)
	}
	if rerr := o.render(c, code, "problem", data); rerr != nil {
		return errors.Join(err, rerr)
	}
	return nil
}

func (o *overviewHandler) overviewPage(c echo.Context) error {
	if o.auth.token == "" {
		return o.login(c, http.StatusForbidden, "")
	}
	res, err := o.authRequest(c)
	switch {
	case err != nil:
		return err
	case res.lockedFor > 0:
		return o.tooMany(c, res.lockedFor, c.QueryString())
	case !res.ok:
		code := http.StatusOK
		if res.problem != "" {
			code = http.StatusUnauthorized
		}
		return o.login(c, code, res.problem)
	}
	now := o.now()
	params := c.QueryParams()
	// The tab is not a filter: the filters are read without it, and their
	// links keep it.
	filterParams := url.Values{}
	for k, vs := range params {
		if k != "view" {
			filterParams[k] = vs
		}
	}
	switch view := params["view"]; {
	case len(view) > 1:
		return echo.NewHTTPError(http.StatusBadRequest, `parameter "view" given twice: give it once`)
	case len(view) == 0 || view[0] == viewPostmortems:
	case view[0] == viewFollowups:
		return o.followupsTab(c, params, filterParams, now)
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "view must be postmortems or followups")
	}
	sevs := o.severities()
	q, err := overviewQuery(filterParams, sevs, 100, now)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	page, err := o.page(c, q)
	if err != nil {
		return err
	}
	all, err := o.pms.AllPostmortems(c.Request().Context())
	if err != nil {
		return o.admin.unavailable("list post-mortems", err)
	}
	rx, err := o.recurrences(c)
	if err != nil {
		return err
	}
	loc := o.location()
	data := pageData{Tabs: tabs(viewPostmortems), Summary: summarize(all, now), Filters: filters(params, sevs, all), Zone: loc.String(), Loc: loc, Now: now}
	for _, d := range page.Postmortems {
		data.Rows = append(data.Rows, toRow(d, now, rx))
	}
	if page.Next != "" {
		v := url.Values{}
		for k, vs := range params {
			v[k] = vs
		}
		v.Set("cursor", page.Next)
		data.Next = "/postmortems?" + v.Encode()
	}
	return o.render(c, http.StatusOK, "page", data)
}
