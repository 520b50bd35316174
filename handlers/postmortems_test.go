package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/store"
)

// overviewNow is "now" in the overview's tests.
var overviewNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// seedPM is a post-mortem to track, and its history.
type seedPM struct {
	pm         store.Postmortem
	registered time.Time
	moves      []seedMove
	fuDone     int
}

type seedMove struct {
	status string
	at     time.Time
}

func day(d int, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }

// overviewSeeds: one overdue (P1), on-time ones in every other status, a
// Closed one; two reached Reviewed in the last 90 days, in 2 and 3 days.
// P4 has a long title and three follow-ups, for the page on a phone. Only
// P1's record has its owner's name.
func overviewSeeds() []seedPM {
	pm := func(id string, n int, title, sev, owner string, meeting time.Time, fus ...string) store.Postmortem {
		return store.Postmortem{Incident: id, Number: n, Title: title, URL: "https://acme.pagerduty.com/incidents/" + id,
			Group: []string{id}, Severity: sev, Key: "PM-" + id[1:], EpicURL: "https://acme.atlassian.net/browse/PM-" + id[1:],
			Owner: owner, MeetingDue: meeting, ReviewDue: meeting.Add(-24 * time.Hour), ResolvedAt: meeting.AddDate(0, 0, -3), Followups: fus}
	}
	p1 := pm("P1", 101, "Checkout down", "SEV-1", "alice@example.com", day(7, 12), "OPS-1", "OPS-2")
	p1.Group = []string{"P1", "P1B"}
	p1.OwnerName = "Alice Liddell"
	p1.Teams = []store.Team{{ID: "PTEAM1", Name: "Payments"}}
	p4 := pm("P4", 104, "Payments retried twice after the card processor timed out during the nightly settlement batch",
		"SEV-2", "carol@example.com", day(15, 12), "PAY-101", "PAY-102", "PAY-1003")
	p4.Teams = []store.Team{{ID: "PTEAM2", Name: "Search <i>& co</i>"}}
	return []seedPM{
		{pm: p1, registered: day(4, 12), fuDone: 1},
		{pm: pm("P2", 102, "Search slow", "SEV-2", "bob@example.com", day(12, 12)), registered: day(5, 12)},
		{pm: pm("P3", 103, "Login errors", "SEV-1", "alice@example.com", day(9, 12)), registered: day(6, 12),
			moves: []seedMove{{store.StatusInReview, day(7, 12)}, {store.StatusReviewed, day(8, 12)}}},
		{pm: p4, registered: day(8, 12),
			moves: []seedMove{{store.StatusInReview, day(9, 12)}}},
		{pm: pm("P5", 105, "DNS outage", "SEV-1", "", day(1, 12)), registered: day(26, 0).AddDate(0, -1, 0),
			moves: []seedMove{{store.StatusReviewed, day(1, 0)}, {store.StatusClosed, day(2, 0)}}},
	}
}

type overviewEnv struct {
	url   string
	store *store.Store
	clock *testutil.Clock
}

