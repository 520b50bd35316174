package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/store"
)

// hostileSummary is a person-added follow-up's summary, shown as text.
const hostileSummary = `<script>alert(1)</script> & "drop" <img src=x onerror=alert(2)>`

// seedFollowups fills the follow-up index as the status sync would, and
// the recurrence log as the recurrence check would (with overviewSeeds;
// now is overviewNow, 10 Mar 12:00 UTC, the zone Berlin):
//
//	OPS-2    P1 SEV-1 Payments  alice  due 5 Mar  overdue 5 days   created 4 Mar
//	PAY-101  P4 SEV-2 Search    bob    due 20 Mar                  created 8 Mar 13:00
//	PAY-1003 P4 SEV-2 Search    carol  due 9 Mar  overdue 1 day    created 8 Mar 13:00
//	PAY-102  P4 SEV-2 Search    -      no due                      created 8 Mar 14:00
//	OPS-50   P2 SEV-2 -         eve    no due (added by a person)  created 9 Mar
//
// and OPS-1 (P1, done, created 4 Mar 12:00), OPS-3 (P1, deleted).
func seedFollowups(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	due := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	seeds := map[string][]store.Followup{
		"P1": {
			{Key: "OPS-1", Epic: "PM-1", Summary: "Add a retry budget", Status: "Done", Done: true, Made: true, CreatedAt: day(4, 12), DoneAt: day(6, 0)},
			{Key: "OPS-2", Epic: "PM-1", Summary: "Alert on checkout 5xx", Status: "In Progress", Assignee: "alice@example.com",
				AssigneeName: "Alice Liddell", Due: due(5), Made: true, CreatedAt: day(4, 13), SeenAt: day(10, 11)},
			{Key: "OPS-3", Epic: "PM-1", Summary: "Gone", Deleted: true, CreatedAt: day(4, 14)},
		},
		"P4": {
			{Key: "PAY-101", Epic: "PM-4", Summary: "Idempotency keys", Status: "To Do", Assignee: "bob@example.com", Due: due(20), Made: true, CreatedAt: day(8, 13)},
			{Key: "PAY-1003", Epic: "PM-4", Summary: "Settlement timeout", Status: "To Do", Assignee: "Carol@Example.com", Due: due(9), Made: true, CreatedAt: day(8, 13)},
			{Key: "PAY-102", Epic: "PM-4", Summary: "Runbook", Status: "To Do", Made: true, CreatedAt: day(8, 14)},
		},
		"P2": {{Key: "OPS-50", Epic: "PM-2", Summary: hostileSummary, Status: "Open", Assignee: "eve@example.com", AssigneeName: "<b>Eve</b>", CreatedAt: day(9, 12)}},
	}
	for id, fus := range seeds {
		if err := st.SaveFollowups(ctx, id, fus); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []store.Recurrence{
		{Incident: "PNEW", Number: 201, Title: "checkout 502 <again>", URL: "https://acme.pagerduty.com/incidents/PNEW", Severity: "SEV-3",
			Service: "PSVC", ResolvedAt: day(9, 0), Earlier: "P1", EarlierKey: "PM-1", Open: []string{"OPS-2"}},
		{Incident: "P4", Number: 104, Title: "Payments retried", Service: "PSVC", ResolvedAt: day(8, 0), Earlier: "P1", EarlierKey: "PM-1", Open: []string{"OPS-2"}},
	} {
		if _, err := st.RecordRecurrence(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

type followupsAPIPage struct {
	Followups  []followupJSON `json:"followups"`
	NextCursor string         `json:"next_cursor"`
}

func followupKeys(p followupsAPIPage) []string {
	out := []string{}
	for _, f := range p.Followups {
		out = append(out, f.Key)
	}
	return out
}

// GET /api/v1/followups: the admin token only; open follow-ups by default,
// oldest first (created time, then key: PAY-101 before PAY-1003); each
// filter, alone and combined; a row with its due date, lateness in the
// rules' zone, assignee, post-mortem and teams.
func TestFollowupsAPI(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	seedFollowups(t, env.store)
	api := env.url + "/api/v1/followups"
	for _, bearer := range []string{"", "wrong"} {
		if code, _, _ := get(t, api, bearer); code != http.StatusUnauthorized {
			t.Fatalf("bearer %q: %d, want 401", bearer, code)
		}
	}
	read := func(query string) followupsAPIPage {
		t.Helper()
		code, _, body := get(t, api+query, adminToken)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", query, code, body)
		}
		var p followupsAPIPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	all := read("")
	if got := followupKeys(all); !slices.Equal(got, []string{"OPS-2", "PAY-101", "PAY-1003", "PAY-102", "OPS-50"}) || all.NextCursor != "" {
		t.Fatalf("open follow-ups %v (next %q)", got, all.NextCursor)
	}
	ops2 := all.Followups[0]
	pm := ops2.Postmortem
	if ops2.Summary != "Alert on checkout 5xx" || ops2.Status != "In Progress" || ops2.Done || ops2.Assignee != "alice@example.com" ||
		ops2.AssigneeName != "Alice Liddell" || ops2.Due != "2026-03-05" || !ops2.Overdue || ops2.DaysOverdue != 5 ||
		ops2.URL != "https://acme.atlassian.net/browse/OPS-2" || ops2.CreatedAt == nil || !ops2.CreatedAt.Equal(day(4, 13)) ||
		ops2.SeenAt == nil || pm.EpicKey != "PM-1" || pm.EpicURL != "https://acme.atlassian.net/browse/PM-1" || pm.Incident != "P1" ||
		pm.Number != 101 || pm.Title != "Checkout down" || pm.Severity != "SEV-1" || pm.Status != "Draft" ||
		pm.IncidentURL != "https://acme.pagerduty.com/incidents/P1" || !slices.Equal(ops2.Teams, []teamJSON{{ID: "PTEAM1", Name: "Payments"}}) {
		t.Fatalf("OPS-2 = %+v", ops2)
	}
	if p1003 := all.Followups[2]; !p1003.Overdue || p1003.DaysOverdue != 1 {
		t.Fatalf("PAY-1003, due yesterday: overdue %v by %d days", p1003.Overdue, p1003.DaysOverdue)
	}
	if p102 := all.Followups[3]; p102.Due != "" || p102.Overdue || p102.Assignee != "" || p102.Teams == nil {
		t.Fatalf("PAY-102, no due date, unassigned = %+v", p102)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?state=open", []string{"OPS-2", "PAY-101", "PAY-1003", "PAY-102", "OPS-50"}},
		{"?state=done", []string{"OPS-1"}},
		{"?state=ALL", []string{"OPS-1", "OPS-2", "PAY-101", "PAY-1003", "PAY-102", "OPS-50"}},
		{"?overdue=true", []string{"OPS-2", "PAY-1003"}},
		{"?overdue=false", []string{"PAY-101", "PAY-102", "OPS-50"}},
		{"?state=done&overdue=true", []string{}},
		{"?assignee=CAROL@example.com", []string{"PAY-1003"}},
		{"?assignee=nobody@example.com", []string{}},
		{"?severity=sev-1", []string{"OPS-2"}},
		{"?postmortem=PM-4", []string{"PAY-101", "PAY-1003", "PAY-102"}},
		{"?postmortem=p1b", []string{"OPS-2"}}, // an incident of P1's group
		{"?postmortem=P2", []string{"OPS-50"}},
		{"?team=PTEAM2", []string{"PAY-101", "PAY-1003", "PAY-102"}},
		{"?team=pteam1&state=all", []string{"OPS-1", "OPS-2"}},
		{"?team=PNONE", []string{}},
		{"?team=PTEAM2&overdue=true&severity=SEV-2", []string{"PAY-1003"}},
	} {
		if got := followupKeys(read(tc.query)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
}

// Pages of 2 to the end: every follow-up once, in order, though between
// pages one older than the cursor (not shown) and one newer (shown) are
// added and a listed one is done.
func TestFollowupsAPIPaging(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	seedFollowups(t, env.store)
	ctx := context.Background()
	var got []string
	query := url.Values{"limit": {"2"}}
	for pages := 0; ; pages++ {
		code, _, body := get(t, env.url+"/api/v1/followups?"+query.Encode(), adminToken)
		if code != http.StatusOK {
			t.Fatalf("page %d: %d %s", pages, code, body)
		}
		var p followupsAPIPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, followupKeys(p)...)
		if pages == 0 {
			if err := env.store.SaveFollowups(ctx, "P2", []store.Followup{
				{Key: "OPS-40", Epic: "PM-2", CreatedAt: day(1, 0)}, {Key: "OPS-60", Epic: "PM-2", CreatedAt: day(10, 0)},
			}); err != nil {
				t.Fatal(err)
			}
			if err := env.store.SaveFollowups(ctx, "P1", []store.Followup{{Key: "OPS-2", Epic: "PM-1", Done: true, CreatedAt: day(4, 13)}}); err != nil {
				t.Fatal(err)
			}
		}
		if p.NextCursor == "" {
			break
		}
		if len(p.Followups) != 2 || pages > 5 {
			t.Fatalf("page %d: %v", pages, followupKeys(p))
		}
		query.Set("cursor", p.NextCursor)
	}
	if want := []string{"OPS-2", "PAY-101", "PAY-1003", "PAY-102", "OPS-50", "OPS-60"}; !slices.Equal(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
}

// Every bad parameter is a 400 that says what is allowed.
func TestFollowupsAPIBadInput(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	seedFollowups(t, env.store)
	_, _, pmBody := get(t, env.url+"/api/v1/postmortems?limit=1", adminToken)
	var pmPage apiPage
	if err := json.Unmarshal([]byte(pmBody), &pmPage); err != nil || pmPage.NextCursor == "" {
		t.Fatalf("a post-mortems cursor: %v %q", err, pmBody)
	}
	for _, tc := range []struct{ query, want string }{
		{"?status=Draft", `unknown parameter "status": the filters are state, overdue, assignee, severity, postmortem, team, limit, cursor`},
		{"?team=PTEAM1&team=PTEAM2", `parameter "team" given 2 times: give it once`},
		{"?state=closed", "state must be one of open, done, all"},
		{"?overdue=maybe", "overdue must be true or false"},
		{"?assignee=alice", "assignee must be an email address"},
		{"?severity=SEV-9", "severity must be one of the rules' severities: SEV-1, SEV-2"},
		{"?postmortem=" + url.QueryEscape("PM-1<script>"), "postmortem must be a post-mortem's epic key (e.g. PM-4) or an incident ID (e.g. PABC123)"},
		{"?team=P-TEAM", "team must be a PagerDuty team ID (letters and digits, e.g. PTEAM1)"},
		{"?team=" + strings.Repeat("P", 65), "team must be a PagerDuty team ID (letters and digits, e.g. PTEAM1)"},
		{"?limit=0", "limit must be a number from 1 to 200"},
		{"?limit=201", "limit must be a number from 1 to 200"},
		{"?cursor=!!", "cursor must be the next_cursor of a previous page of /api/v1/followups"},
		{"?cursor=" + pmPage.NextCursor, "cursor must be the next_cursor of a previous page of /api/v1/followups"},
	} {
		code, _, body := get(t, env.url+"/api/v1/followups"+tc.query, adminToken)
		var e struct {
			Message string `json:"error"`
		}
		_ = json.Unmarshal([]byte(body), &e)
		if code != http.StatusBadRequest || e.Message != tc.want {
			t.Errorf("%s: %d %s, want 400 %q", tc.query, code, body, tc.want)
		}
	}
}

// The route has the 8 KiB body cap of every route that takes no body.
func TestFollowupsAPICapsItsBody(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	req, _ := http.NewRequest(http.MethodGet, env.url+"/api/v1/followups", strings.NewReader(strings.Repeat("x", 1<<20)))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("1 MiB body: %d, want 413", resp.StatusCode)
	}
}

// The post-mortem list: each post-mortem's teams and recurrences (the
// later incidents, counted; the earlier epics it recurred), and the team
// filter, its bad values a 400.
func TestPostmortemsAPITeamsAndRecurrences(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	seedFollowups(t, env.store)
	read := func(query string) apiPage {
		t.Helper()
		code, _, body := get(t, env.url+"/api/v1/postmortems"+query, adminToken)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", query, code, body)
		}
		var p apiPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for query, want := range map[string][]string{
		"?team=PTEAM1": {"P1"}, "?team=pteam2": {"P4"}, "?team=PTEAM2&status=Draft": {}, "?team=PNONE": {},
	} {
		if got := incidents(read(query)); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", query, got, want)
		}
	}
	byID := map[string]postmortemJSON{}
	for _, p := range read("").Postmortems {
		byID[p.Incident] = p
	}
	p1, p4, p2 := byID["P1"], byID["P4"], byID["P2"]
	if p1.RecurrenceCount != 2 || len(p1.Recurrences) != 2 || p1.Recurrences[0].Incident != "P4" || p1.Recurrences[1].Incident != "PNEW" ||
		p1.Recurrences[1].Number != 201 || p1.Recurrences[1].Severity != "SEV-3" || !slices.Equal(p1.Recurrences[1].Open, []string{"OPS-2"}) ||
		!slices.Equal(p1.Teams, []teamJSON{{ID: "PTEAM1", Name: "Payments"}}) || len(p1.RecurrenceOf) != 0 {
		t.Fatalf("P1 = %+v", p1)
	}
	if !slices.Equal(p4.RecurrenceOf, []string{"PM-1"}) || p4.RecurrenceCount != 0 || p4.Recurrences == nil {
		t.Fatalf("P4 = %+v", p4)
	}
	if p2.Teams == nil || len(p2.Teams) != 0 || p2.RecurrenceOf == nil {
		t.Fatalf("P2 without teams or recurrences = %+v", p2)
	}
	code, _, body := get(t, env.url+"/api/v1/postmortems?team=PTEAM1%3Cx%3E", adminToken)
	if code != http.StatusBadRequest || !strings.Contains(body, "team must be a PagerDuty team ID") {
		t.Fatalf("bad team: %d %s", code, body)
	}
}

// The Follow-ups tab: open follow-ups oldest first with due date, lateness,
// assignee and post-mortem, links that filter, every text escaped; the
// post-mortems tab shows teams and recurrences and filters by team; bad
// values are pages that say what is wrong.
func TestFollowupsTab(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	seedFollowups(t, env.store)
	page := func(query string, want int) string {
		t.Helper()
		code, h, body := get(t, env.url+"/postmortems"+query, adminToken)
		if code != want {
			t.Fatalf("%s: %d, want %d: %s", query, code, want, body)
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: content type %q", query, h.Get("Content-Type"))
		}
		return body
	}
	rows := func(body string) []string {
		var keys []string
		for _, part := range strings.Split(body, `data-key="`)[1:] {
			keys = append(keys, part[:strings.IndexByte(part, '"')])
		}
		return keys
	}
	body := page("?view=followups", http.StatusOK)
	if got := rows(body); !slices.Equal(got, []string{"OPS-2", "PAY-101", "PAY-1003", "PAY-102", "OPS-50"}) {
		t.Fatalf("tab rows %v", got)
	}
	for _, want := range []string{
		`<a href="/postmortems?view=followups" class="on" aria-current="page">Follow-ups</a>`,
		`<tr class="overdue" data-key="OPS-2">`,
		`<a href="https://acme.atlassian.net/browse/OPS-2">OPS-2</a>`,
		`<span>2026-03-05</span>`, `overdue 5 days`, `overdue 1 day<`, `<td class="age">5 days</td>`,
		`<a href="/postmortems?assignee=alice%40example.com&amp;view=followups"`, `>Alice Liddell</a>`,
		`<a href="/postmortems?postmortem=PM-1&amp;view=followups" title="Show only this post-mortem's follow-ups">PM-1</a>`,
		`#101</a> Checkout down`, `team: Payments`, `team: Search &lt;i&gt;&amp; co&lt;/i&gt;`,
		// A person's text is text.
		`&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;drop&#34; &lt;img src=x onerror=alert(2)&gt;`, `&lt;b&gt;Eve&lt;/b&gt;`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("tab lacks %s", want)
		}
	}
	for _, bad := range []string{"<script>", "<b>Eve", "<img", "<i>&"} {
		if strings.Contains(body, bad) {
			t.Errorf("tab has unescaped %s", bad)
		}
	}
	if got := rows(page("?view=followups&assignee=alice@example.com", http.StatusOK)); !slices.Equal(got, []string{"OPS-2"}) {
		t.Errorf("assignee filter: %v", got)
	}
	if got := rows(page("?view=followups&team=PTEAM2&overdue=true", http.StatusOK)); !slices.Equal(got, []string{"PAY-1003"}) {
		t.Errorf("team and overdue filters: %v", got)
	}
	if got := rows(page("?view=followups&state=done", http.StatusOK)); !slices.Equal(got, []string{"OPS-1"}) {
		t.Errorf("done: %v", got)
	}
	// Pages of 2, linked.
	first := page("?view=followups&limit=2", http.StatusOK)
	i := strings.Index(first, `<p class="more"><a href="`)
	if i < 0 || !slices.Equal(rows(first), []string{"OPS-2", "PAY-101"}) {
		t.Fatalf("first page %v without a next link", rows(first))
	}
	next := first[i+len(`<p class="more"><a href="`):]
	next = strings.ReplaceAll(next[:strings.IndexByte(next, '"')], "&amp;", "&")
	if got := rows(page(strings.TrimPrefix(next, "/postmortems"), http.StatusOK)); !slices.Equal(got, []string{"PAY-1003", "PAY-102"}) {
		t.Fatalf("second page (%s): %v", next, got)
	}

	pms := page("", http.StatusOK)
	for _, want := range []string{
		`<a href="/postmortems" class="on" aria-current="page">Post-mortems</a>`,
		`<a href="/postmortems?team=PTEAM1">Payments</a>`, `<a href="/postmortems?team=PTEAM2">Search &lt;i&gt;&amp; co&lt;/i&gt;</a>`,
		`recurred 2×`, `<a href="https://acme.pagerduty.com/incidents/PNEW">#201</a> checkout 502 &lt;again&gt;`, `recurrence of PM-1`,
	} {
		if !strings.Contains(pms, want) {
			t.Errorf("post-mortems tab lacks %s", want)
		}
	}
	if got := page("?team=PTEAM1", http.StatusOK); !strings.Contains(got, `data-incident="P1"`) || strings.Contains(got, `data-incident="P4"`) {
		t.Errorf("team filter on the page did not select P1 alone")
	}
	for query, want := range map[string]string{
		"?view=board":                    "view must be postmortems or followups",
		"?view=followups&state=bogus":    "state must be one of open, done, all",
		"?view=followups&status=Draft":   `unknown parameter &#34;status&#34;`,
		"?view=followups&cursor=bogus":   "cursor must be the next_cursor of a previous page",
		"?team=%3Cscript%3E":             "team must be a PagerDuty team ID",
		"?view=followups&view=followups": `parameter &#34;view&#34; given twice`,
	} {
		if got := page(query, http.StatusBadRequest); !strings.Contains(got, want) || !strings.Contains(got, "Bad filter") {
			t.Errorf("%s: page lacks %q", query, want)
		}
	}
}
