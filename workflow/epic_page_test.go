package workflow

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/render"
)

func TestJiraPostmortemSEV2Page(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PSEV2", Number: 88, Title: "Search results stale by up to 20 minutes", ServiceID: "PSVC001", Priority: "P2", CreatedAt: t0})
	e.sim.Acknowledge("PSEV2", "PUSER03", t0.Add(5*time.Minute))
	e.sim.Resolve("PSEV2", "PUSER03", t0.Add(50*time.Minute))
	e.mustProcess(EventResolved, "PSEV2")
	epic := e.wantOneEpic()
	goldenFile(t, "sev2-page.jira", e.stable(epic.Description))
	// SEV-2: 5 business days from Friday 20 November is Friday 27 November.
	if epic.DueDate != "2026-11-27" {
		t.Errorf("due date = %s", epic.DueDate)
	}
	if n := len(e.children(epic.Key)); n != 1 {
		t.Errorf("%d follow-ups, want 1 (the SEV-2 standard task)", n)
	}
}

// Text from PagerDuty that tries to break the page's markup stays text.
func TestJiraMarkupInjection(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	title := "Checkout |down| [click|javascript:alert(1)] {code}"
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PEVIL", Number: 666, Title: title, ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
	e.sim.Annotate("PEVIL", "PUSER01", "h1. Owned\n|| fake || table ||\n{panel}\nTODO: fix [this|http://evil.example] *now*", t0.Add(10*time.Minute))
	e.sim.Annotate("PEVIL", "PUSER02", "Graph: https://grafana.example.com/d/x?a=1|b]{panel} then h1. [logs|https://logs.example.com/search?q=5xx]{code} javascript:alert(1)", t0.Add(11*time.Minute))
	e.sim.Resolve("PEVIL", "PUSER01", t0.Add(20*time.Minute))
	e.mustProcess(EventResolved, "PEVIL")
	epic := e.wantOneEpic()
	d := epic.Description
	for _, bad := range []string{"\nh1. Owned", "\n|| fake", "[this|http://evil.example]"} {
		if strings.Contains(d, bad) {
			t.Errorf("the page contains %q unescaped:\n%s", bad, d)
		}
	}
	if regexp.MustCompile(`[^\\]\|javascript:`).MatchString(d) {
		t.Errorf("a javascript: link target survived:\n%s", d)
	}
	// The links in the notes are gathered, each cut where markup would
	// start, with the note's line escaped.
	line := `Graph: https://grafana.example.com/d/x?a=1\|b\]\{panel\} then h1. \[logs\|https://logs.example.com/search?q=5xx\]\{code\} javascript:alert(1) — Bob Stone, #666, `
	line = strings.ReplaceAll(line, "?", `\?`)
	for _, row := range []string{
		"|[https://grafana.example.com/d/x?a=1]|dashboard|" + line,
		"|[https://logs.example.com/search?q=5xx]|log search|" + line,
		"|[http://evil.example]|link|TODO: fix \\[this\\|http://evil.example\\] \\*now\\* — Alice Ng, #666, ",
	} {
		if !strings.Contains(d, "\n"+row) {
			t.Errorf("the Data and queries section lacks the row %q:\n%s", row, d)
		}
	}
	// Only aftermath's own panel: opened once, closed once.
	if n := strings.Count(d, "{panel") - strings.Count(d, `\{panel`); n != 2 {
		t.Errorf("%d unescaped panel macros, want 2:\n%s", n, d)
	}
	// The title is the primary's link text: the characters that would end
	// the link are look-alikes there.
	if !strings.Contains(d, `Checkout ¦down¦ ⁅click¦javascript:alert(1)⁆ \{code\}`) {
		t.Errorf("the title is not escaped in the page:\n%s", d)
	}
	if epic.Summary != "[SEV-1] Post-mortem: "+title+" (#666)" {
		t.Errorf("summary = %q", epic.Summary)
	}
	for _, k := range e.children(epic.Key) {
		if strings.Contains(k.Description, "[this|http://evil.example]") {
			t.Errorf("follow-up %s carries the link unescaped:\n%s", k.Key, k.Description)
		}
	}
}

