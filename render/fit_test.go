package render

import (
	"fmt"
	"strings"
	"testing"
	"text/template"
	"unicode/utf16"
)

// jiraLen counts as Jira (Java) does, independently of Units.
func jiraLen(s string) int { return len(utf16.Encode([]rune(s))) }

func builtin(p Page) string {
	d, err := Description(nil, p)
	if err != nil {
		panic(err)
	}
	return d
}

// bigPage is the sample page of an incident far too large for Jira: every
// section that grows with the incident is long, each row tagged so that
// the test can find it (e.g. "event-007").
func bigPage() Page {
	p := Sample()
	for i := range 300 {
		p.Incidents = append(p.Incidents, Incident{Number: 100 + i, Title: fmt.Sprintf("member-%03d Payments slow", i), URL: fmt.Sprintf("https://example.pagerduty.com/incidents/M%d", i), Service: "payments", Severity: "SEV-2", Status: "resolved", Role: "member"})
		p.Response = append(p.Response, Response{Incident: fmt.Sprintf("#%d", 100+i), URL: fmt.Sprintf("https://example.pagerduty.com/incidents/M%d", i), PagedFirst: fmt.Sprintf("paged-%03d", i), Acknowledged: "2 min", Resolved: "40 min"})
		p.Services = append(p.Services, fmt.Sprintf("service-%03d", i))
	}
	p.GroupSize = len(p.Incidents)
	for i := range 150 {
		p.Links = append(p.Links, NoteLink{URL: fmt.Sprintf("https://grafana.example.com/d/link-%03d?from=now-1h", i), Kind: "dashboard", Incident: "#42", Author: "Alice", At: "09:10",
			Line: fmt.Sprintf("link-%03d: the pool, see https://grafana.example.com/d/link-%03d?from=now-1h", i, i)})
	}
	for i := range 200 {
		p.Timeline = append(p.Timeline, Event{At: "09:00:00", Incident: "#42", Actor: "Alice", Kind: "annotated", Summary: fmt.Sprintf("Note: event-%03d still looking at the pool", i), Link: "https://example.pagerduty.com/incidents/Q1"})
	}
	for i := range 300 {
		p.Responders = append(p.Responders, Responder{Name: fmt.Sprintf("responder-%03d", i), Actions: "acknowledged #42, added notes to #42"})
	}
	for i := range 400 {
		p.Overflow = append(p.Overflow, fmt.Sprintf("item-%03d: review the runbook", i))
	}
	for i := range 400 {
		p.Invitees = append(p.Invitees, fmt.Sprintf("invitee-%03d (responder)", i))
	}
	var res strings.Builder
	for i := range 400 {
		fmt.Fprintf(&res, "line-%03d of the resolution: rolled back | restarted {pool}\n", i)
	}
	p.Resolution.Text = res.String()
	return p
}

// tags counts each tagged row ("event-007") in text.
func tags(text, prefix string, n int) (found int) {
	for i := range n {
		if strings.Contains(text, fmt.Sprintf("%s-%03d", prefix, i)) {
			found++
		}
	}
	return found
}

// A page that fits is left as the template renders it.
func TestFitLeavesAPageThatFits(t *testing.T) {
	p := Sample()
	page, rest := Fit(p, PageLimit, builtin)
	if page != builtin(p) || rest != nil {
		t.Fatalf("Fit changed a page that fits (rest %v):\n%s", rest, page)
	}
}