func newOverview(t *testing.T, token string, seeds []seedPM) *overviewEnv {
	t.Helper()
	r := redistest.New(t)
	clock := testutil.NewClock(overviewNow)
	st := store.New(r.Client, r.Prefix).WithClock(clock.Now)
	ctx := context.Background()
	for _, s := range seeds {
		clock.Set(s.registered)
		if _, err := st.Register(ctx, s.pm, 2); err != nil {
			t.Fatal(err)
		}
		for _, m := range s.moves {
			clock.Set(m.at)
			if _, _, err := st.SetStatus(ctx, s.pm.Incident, m.status, "sync"); err != nil {
				t.Fatal(err)
			}
		}
		if len(s.pm.Followups) > 0 {
			if err := st.SetFollowupsDone(ctx, s.pm.Incident, s.fuDone); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock.Set(overviewNow)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Postmortems: st, Sessions: st, AdminToken: token, Now: clock.Now,
		Severities: func() []string { return []string{"SEV-1", "SEV-2"} },
		Location:   func() *time.Location { return berlin },
	}
	e := New(o)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &overviewEnv{url: srv.URL, store: st, clock: clock}
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, target, bearer string, cookies ...*http.Cookie) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

type apiPage struct {
	Postmortems []postmortemJSON `json:"postmortems"`
	NextCursor  string           `json:"next_cursor"`
}

func incidents(p apiPage) []string {
	out := []string{}
	for _, pm := range p.Postmortems {
		out = append(out, pm.Incident)
	}
	return out
}

// The API: every tracked post-mortem (Closed too) by meeting due, with
// what a manager needs; the filters; paging by cursor to the end; a 400
// that says what is allowed for every bad value; the admin token only.
func TestPostmortemsAPI(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	api := env.url + "/api/v1/postmortems"
	for _, bearer := range []string{"", "wrong"} {
		if code, _, _ := get(t, api, bearer); code != http.StatusUnauthorized {
			t.Fatalf("bearer %q: %d, want 401", bearer, code)
		}
	}
	read := func(query string) apiPage {
		t.Helper()
		code, _, body := get(t, api+query, adminToken)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", query, code, body)
		}
		var p apiPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	all := read("")
	if got := incidents(all); !slices.Equal(got, []string{"P5", "P1", "P3", "P2", "P4"}) || all.NextCursor != "" {
		t.Fatalf("order %v (next %q), want by meeting due", got, all.NextCursor)
	}
	p1 := all.Postmortems[1]
	if !p1.Overdue || p1.DaysOverdue != 3 || p1.Status != "Draft" || p1.Number != 101 || p1.Title != "Checkout down" ||
		p1.IncidentURL != "https://acme.pagerduty.com/incidents/P1" || p1.EpicKey != "PM-1" || p1.EpicURL == "" ||
		p1.Owner != "alice@example.com" || p1.Severity != "SEV-1" || !slices.Equal(p1.Group, []string{"P1", "P1B"}) ||
		!slices.Equal(p1.Followups, []string{"OPS-1", "OPS-2"}) || p1.FollowupsDone != 1 || p1.FollowupsCheckedAt == nil ||
		!p1.MeetingDue.Equal(day(7, 12)) || !p1.ReviewDue.Equal(day(6, 12)) {
		t.Fatalf("P1 = %+v", p1)
	}
	if p3 := all.Postmortems[2]; p3.Overdue || p3.DaysOverdue != 0 || p3.Status != "Reviewed" || p3.FollowupsCheckedAt != nil || p3.Followups == nil {
		t.Fatalf("P3 = %+v", p3)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?status=Closed", []string{"P5"}},
		{"?status=in%20review", []string{"P4"}},
		{"?severity=SEV-2", []string{"P2", "P4"}},
		{"?severity=sev-1&overdue=true", []string{"P1"}},
		{"?overdue=false", []string{"P5", "P3", "P2", "P4"}},
		{"?owner=Alice@Example.com", []string{"P1", "P3"}},
		{"?owner=nobody@example.com", []string{}},
	} {
		if got := incidents(read(tc.query)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}

	// Pages of 2 to the end, in order, with nothing twice.
	var walked []string
	query := "?limit=2"
	for range 5 {
		p := read(query)
		walked = append(walked, incidents(p)...)
		if p.NextCursor == "" {
			break
		}
		query = "?limit=2&cursor=" + url.QueryEscape(p.NextCursor)
	}
	if !slices.Equal(walked, []string{"P5", "P1", "P3", "P2", "P4"}) {
		t.Fatalf("paged: %v", walked)
	}

	for _, tc := range []struct{ query, want string }{
		{"?status=Done", "status must be one of Draft, In Review, Reviewed, Closed"},
		{"?severity=SEV-9", "severity must be one of the rules' severities: SEV-1, SEV-2"},
		{"?overdue=maybe", "overdue must be true or false"},
		{"?owner=alice", "owner must be an email address"},
		{"?limit=0", "limit must be a number from 1 to 200"},
		{"?limit=201", "limit must be a number from 1 to 200"},
		{"?cursor=bogus", "cursor must be the next_cursor of a previous page"},
		{"?stauts=Draft", `unknown parameter \"stauts\": the filters are status, severity`},
		{"?status=Draft&status=Closed", `parameter \"status\" given 2 times`},
	} {
		code, _, body := get(t, api+tc.query, adminToken)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.query, code, body, tc.want)
		}
	}
}

