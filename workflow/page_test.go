package workflow

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
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
// keeps its first rows and says how many more PagerDuty has.
func TestJiraLongTimelineFits(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PLONG", Number: 10, Title: "Long", ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
	for i := range 300 {
		e.sim.Annotate("PLONG", "PUSER01", fmt.Sprintf("Update %d: %s", i, strings.Repeat("still looking at the pool; ", 4)), t0.Add(time.Duration(i)*10*time.Second))
	}
	e.sim.Resolve("PLONG", "PUSER01", t0.Add(2*time.Hour))
	e.mustProcess(EventResolved, "PLONG")
	epic := e.wantOneEpic()
	if n := len(epic.Description); n > 32767 {
		t.Fatalf("description of %d characters", n)
	}
	if !strings.Contains(epic.Description, "more events: see the incidents in PagerDuty") {
		t.Fatal("the page does not say the timeline was cut")
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