// A page far over the limit fits, each section cut says so where it is,
// and every row is either on the page or in the rest: nothing is lost.
func TestFitCutsEverySectionAndLosesNothing(t *testing.T) {
	p := bigPage()
	if n := jiraLen(builtin(p)); n <= PageLimit*2 {
		t.Fatalf("the big page is only %d characters", n)
	}
	page, rest := Fit(p, PageLimit, builtin)
	if n := jiraLen(page); n > PageLimit {
		t.Fatalf("the fitted page is %d characters", n)
	}
	comments := Comments(rest, PageLimit-500, 20)
	all := page + strings.Join(comments, "\n")
	for _, c := range comments {
		if n := jiraLen(c); n > PageLimit-500 {
			t.Errorf("a comment of %d characters", n)
		}
	}
	for _, s := range []struct {
		prefix string
		n      int
		cut    string // the sentence on the page
	}{
		{"paged", 300, "more rows of the response table: see the comments"},
		{"service", 300, "more services: see the comments"},
		{"link", 150, "more links: see the comments on this epic, and the incidents in PagerDuty"},
		{"event", 200, "more events: see the comments"},
		{"responder", 300, "more responders: see the comments"},
		{"item", 400, "more items found in the notes: see the comments"},
		{"invitee", 400, "more people to invite: see the comments"},
		{"line", 400, resolutionCut},
	} {
		if got := tags(all, s.prefix, s.n); got != s.n {
			t.Errorf("%d of %d %s rows are on the page or in the comments", got, s.n, s.prefix)
		}
		if !strings.Contains(page, s.cut) {
			t.Errorf("the page does not say %q", s.cut)
		}
	}
	// Each related incident is linked on the page or in the comments.
	for i := range 300 {
		if !strings.Contains(all, fmt.Sprintf("incidents/M%d]", i)) {
			t.Errorf("related incident %d is neither on the page nor in the comments", i)
		}
	}
	if !strings.Contains(page, "more related incidents: see the comments on this epic") {
		t.Error("the page does not say the related incidents were cut")
	}
	if strings.Contains(page, noticeHeading) {
		t.Error("the built-in template shows every cut where it is, yet the page has the notice section")
	}
	// The group's size stays right when the response table is cut.
	if !strings.Contains(page, "|*All 301 incidents*|") {
		t.Error("the response table's total row lost the group's size")
	}
	golden(t, "cut-page.jira", page)
	// The first and the last comment show how the rest is laid out.
	golden(t, "cut-rest.jira", comments[0]+"\n----\n"+comments[len(comments)-1])
}

// Sections smaller than their share keep every row: only the large ones
// are cut.
func TestFitCutsOnlyWhatIsLarge(t *testing.T) {
	p := Sample()
	for i := range 400 {
		p.Timeline = append(p.Timeline, Event{At: "09:00:00", Incident: "#42", Actor: "Alice", Kind: "annotated", Summary: fmt.Sprintf("Note: event-%03d %s", i, strings.Repeat("pool ", 20)), Link: "https://example.pagerduty.com/incidents/Q1"})
	}
	for i := range 5 {
		p.Links = append(p.Links, NoteLink{URL: fmt.Sprintf("https://grafana.example.com/d/link-%03d", i), Kind: "dashboard", Incident: "#42", Author: "Alice", At: "09:10", Line: fmt.Sprintf("link-%03d", i)})
	}
	page, rest := Fit(p, PageLimit, builtin)
	if tags(page, "link", 5) != 5 || strings.Contains(page, "more links") {
		t.Error("the few links were cut")
	}
	if len(rest) != 1 || rest[0].Title != "Timeline (all times UTC)" {
		t.Fatalf("rest: %+v", rest)
	}
	kept := tags(page, "event", 400)
	if kept < 50 || kept+len(rest[0].Rows) != 400 || !strings.Contains(page, fmt.Sprintf("_%d more events: see", 400-kept)) {
		t.Errorf("%d events kept, %d in the rest", kept, len(rest[0].Rows))
	}
}

// Jira counts UTF-16 units: a page of emoji, which count two each, still
// fits, though its rune count alone would pass.
func TestFitCountsAsJiraDoes(t *testing.T) {
	p := Sample()
	for i := range 1000 {
		p.Timeline = append(p.Timeline, Event{At: "09:00:00", Incident: "#42", Kind: "annotated", Summary: fmt.Sprintf("event-%03d %s", i, strings.Repeat("🔥", 60))})
	}
	page, _ := Fit(p, PageLimit, builtin)
	if n := jiraLen(page); n > PageLimit || len([]rune(page)) >= n {
		t.Fatalf("%d UTF-16 units, %d runes", n, len([]rune(page)))
	}
	if got := Units("a🔥é"); got != 4 {
		t.Errorf("Units = %d, want 4", got)
	}
	if got := Clip(strings.Repeat("🔥", 10), 5); got != "🔥🔥…" || Units(got) > 5 {
		t.Errorf("Clip = %q", got)
	}
}