// The page with the bearer token: the overdue row stands out, on-time rows
// do not, statuses are labelled, rows link to the epic and the incident,
// times are in the rules' zone, the summary line counts, filters are links.
func TestPostmortemsPage(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	code, h, body := get(t, env.url+"/postmortems", adminToken)
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s\n%s", code, h.Get("Content-Type"), body)
	}
	for _, want := range []string{
		`<tr class="overdue" data-incident="P1">`,
		`<tr class="ontime" data-incident="P2">`,
		`<tr class="ontime" data-incident="P3">`,
		`<span class="late">overdue 3 days</span>`,
		`<span class="status status-in-review">In Review</span>`,
		`<span class="status status-closed">Closed</span>`,
		`<a href="https://acme.atlassian.net/browse/PM-1">PM-1</a>`,
		`<a href="https://acme.pagerduty.com/incidents/P1">#101</a>`,
		`group: P1, P1B`,
		`1/2 done`,
		"<span>Sat 7 Mar 2026</span> <span>13:00 CET</span>", // P1's meeting, 12:00 UTC, in Berlin
		"Times in Europe/Berlin",
		`<strong>4</strong> open`, `<strong>1</strong> in review`, `<strong>1</strong> overdue`,
		`median <strong>2.5 days</strong> to Reviewed (last 90 days, 2 post-mortems)`,
		`<a href="/postmortems?overdue=true">Overdue</a>`,
		`<a href="/postmortems?status=In&#43;Review">In Review</a>`,
		`href="/postmortems?owner=alice%40example.com"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s\n%s", want, body)
		}
	}
	if strings.Count(body, `class="overdue"`) != 1 || strings.Contains(body, "<script") {
		t.Errorf("one overdue row and no script expected:\n%s", body)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", h)
	}

	// A filter keeps the others and marks itself; the summary stays global.
	_, _, body = get(t, env.url+"/postmortems?severity=SEV-2&overdue=false", adminToken)
	if !strings.Contains(body, `data-incident="P2"`) || strings.Contains(body, `data-incident="P1"`) ||
		!strings.Contains(body, `<a href="/postmortems?overdue=false&amp;severity=SEV-2" class="on" aria-current="true">SEV-2</a>`) ||
		!strings.Contains(body, `<a href="/postmortems?severity=SEV-2">All</a>`) || !strings.Contains(body, `<strong>1</strong> overdue`) {
		t.Errorf("filtered page:\n%s", body)
	}
	_, _, body = get(t, env.url+"/postmortems?limit=2", adminToken)
	if !strings.Contains(body, `Next page`) || strings.Count(body, "<tr class=") != 2 {
		t.Errorf("first page of 2:\n%s", body)
	}
	if code, _, _ := get(t, env.url+"/postmortems?status=nope", adminToken); code != http.StatusBadRequest {
		t.Errorf("bad filter: %d", code)
	}
}

// PagerDuty and Jira text is escaped: a title, an owner and links written
// to attack the page show as text, and a javascript: link is defused.
func TestPostmortemsPageEscapesHostileText(t *testing.T) {
	seeds := overviewSeeds()[:1]
	seeds[0].pm.Title = `</td><script>alert("title")</script><img src=x onerror=alert(1)>`
	seeds[0].pm.URL = `javascript:alert("incident")`
	seeds[0].pm.EpicURL = `https://acme.atlassian.net/browse/PM-1" onmouseover="alert(1)`
	seeds[0].pm.Key = `PM-1<b>`
	seeds[0].pm.Owner = `"><script>alert('owner')</script>@example.com`
	seeds[0].pm.Group = []string{"P1", "<i>P2</i>"}
	seeds[0].pm.Followups = []string{`<svg onload=alert(1)>`}
	seeds[0].pm.OwnerName = `<script>alert('name')</script>`
	// A well-formed epic URL: its follow-ups are links, made of hostile keys.
	p2 := overviewSeeds()[1]
	p2.pm.Followups = []string{`"><svg onload=alert(2)>`, `X-1/../../evil?q=1#`}
	seeds = append(seeds, p2)
	env := newOverview(t, adminToken, seeds)
	code, _, body := get(t, env.url+"/postmortems", adminToken)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	for _, bad := range []string{"<script", "<img", "<svg", "<i>", "<b>", `" onmouseover="`, "javascript:"} {
		if strings.Contains(strings.ToLower(body), bad) {
			t.Errorf("page carries %q unescaped:\n%s", bad, body)
		}
	}
	for _, want := range []string{
		`&lt;/td&gt;&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;`,
		`href="#ZgotmplZ"`, // html/template's defused URL
		`&#34;&gt;&lt;script&gt;alert(&#39;owner&#39;)&lt;/script&gt;@example.com`,
		`&lt;svg onload=alert(1)&gt;`,
		`&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;</a>`,
		// The keys stay in the path of their issue's URL.
		`<a href="https://acme.atlassian.net/browse/%22%3E%3Csvg%20onload=alert%282%29%3E">&#34;&gt;&lt;svg onload=alert(2)&gt;</a>`,
		`<a href="https://acme.atlassian.net/browse/X-1%2F..%2F..%2Fevil%3Fq=1%23">X-1/../../evil?q=1#</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	// The API answers the same text as JSON, which escapes it too.
	_, _, js := get(t, env.url+"/api/v1/postmortems", adminToken)
	if strings.Contains(js, "<script") {
		t.Errorf("JSON carries <script raw: %s", js)
	}
}

// Follow-up keys link to their issues, at the Jira of the epic's URL;
// the owner column shows the owner's name, with the email below, or the
// email alone when the record has no name; keys stay text when the epic's
// URL does not say where Jira is. The API answers what it did.
func TestPostmortemsPageLinksFollowupsAndNamesOwners(t *testing.T) {
	seeds := overviewSeeds()
	seeds[3].pm.EpicURL = "https://jira.example.org/jira/browse/PM-4" // Data Center, under a context path
	seeds = append(seeds, seedPM{registered: day(8, 12), pm: store.Postmortem{Incident: "P6", Number: 106, Title: "Queue backlog",
		Severity: "SEV-2", Key: "PM-6", EpicURL: "https://acme.atlassian.net/projects/PM/issues/PM-6", Owner: "dan@example.com",
		MeetingDue: day(16, 12), ReviewDue: day(15, 12), Followups: []string{"OPS-9"}}})
	env := newOverview(t, adminToken, seeds)
	code, _, body := get(t, env.url+"/postmortems", adminToken)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	for _, want := range []string{
		`<a href="https://acme.atlassian.net/browse/OPS-1">OPS-1</a> <a href="https://acme.atlassian.net/browse/OPS-2">OPS-2</a>`,
		`<a href="https://jira.example.org/jira/browse/PAY-1003">PAY-1003</a>`,
		`<span>OPS-9</span>`, // P6's epic URL is not base/browse/KEY
		`title="Show only alice@example.com's post-mortems">Alice Liddell</a>`,
		`<div class="email">alice@example.com</div>`,
		`title="Show only bob@example.com's post-mortems">bob@example.com</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Count(body, `<div class="email">`) != 1 {
		t.Errorf("the email is repeated below the owner's name only where there is a name:\n%s", body)
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
	_, _, js := get(t, env.url+"/api/v1/postmortems", adminToken)
	if !strings.Contains(js, `"owner":"alice@example.com"`) || !strings.Contains(js, `"followups":["OPS-1","OPS-2"]`) {
		t.Errorf("API: %s", js)
	}
}

// A bad filter, a bad cursor or a store that does not answer, in the
// browser: an HTML page (400 or 503) with the message, escaped, and a link
// back to the overview; the page's security headers. The API keeps
// answering JSON.
func TestPostmortemsPageProblemsArePages(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	for _, tc := range []struct{ query, title, message string }{
		{"?status=Bogus", "Bad filter", "status must be one of Draft, In Review, Reviewed, Closed"},
		{"?overdue=maybe", "Bad filter", "overdue must be true or false"},
		{"?cursor=bogus", "Bad filter", "cursor must be the next_cursor of a previous page"},
		{"?%3Cscript%3E=1", "Bad filter", `unknown parameter &#34;&lt;script&gt;&#34;: the filters are status`},
	} {
		code, h, body := get(t, env.url+"/postmortems"+tc.query, adminToken)
		if code != http.StatusBadRequest || !strings.HasPrefix(h.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "<title>"+tc.title+" · aftermath</title>") || !strings.Contains(body, tc.message) ||
			!strings.Contains(body, `<a href="/postmortems">Back to all post-mortems</a>`) || strings.Contains(body, "<script") ||
			!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("page%s: %d %s %v\n%s", tc.query, code, h.Get("Content-Type"), h, body)
		}
		code, h, body = get(t, env.url+"/api/v1/postmortems"+tc.query, adminToken)
		if code != http.StatusBadRequest || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || !strings.HasPrefix(body, `{"error":`) {
			t.Errorf("API%s: %d %s %s", tc.query, code, h.Get("Content-Type"), body)
		}
	}
	// Without a login a bad filter is the login form, which keeps it.
	if code, _, body := get(t, env.url+"/postmortems?status=Bogus", ""); code != http.StatusOK || !strings.Contains(body, `name="q" value="status=Bogus"`) {
		t.Errorf("bad filter without a login: %d\n%s", code, body)
	}

	// A port nothing listens on: the store does not answer.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	srv := httptest.NewServer(New(Options{Postmortems: store.New(dead, "unused"), AdminToken: adminToken,
		Severities: func() []string { return []string{"SEV-1"} }}))
	t.Cleanup(srv.Close)
	code, h, body := get(t, srv.URL+"/postmortems", adminToken)
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(h.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "<title>Try again later · aftermath</title>") ||
		!strings.Contains(body, "list post-mortems: store unavailable; retry later") || !strings.Contains(body, `href="/postmortems"`) {
		t.Errorf("store down: %d %s\n%s", code, h.Get("Content-Type"), body)
	}
	if code, h, _ := get(t, srv.URL+"/api/v1/postmortems", adminToken); code != http.StatusServiceUnavailable ||
		!strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("API with the store down: %d %s", code, h.Get("Content-Type"))
	}
}

