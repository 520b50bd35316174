package handlers

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
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
	}).ParseFS(overviewFS, "overview/page.html"))
	overviewCSS, _ = overviewFS.ReadFile("overview/style.css")
)

const (
	sessionCookie = "aftermath_overview"
	sessionTTL    = 12 * time.Hour
	// The page loads its stylesheet and nothing else: no script at all.
	overviewCSP = "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

// The login cookie holds an expiry and an HMAC of it keyed with the admin
// token, never the token: a leaked cookie opens the page for at most 12
// hours and does not open the API, and changing the token ends every
// session.
func (o *overviewHandler) session(exp time.Time) string {
	ts := strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, []byte(o.token))
	m.Write([]byte("aftermath overview session\x00" + ts))
	return ts + "." + hex.EncodeToString(m.Sum(nil))
}

func (o *overviewHandler) validSession(v string) bool {
	ts, _, ok := strings.Cut(v, ".")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || !o.now().Before(time.Unix(sec, 0)) {
		return false
	}
	want := o.session(time.Unix(sec, 0))
	return subtle.ConstantTimeCompare([]byte(v), []byte(want)) == 1
}

// tokenMatches compares a given token with the admin token in constant
// time, whatever the lengths.
func (o *overviewHandler) tokenMatches(got string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(o.token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// auth says whether the request carries the admin token (bearer header) or
// a valid login cookie, and the error to show when it carries a wrong one.
func (o *overviewHandler) auth(c echo.Context) (ok bool, problem string) {
	if h := c.Request().Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, got, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") && o.tokenMatches(strings.TrimSpace(got)) {
			return true, ""
		}
		return false, "The bearer token is not the admin token."
	}
	if ck, err := c.Cookie(sessionCookie); err == nil {
		if o.validSession(ck.Value) {
			return true, ""
		}
		return false, "Your session has ended: log in again."
	}
	return false, ""
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
	return o.render(c, code, "login", loginData{Disabled: o.token == "", Error: problem, Query: c.QueryString()})
}

// loginPost serves POST /postmortems/login: the admin token, once, for a
// cookie. Login is POST only and the cookie SameSite=Strict: no other site
// can make a browser use it.
func (o *overviewHandler) loginPost(c echo.Context) error {
	if o.token == "" {
		return o.login(c, http.StatusForbidden, "")
	}
	q := c.FormValue("q")
	if !o.tokenMatches(c.FormValue("token")) {
		return o.render(c, http.StatusUnauthorized, "login", loginData{Error: "That is not the admin token.", Query: q})
	}
	exp := o.now().Add(sessionTTL)
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Value: o.session(exp), Path: "/postmortems", Expires: exp, MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, Secure: c.IsTLS() || c.Scheme() == "https", SameSite: http.SameSiteStrictMode,
	})
	target := "/postmortems"
	if v, err := url.ParseQuery(q); err == nil && len(v) > 0 {
		target += "?" + v.Encode() // re-encoded: a query, never another place
	}
	return c.Redirect(http.StatusSeeOther, target)
}

func (o *overviewHandler) logout(c echo.Context) error {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/postmortems", MaxAge: -1,
		HttpOnly: true, Secure: c.IsTLS() || c.Scheme() == "https", SameSite: http.SameSiteStrictMode})
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

// filters are the page's filters as links: each keeps the other filters
// and starts from the first page.
func filters(q url.Values, severities []string) []filterGroup {
	link := func(text, name, value string) filterLink {
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
	return out
}

type pageData struct {
	Summary summary
	Filters []filterGroup
	Rows    []postmortemJSON
	Next    string
	Zone    string
	Loc     *time.Location
	Now     time.Time
}

// page serves GET /postmortems: the login page without a token, the
// overview with one.
func (o *overviewHandler) pageHTML(c echo.Context) error {
	if o.token == "" {
		return o.login(c, http.StatusForbidden, "")
	}
	if ok, problem := o.auth(c); !ok {
		code := http.StatusOK
		if problem != "" {
			code = http.StatusUnauthorized
		}
		return o.login(c, code, problem)
	}
	now := o.now()
	params := c.QueryParams()
	sevs := o.severities()
	q, err := overviewQuery(params, sevs, 100, now)
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
	loc := o.location()
	data := pageData{Summary: summarize(all, now), Filters: filters(params, sevs), Zone: loc.String(), Loc: loc, Now: now}
	for _, d := range page.Postmortems {
		data.Rows = append(data.Rows, toJSON(d, now))
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