// A rules template that shows none of the cuts still says them: they are
// listed at the end of the page.
func TestFitNoticeForTemplatesWithoutCuts(t *testing.T) {
	tmpl := template.Must(template.New("t").Funcs(Funcs).Parse("h2. Timeline\n{{range .Timeline}}|{{cell .Summary}}|\n{{end}}"))
	draw := func(p Page) string {
		d, err := Description(tmpl, p)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	p := bigPage()
	page, _ := Fit(p, 8000, draw)
	if n := jiraLen(page); n > 8000 {
		t.Fatalf("%d characters", n)
	}
	if !strings.Contains(page, "\n"+noticeHeading+"\n* ") || !strings.Contains(page, "more events: see the comments") {
		t.Fatalf("no notice:\n%s", page[max(0, len(page)-1000):])
	}
}

// A template too long for the limit even without the growing sections
// comes back longer than the limit: the caller falls back.
func TestFitTemplateTooLongAlone(t *testing.T) {
	tmpl := template.Must(template.New("t").Funcs(Funcs).Parse(strings.Repeat("boilerplate ", 3000) + "{{range .Timeline}}{{.Summary}}{{end}}"))
	draw := func(p Page) string { d, _ := Description(tmpl, p); return d }
	page, rest := Fit(bigPage(), PageLimit, draw)
	if jiraLen(page) <= PageLimit || len(rest) == 0 {
		t.Fatalf("%d characters, %d rest sections", jiraLen(page), len(rest))
	}
	minimal, all := Minimal(bigPage(), builtin)
	if jiraLen(minimal) > 8000 || len(all) != len(sections) {
		t.Errorf("minimal page of %d characters, %d rest sections", jiraLen(minimal), len(all))
	}
	if ph := Placeholder(bigPage()); !strings.Contains(ph, "[\\#42 Checkout errors|https://example.pagerduty.com/incidents/Q1]") {
		t.Errorf("placeholder %q", ph)
	}
}

// Comments keep each under the budget and at most max of them, repeat a
// section's heading and table header where it runs on, split only a row
// longer than a comment (never inside an escape), and count what is left.
func TestComments(t *testing.T) {
	var rows []string
	for i := range 100 {
		rows = append(rows, fmt.Sprintf("|row-%03d|%s|", i, strings.Repeat("x", 80)))
	}
	rest := []RestSection{
		{Title: "Timeline", Header: "||Row||Text||", Rows: rows},
		{Title: "Huge", Rows: []string{strings.Repeat(`a\|`, 2000)}},
	}
	out := Comments(rest, 2000, 100)
	for i, c := range out {
		if n := jiraLen(c); n > 2000 {
			t.Errorf("comment %d is %d characters", i, n)
		}
		if i > 0 && strings.HasPrefix(c, "h3. Timeline") && !strings.HasPrefix(c, "h3. Timeline (continued)\n||Row||Text||\n|row-") {
			t.Errorf("comment %d does not continue the section:\n%.100s", i, c)
		}
		for _, line := range strings.Split(c, "\n") {
			if strings.HasPrefix(line, "|") && strings.HasSuffix(line, "\\") {
				t.Errorf("a piece ends inside an escape: %q", line[max(0, len(line)-10):])
			}
		}
	}
	joined := strings.Join(out, "")
	// The huge row is split, never between an escape and what it escapes.
	if tags(joined, "row", 100) != 100 || strings.Count(joined, `\|`) != 2000 {
		t.Errorf("rows lost: %d rows, %d escaped bars of the huge one", tags(joined, "row", 100), strings.Count(joined, `\|`))
	}
	few := Comments(rest, 2000, 2)
	if len(few) != 2 || !strings.Contains(few[1], "more rows are not in these comments: see the incidents in PagerDuty") {
		t.Errorf("%d comments; the last:\n%s", len(few), few[len(few)-1])
	}
}

// A follow-up's note too long for Jira is cut, and says where the whole of
// it is; escaping (which can double the text) is counted.
func TestFollowupDescriptionFits(t *testing.T) {
	note := strings.Repeat("|{x}| ", 5000) // 30,000 characters, 60,000 escaped
	d, err := FollowupDescription(Followup{Item: "x", Note: &Note{Author: "Alice", At: "10:00", Text: note, Link: "https://example.pagerduty.com/incidents/Q1"}, Incident: "#42 x", IncURL: "https://example.pagerduty.com/incidents/Q1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := jiraLen(d); n > PageLimit || n < PageLimit-200 || !strings.Contains(d, "… (cut to fit in Jira)\nThe whole note is in PagerDuty.\n{quote}") {
		t.Fatalf("%d characters:\n%s", n, d[max(0, len(d)-300):])
	}
	short, _ := FollowupDescription(Followup{Item: "x", Detail: "Do it.", Incident: "#42 x", IncURL: "https://example.pagerduty.com/incidents/Q1"})
	if strings.Contains(short, "cut") {
		t.Errorf("a short description was cut: %s", short)
	}
}

// The language review's comment stays under Jira's limit however many
// findings there are.
func TestLanguageCommentFits(t *testing.T) {
	var r LanguageReview
	for i := range 500 {
		r.Blame = append(r.Blame, LanguageFinding{Phrase: "should have", Sentence: fmt.Sprintf("finding-%03d %s", i, strings.Repeat("{x} ", 60))})
	}
	c := LanguageComment(r)
	if n := jiraLen(c); n > PageLimit-400 || !strings.Contains(c, "more not listed here, to fit in Jira") || tags(c, "finding", 500) == 500 {
		t.Fatalf("%d characters, %d findings listed", n, tags(c, "finding", 500))
	}
}

// An external message too long for a comment is cut and says so.
func TestExternalMessageBounded(t *testing.T) {
	msg, ok := ExternalMessage("h3. External\n" + strings.Repeat("We are sorry | ", 3000) + "\nh2. Next")
	if !ok || Units(msg) > maxExternal+100 || !strings.HasSuffix(msg, "(cut: the whole message is on the post-mortem page)") {
		t.Fatalf("%d characters: %q", Units(msg), msg[max(0, len(msg)-80):])
	}
	if n := jiraLen(Text(msg)); n > 32000 {
		t.Errorf("escaped, %d characters", n)
	}
}

// Fitting a section of many thousand rows (a pasted log: every line a
// timeline event) never renders a page much longer than the limit, so its
// cost is that of pages, not of the whole log, and no row is lost.
func TestFitRendersBoundedPagesForHugeSections(t *testing.T) {
	p := Sample()
	for i := range 40000 {
		p.Timeline = append(p.Timeline, Event{At: "09:00:00", Incident: "#42", Actor: "Alice", Kind: "annotated", Summary: fmt.Sprintf("Note: log-%05d connection reset by peer", i), Link: "https://example.pagerduty.com/incidents/Q1"})
	}
	longest, draws := 0, 0
	draw := func(p Page) string {
		d := builtin(p)
		longest, draws = max(longest, jiraLen(d)), draws+1
		return d
	}
	page, rest := Fit(p, PageLimit, draw)
	if jiraLen(page) > PageLimit {
		t.Fatalf("the page is %d units", jiraLen(page))
	}
	if longest > 4*PageLimit {
		t.Fatalf("Fit rendered a page of %d units (%d draws) for a limit of %d: it renders the whole section", longest, draws, PageLimit)
	}
	kept := strings.Count(page, "log-")
	left := 0
	for _, r := range rest {
		if strings.HasPrefix(r.Title, "Timeline") {
			left = len(r.Rows)
		}
	}
	if kept+left != 40000 || kept == 0 {
		t.Fatalf("%d events on the page and %d in the rest, want 40000 in all", kept, left)
	}
	t.Logf("%d draws, the longest %d units; %d events on the page", draws, longest, kept)
}