func postForm(t *testing.T, target string, form url.Values, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// The login flow: no token is the login page, never data; a wrong token is
// the login page with an error and 401; the right one sets a cookie that
// is HttpOnly, SameSite=Strict, Secure behind TLS, and is not the token;
// the cookie opens the page until it expires or is forged; logout ends it.
func TestPostmortemsLogin(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	page := env.url + "/postmortems"
	code, _, body := get(t, page+"?overdue=true", "")
	if code != http.StatusOK || !strings.Contains(body, `action="/postmortems/login"`) || strings.Contains(body, "Checkout down") ||
		!strings.Contains(body, `name="q" value="overdue=true"`) {
		t.Fatalf("without a token: %d\n%s", code, body)
	}
	if code, _, body := get(t, page, "wrong"); code != http.StatusUnauthorized || strings.Contains(body, "Checkout down") ||
		!strings.Contains(body, "not the admin token") {
		t.Fatalf("wrong bearer: %d\n%s", code, body)
	}
	resp := postForm(t, page+"/login", url.Values{"token": {"wrong"}}, nil)
	if body := readBody(resp); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 ||
		!strings.Contains(body, "That is not the admin token.") || strings.Contains(body, "Checkout down") {
		t.Fatalf("wrong token: %d %v\n%s", resp.StatusCode, resp.Cookies(), body)
	}
	if code, _, _ := get(t, page+"/login", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET login: %d, want 405 (login is POST only)", code)
	}

	resp = postForm(t, page+"/login", url.Values{"token": {adminToken}, "q": {"overdue=true"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/postmortems?overdue=true" || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %d %s %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	ck := resp.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/postmortems" ||
		strings.Contains(ck.Value, adminToken) || ck.MaxAge != 12*3600 {
		t.Fatalf("cookie %+v", ck)
	}
	if code, _, body := get(t, page+"?overdue=true", "", ck); code != http.StatusOK || !strings.Contains(body, `data-incident="P1"`) {
		t.Fatalf("with the cookie: %d\n%s", code, body)
	}
	// The cookie opens the page, not the API.
	if code, _, _ := get(t, env.url+"/api/v1/postmortems", "", ck); code != http.StatusUnauthorized {
		t.Fatalf("API with the cookie: %d", code)
	}
	forged := *ck
	forged.Value = fmt.Sprint(overviewNow.Add(1000*time.Hour).Unix()) + ck.Value[strings.Index(ck.Value, "."):]
	if code, _, body := get(t, page, "", &forged); code != http.StatusUnauthorized || strings.Contains(body, "Checkout down") {
		t.Fatalf("forged cookie: %d", code)
	}
	env.clock.Set(overviewNow.Add(13 * time.Hour))
	if code, _, body := get(t, page, "", ck); code != http.StatusUnauthorized || !strings.Contains(body, "session has ended") {
		t.Fatalf("expired cookie: %d\n%s", code, body)
	}
	env.clock.Set(overviewNow)

	// Behind a TLS-terminating proxy the cookie is Secure; a q that is not
	// a query stays on the page.
	resp = postForm(t, page+"/login", url.Values{"token": {adminToken}, "q": {"//evil.example/%zz"}}, map[string]string{"X-Forwarded-Proto": "https"})
	if resp.StatusCode != http.StatusSeeOther || !resp.Cookies()[0].Secure || resp.Header.Get("Location") != "/postmortems" {
		t.Fatalf("login over TLS: %d %s %+v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}

	resp = postForm(t, page+"/logout", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
		t.Fatalf("logout: %d %+v", resp.StatusCode, resp.Cookies())
	}

	// Without an admin token the page is off.
	off := newOverview(t, "", nil)
	if code, _, body := get(t, off.url+"/postmortems", ""); code != http.StatusForbidden || !strings.Contains(body, "AFTERMATH_ADMIN_TOKEN") {
		t.Fatalf("no admin token: %d %s", code, body)
	}
	if resp := postForm(t, off.url+"/postmortems/login", url.Values{"token": {""}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login with no admin token: %d", resp.StatusCode)
	}
}