// A very long incident still fits Jira's description limit: the timeline
// keeps its first rows, says how many more there are and where, and the
// rest is in comments on the epic.
func TestJiraLongTimelineFits(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PLONG", Number: 10, Title: "Long", ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
	for i := range 300 {
		e.sim.Annotate("PLONG", "PUSER01", fmt.Sprintf("Update %d: %s", i, strings.Repeat("still looking at the pool; ", 4)), t0.Add(time.Duration(i)*10*time.Second))
	}
	e.sim.Resolve("PLONG", "PUSER01", t0.Add(2*time.Hour))
	e.mustProcess(EventResolved, "PLONG")
	epic := e.wantOneEpic()
	if n := jiraChars(epic.Description); n > jiraTextLimit {
		t.Fatalf("description of %d characters", n)
	}
	if !strings.Contains(epic.Description, "more events: see the comments on this epic, and the incidents in PagerDuty") {
		t.Fatal("the page does not say the timeline was cut")
	}
	all := epic.Description
	for _, c := range epic.Comments {
		all += c.Body
	}
	for i := range 300 {
		if !strings.Contains(all, fmt.Sprintf("Note: Update %d: still", i)) {
			t.Errorf("update %d is neither on the page nor in a comment", i)
		}
	}
}

// The response table: per incident and for the group, with escalations,
// reassignments after the first page, and an incident never acknowledged;
// read from the log entries the timeline step reads anyway.
func TestJiraPageResponseTimes(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	s := e.sim
	s.AddIncident(pagerdutytest.NewIncident{ID: "PDUR1", Number: 501, Title: "Checkout slow", ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
	s.Assign("PDUR1", "PUSER01", t0.Add(time.Minute))
	s.Escalate("PDUR1", "PUSER02", t0.Add(6*time.Minute))
	s.Escalate("PDUR1", "PUSER03", t0.Add(11*time.Minute))
	s.Acknowledge("PDUR1", "PUSER03", t0.Add(12*time.Minute))
	s.Assign("PDUR1", "PUSER01", t0.Add(30*time.Minute))
	s.AddIncident(pagerdutytest.NewIncident{ID: "PDUR2", Number: 502, Title: "Payments slow", ServiceID: "PSVC002", Priority: "P2", CreatedAt: t0.Add(5 * time.Minute)})
	s.Assign("PDUR2", "PUSER02", t0.Add(5*time.Minute+30*time.Second))
	s.Escalate("PDUR2", "PUSER03", t0.Add(20*time.Minute))
	s.Resolve("PDUR2", "PUSER03", t0.Add(40*time.Minute))
	s.Resolve("PDUR1", "PUSER01", t0.Add(45*time.Minute))
	s.ResetCalls()
	e.mustProcess(EventResolved, "PDUR1")
	d := e.wantOneEpic().Description
	for _, row := range []string{
		"|[\\#501|https://acme.pagerduty.com/incidents/PDUR1]|Alice Ng|12 min|45 min|2|1|",
		"|[\\#502|https://acme.pagerduty.com/incidents/PDUR2]|Bob Stone|*never acknowledged*|35 min|1|0|",
		"|*All 2 incidents*|Alice Ng|12 min|45 min|3|1|",
	} {
		if !strings.Contains(e.stable(d), "\n"+row+"\n") {
			t.Errorf("the response table lacks %q:\n%s", row, e.stable(d))
		}
	}
	// One read of each log, as before the table.
	if n := s.Count("GET /incidents/{id}/log_entries"); n != 2 {
		t.Errorf("%d log entry reads for 2 incidents, want 2", n)
	}
}

// largeSEV1 seeds the outage of realisticSEV1 as a long SEV-1 goes: 120
// more notes on the primary, each holding a dashboard link of its own.
func largeSEV1(e *pdEnv) {
	realisticSEV1(e)
	for i := range 120 {
		at := t0.Add(10*time.Minute + time.Duration(i)*20*time.Second)
		e.sim.Annotate("PCHK1", []string{"PUSER01", "PUSER02", "PUSER03"}[i%3], fmt.Sprintf(
			"Update %d: p99 latency %d ms on checkout-%d, pool at %d%%; dashboard https://grafana.example.com/d/checkout-latency?orgId=1&var-pod=checkout-%d&from=now-3h&to=now",
			i+1, 900+7*i, i%12, 80+i%20, i), at)
	}
}

// A large SEV-1 still gets its post-mortem: the page fits in Jira's 32,767
// characters, every section cut says so where it is, and what was cut is in
// comments on the epic (each under the limit, each written once), so every
// link and every event of the notes stays reachable from the epic.
func TestJiraLargeIncidentPageFitsAndKeepsTheRest(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	largeSEV1(e.pdEnv)
	e.mustProcess(EventResolved, "PCHK1")
	epic := e.wantOneEpic()
	d := epic.Description
	if n := jiraChars(d); n > jiraTextLimit {
		t.Fatalf("the page is %d characters, over Jira's %d", n, jiraTextLimit)
	}
	for _, cut := range []string{"more links: see the comments on this epic, and the incidents in PagerDuty", "more events: see the comments on this epic"} {
		if !strings.Contains(d, "\n_") || !strings.Contains(d, cut) {
			t.Errorf("the page does not say %q", cut)
		}
	}
	var comments []string
	for _, c := range epic.Comments {
		if n := jiraChars(c.Body); n > jiraTextLimit {
			t.Errorf("a comment of %d characters", n)
		}
		if strings.Contains(c.Body, "aftermath-ref-page-") {
			comments = append(comments, c.Body)
		}
	}
	if len(comments) < 2 {
		t.Fatalf("%d comments with what the page left out, want at least 2", len(comments))
	}
	all := d + strings.Join(comments, "\n")
	for i := range 120 {
		link := fmt.Sprintf("https://grafana.example.com/d/checkout-latency?orgId=1&var-pod=checkout-%d&from=now-3h&to=now", i)
		if !strings.Contains(all, "["+link+"]") {
			t.Errorf("the link of update %d is neither on the page nor in the comments", i+1)
		}
		if !strings.Contains(all, fmt.Sprintf("Update %d: p99 latency", i+1)) {
			t.Errorf("the event of update %d is neither on the page nor in the comments", i+1)
		}
	}
	goldenFile(t, "sev1-large-page.jira", e.stable(d))
	goldenFile(t, "sev1-large-rest.jira", e.stable(strings.Join(comments, "\n----\n")))
	// The rest of the page is written exactly once, however often the
	// event comes.
	before := len(epic.Comments)
	e.mustProcess(EventResolved, "PCHK1")
	if got := len(e.wantOneEpic().Comments); got != before {
		t.Errorf("%d comments after processing again, want %d", got, before)
	}
	if n := len(e.children(epic.Key)); n != 4 {
		t.Errorf("%d follow-ups, want 4", n)
	}
	x := e.res.newRun("PCHK1", EventResolved, "size", e.rules, nil)
	uncut, err := render.Description(nil, x.draft(e.asked[0]).page)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the 120-note page: %d characters uncut; %d written to Jira, and %d comments holding the rest", jiraChars(uncut), jiraChars(d), len(comments))
}

// jiraTextLimit is Jira's limit on a description or a comment, in
// characters as Jira counts them (jiraChars).
const jiraTextLimit = 32767

// jiraChars counts characters as Jira (Java) does: UTF-16 units.
func jiraChars(s string) int { return len(utf16.Encode([]rune(s))) }

// restOf is the page and the comments aftermath wrote with what it left
// out, in one text; it fails the test on a text over limit.
func restOf(t *testing.T, epic jiratest.Issue, limit int) (all string, parts int) {
	t.Helper()
	if n := jiraChars(epic.Description); n > limit {
		t.Errorf("the page is %d characters, over %d", n, limit)
	}
	all = epic.Description
	for _, c := range epic.Comments {
		if n := jiraChars(c.Body); n > limit {
			t.Errorf("a comment of %d characters, over %d", n, limit)
		}
		if strings.Contains(c.Body, "aftermath-ref-page-") {
			all += "\n" + c.Body
			parts++
		}
	}
	return all, parts
}

// A page Jira refuses for its size (its administrators lowered the limit)
// is never a reason to make no post-mortem: the epic is made with a page
// fitted to the limit Jira states, or a shorter one, and the rest goes to
// comments within that limit; a page that Jira refuses when it is written
// again (the follow-ups' keys) gets the same treatment.
func TestJiraPageRefusedForSizeStillMakesThePostmortem(t *testing.T) {
	links := func(t *testing.T, all string) {
		t.Helper()
		for i := range 120 {
			if !strings.Contains(all, fmt.Sprintf("var-pod=checkout-%d&from", i)) {
				t.Errorf("the link of update %d is neither on the page nor in the comments", i+1)
			}
		}
	}
	t.Run("lowered limit", func(t *testing.T) {
		e := newJiraEnv(t, jiratest.DataCenter, 10)
		e.jsim.SetTextLimit(20000)
		largeSEV1(e.pdEnv)
		e.mustProcess(EventResolved, "PCHK1")
		epic := e.wantOneEpic()
		all, parts := restOf(t, epic, 20000)
		links(t, all)
		// Fitted to the limit Jira states, not cut to the bare page: it
		// keeps the first rows of its sections.
		if parts < 3 || jiraChars(epic.Description) < 15000 || !strings.Contains(epic.Description, "*annotated*: Note: Update 1: p99") ||
			!strings.Contains(epic.Description, "more events: see the comments on this epic") {
			t.Errorf("%d parts of the rest; the page:\n%.2000s", parts, epic.Description)
		}
		if n := len(e.children(epic.Key)); n != 4 {
			t.Errorf("%d follow-ups, want 4", n)
		}
	})
	t.Run("even the page without its long sections is refused", func(t *testing.T) {
		e := newJiraEnv(t, jiratest.DataCenter, 10)
		e.jsim.SetTextLimit(3000)
		largeSEV1(e.pdEnv)
		e.mustProcess(EventResolved, "PCHK1")
		epic := e.wantOneEpic()
		all, parts := restOf(t, epic, 3000)
		if !strings.Contains(epic.Description, "did not fit in this Jira's description field: it is in the comments on this epic") {
			t.Errorf("the description: %q", epic.Description)
		}
		if parts != restComments || !strings.Contains(all, "h3. The post-mortem page\n{panel:title=Post-mortem status: Draft}") || !strings.Contains(all, "h2. Root Cause or Contributing Factors") {
			t.Errorf("%d parts; the page is not in them:\n%.3000s", parts, all)
		}
		if !strings.Contains(all, "more rows are not in these comments: see the incidents in PagerDuty") {
			t.Error("the comments do not say what they leave out")
		}
	})
	t.Run("refused when written again", func(t *testing.T) {
		e := newJiraEnv(t, jiratest.DataCenter, 10)
		e.res.SearchLag = time.Millisecond // the simulator's search has no lag
		largeSEV1(e.pdEnv)
		// The follow-ups fail once: the epic exists with its first page
		// when the limit is lowered.
		e.jsim.Inject("POST /rest/api/2/issue/bulk", jiratest.Fault{Status: 500})
		if err := e.process(EventResolved, "PCHK1"); err == nil {
			t.Fatal("the first attempt did not fail")
		}
		e.jsim.SetTextLimit(20000)
		e.retryUntilDone(EventResolved, "PCHK1")
		epic := e.wantOneEpic()
		all, _ := restOf(t, epic, 20000)
		links(t, all)
		if !strings.Contains(epic.Description, "h2. Action Items\n||Ticket||Summary||\n|[PM-") {
			t.Errorf("the page does not list the tickets:\n%s", epic.Description)
		}
	})
}

// A comment holding part of what the page left out, whose answer was lost
// after Jira made it, is found by its marker on the next attempt: each
// part is on the epic once.
func TestJiraPageRestCommentLostAnswer(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	largeSEV1(e.pdEnv)
	e.jsim.Inject("POST /rest/api/2/issue/{issueIdOrKey}/comment", jiratest.Fault{Status: 504, AfterApply: true})
	if err := e.process(EventResolved, "PCHK1"); err == nil {
		t.Fatal("the attempt whose answer was lost did not fail")
	}
	e.mustProcess(EventResolved, "PCHK1")
	e.mustProcess(EventResolved, "PCHK1")
	seen := map[string]int{}
	for _, c := range e.wantOneEpic().Comments {
		if i := strings.Index(c.Body, "aftermath-ref-page-"); i >= 0 {
			seen[c.Body[i:]]++
		}
	}
	if len(seen) < 2 {
		t.Fatalf("%d parts: %v", len(seen), seen)
	}
	for marker, n := range seen {
		if n != 1 {
			t.Errorf("%s is on the epic %d times", marker, n)
		}
	}
	if st := e.step("PCHK1", StepEpicPageRest+"_1"); st.Status != "done" || !strings.Contains(st.Detail, "found, written by an earlier attempt") {
		t.Errorf("the first part's step: %+v", st)
	}
}

// After Jira refuses a text for its size, the next is shorter: fitted to
// the limit Jira states (less some room) or, when it states none or one
// not lower, to half; then without the growing sections, a line, nothing.
func TestPageFitShorter(t *testing.T) {
	tooLong := func(msg string) error {
		return &jira.Error{Op: "create", Status: 400, Fields: map[string]string{"description": msg}}
	}
	stated := tooLong("The entered text is too long. It exceeds the allowed limit of 20,000 characters.")
	unstated := tooLong("The entered text is too long.")
	steps := []struct {
		err  error
		want pageFit
	}{
		{stated, pageFit{Level: pageFitted, Limit: 20000 - 625}},
		{stated, pageFit{Level: pageFitted, Limit: (20000 - 625) / 2}},
		{unstated, pageFit{Level: pageFitted, Limit: (20000 - 625) / 4}},
		{unstated, pageFit{Level: pageMinimal, Limit: (20000 - 625) / 8}},
		{unstated, pageFit{Level: pagePlaceholder, Limit: (20000 - 625) / 16}},
		{unstated, pageFit{Level: pageNone, Limit: minLimit}},
	}
	var f pageFit
	for i, s := range steps {
		next, ok := f.shorter(s.err)
		if !ok || next != s.want {
			t.Fatalf("step %d: %+v, %v; want %+v", i, next, ok, s.want)
		}
		f = next
	}
	if _, ok := f.shorter(unstated); ok {
		t.Fatal("something shorter than no description")
	}
	// Jira counting otherwise: it states its default, over what was sent.
	if next, _ := (pageFit{}).shorter(tooLong("The entered text is too long. It exceeds the allowed limit of 32,767 characters.")); next != (pageFit{Limit: 32767 - 1023}) {
		t.Fatalf("refused at the default limit: %+v", next)
	}
	for _, f := range []pageFit{{}, {Level: pageMinimal, Limit: 1500}} {
		if got, ok := fitOf(f.result("PM-1")); !ok || got != f {
			t.Errorf("fitOf(result(%+v)) = %+v, %v", f, got, ok)
		}
	}
}
