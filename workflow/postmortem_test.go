package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/store"
)

func TestJiraPostmortemSEV1(t *testing.T) {
	for _, mode := range []jiratest.Mode{jiratest.Cloud, jiratest.DataCenter} {
		t.Run(string(mode), func(t *testing.T) {
			e := newJiraEnv(t, mode, 10)
			realisticSEV1(e.pdEnv)
			e.sim.ResetCalls()
			e.mustProcess(EventResolved, "PCHK1")

			epic := e.wantOneEpic()
			if epic.Summary != "[SEV-1] Post-mortem: Checkout API returning 502 for 38% of requests (#4211)" {
				t.Errorf("summary = %q", epic.Summary)
			}
			if epic.Project != "PM" {
				t.Errorf("project %s", epic.Project)
			}
			wantLabels := []string{"incident-2026-11-20", "pagerduty-PCHK1", "pagerduty-PPAY1", "postmortem", "sev-1"} // Jira sorts them
			if !slices.Equal(epic.Labels, wantLabels) {
				t.Errorf("labels = %v, want %v", epic.Labels, wantLabels)
			}
			wantAssignee := "acc-alice"
			if mode == jiratest.DataCenter {
				wantAssignee = "alice"
			}
			if epic.Assignee != wantAssignee {
				t.Errorf("assignee = %q, want %q (the resolver)", epic.Assignee, wantAssignee)
			}
			if epic.DueDate != "2026-11-23" {
				t.Errorf("due date = %q, want the meeting deadline 2026-11-23", epic.DueDate)
			}
			if mode == jiratest.DataCenter && epic.EpicName == "" {
				t.Error("a Data Center epic without an Epic Name")
			}
			kids := e.children(epic.Key)
			var sums []string
			for _, k := range kids {
				sums = append(sums, k.Summary)
				if !slices.Equal(k.Labels, []string{"incident-2026-11-20", "pagerduty-PCHK1", "postmortem", "sev-1"}) || k.IssueType != "Task" {
					t.Errorf("follow-up %s: type %s labels %v", k.Key, k.IssueType, k.Labels)
				}
			}
			wantSums := []string{
				"Schedule the post-mortem meeting", "Write and send the external message",
				"Alert on connection pool saturation above 90%", "Load test checkout with the new driver before the next rollout",
			}
			if !slices.Equal(sums, wantSums) {
				t.Errorf("follow-ups = %q, want %q", sums, wantSums)
			}
			for _, k := range kids {
				if !strings.Contains(epic.Description, "|["+k.Key+"|") {
					t.Errorf("the page does not list %s", k.Key)
				}
			}
			if n := strings.Count(epic.Description, "[log entry|"); n < 30 {
				t.Errorf("%d timeline rows, want 30 or more", n)
			}
			if mode == jiratest.Cloud {
				goldenFile(t, "sev1-page.jira", e.stable(epic.Description))
				if k := kids[2]; !strings.Contains(k.Description, "{quote}\nRolled back deploy 7781.") {
					t.Errorf("a TODO ticket does not quote its note:\n%s", k.Description)
				}
			}
			// The link-back note carries the epic's URL.
			notes := e.ourNotes("PCHK1")
			if len(notes) != 1 || !strings.Contains(notes[0].Content, e.jsim.URL()+"/browse/"+epic.Key) {
				t.Errorf("link-back = %+v", notes)
			}
			e.wantNotes("PPAY1", 1)

			// Again: nothing more anywhere.
			e.jsim.ResetCalls()
			e.sim.ResetCalls()
			e.mustProcess(EventResolved, "PCHK1")
			e.mustProcess(EventResolved, "PPAY1")
			for _, c := range e.jsim.Calls() {
				if c.Method != "GET" {
					t.Errorf("a repeat wrote to Jira: %s %s", c.Method, c.Path)
				}
			}
			if w := e.writes(); len(w) != 0 {
				t.Errorf("a repeat wrote to PagerDuty: %+v", w)
			}
		})
	}
}

// Whatever record the process dies at, running it again gives one epic, its
// four tickets and the notes, once.
func TestJiraCrashAtEveryPoint(t *testing.T) {
	check := func(t *testing.T, e *jiraEnv) {
		t.Helper()
		epic := e.wantOneEpic()
		if n := len(e.children(epic.Key)); n != 4 {
			t.Fatalf("%d follow-ups, want 4", n)
		}
		if n := len(e.jsim.Issues()); n != 5 {
			t.Fatalf("%d issues, want 5", n)
		}
		e.wantNotes("PCHK1", 1)
		e.wantNotes("PPAY1", 1)
	}
	clean := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(clean.pdEnv)
	counter := &crashingSteps{Store: clean.store}
	clean.res.Store = counter
	clean.mustProcess(EventResolved, "PCHK1")
	check(t, clean)
	for n := 1; n <= counter.calls; n++ {
		t.Run(fmt.Sprintf("crash at record %d of %d", n, counter.calls), func(t *testing.T) {
			e := newJiraEnv(t, jiratest.Cloud, 10)
			realisticSEV1(e.pdEnv)
			e.res.Store = &crashingSteps{Store: e.store, n: n}
			if err := e.process(EventResolved, "PCHK1"); err == nil {
				t.Fatal("the crash did not stop the attempt")
			}
			e.mustProcess(EventResolved, "PCHK1")
			check(t, e)
		})
	}
	for _, route := range []string{"POST /rest/api/2/issue", "POST /rest/api/2/issue/bulk", "PUT /rest/api/2/issue/{issueIdOrKey}"} {
		t.Run("lost answer to "+route, func(t *testing.T) {
			e := newJiraEnv(t, jiratest.Cloud, 10)
			realisticSEV1(e.pdEnv)
			e.jsim.Inject(route, jiratest.Fault{Status: 504, AfterApply: true})
			if err := e.process(EventResolved, "PCHK1"); err == nil {
				t.Fatal("want the attempt to fail")
			}
			e.mustProcess(EventResolved, "PCHK1")
			check(t, e)
		})
	}
}

func TestJiraRateLimitsAndServerErrors(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	e.jsim.Inject("GET /rest/api/2/user/search", jiratest.Fault{Status: 429, RetryAfter: "1"})
	e.jsim.Inject("POST /rest/api/2/issue", jiratest.Fault{Status: 429, RetryAfter: "0", Times: 2})
	e.jsim.Inject("POST /rest/api/2/issue/bulk", jiratest.Fault{Status: 503, Times: 1})
	e.jsim.Inject("PUT /rest/api/2/issue/{issueIdOrKey}", jiratest.Fault{Status: 500, Times: 1})
	e.res.SearchLag = 300 * time.Millisecond
	e.retryUntilDone(EventResolved, "PCHK1") // fails on a permanent error
	epic := e.wantOneEpic()
	if n := len(e.children(epic.Key)); n != 4 {
		t.Fatalf("%d follow-ups", n)
	}
	if n := len(e.jsim.Issues()); n != 5 {
		t.Fatalf("%d issues", n)
	}
}

// The budget: one SEV-1 with 2 TODO items and 2 standard tasks takes at most
// 4 Jira requests and 10 PagerDuty requests.
func TestJiraRequestBudget(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PBUD", Number: 7, Title: "Budget", ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
	e.sim.Acknowledge("PBUD", "PUSER01", t0.Add(time.Minute))
	e.sim.Annotate("PBUD", "PUSER01", "TODO: first\nTODO: second", t0.Add(5*time.Minute))
	e.sim.Resolve("PBUD", "PUSER01", t0.Add(30*time.Minute))
	e.sim.ResetCalls()
	e.jsim.ResetCalls()
	before := apiRequests(t)
	e.mustProcess(EventResolved, "PBUD")
	byStep := apiRequests(t).Minus(before)
	epic := e.wantOneEpic()
	if n := len(e.children(epic.Key)); n != 4 {
		t.Fatalf("%d follow-ups, want 4", n)
	}
	var jr, pr []string
	for _, c := range e.jsim.Calls() {
		jr = append(jr, c.Method+" "+c.Route)
	}
	for _, c := range e.sim.Calls() {
		pr = append(pr, c.Method+" "+c.Route)
	}
	t.Logf("Jira %d: %s", len(jr), strings.Join(jr, "; "))
	t.Logf("PagerDuty %d: %s", len(pr), strings.Join(pr, "; "))
	if len(jr) > 4 || len(pr) > 10 {
		t.Fatalf("%d Jira and %d PagerDuty requests; budget 4 and 10", len(jr), len(pr))
	}
	// aftermath_api_requests_total names the step of every request the
	// simulators saw.
	t.Logf("by step: %v", byStep)
	if got := byStep.Total("pagerduty"); got != len(pr) {
		t.Errorf("aftermath_api_requests_total counts %d PagerDuty requests, the simulator saw %d", got, len(pr))
	}
	if got := byStep.Total("jira"); got != len(jr) {
		t.Errorf("aftermath_api_requests_total counts %d Jira requests, the simulator saw %d", got, len(jr))
	}
	for k := range byStep {
		if k.Step == outbound.OtherStep {
			t.Errorf("%d %s requests are not labelled with a step", byStep[k], k.API)
		}
	}
	for _, k := range []testutil.APIStep{{API: "pagerduty", Step: StepSeverity}, {API: "pagerduty", Step: StepTimeline}, {API: "jira", Step: StepEpic}, {API: "jira", Step: StepFollowups}, {API: "pagerduty", Step: StepLinkBack}} {
		if byStep[k] == 0 {
			t.Errorf("no %s request counted for step %s", k.API, k.Step)
		}
	}

	// On a warm cache (the resolver's PagerDuty user and Jira account
	// known), a lone SEV-1 takes PagerDuty 5 requests and Jira 3.
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PBUD2", Number: 8, Title: "Budget again", ServiceID: "PSVC002", Priority: "P1", CreatedAt: t0.Add(72 * time.Hour)})
	e.sim.Annotate("PBUD2", "PUSER01", "TODO: third", t0.Add(72*time.Hour+5*time.Minute))
	e.sim.Resolve("PBUD2", "PUSER01", t0.Add(72*time.Hour+30*time.Minute))
	// PBUD's follow-ups are done by then: PBUD2, in its grouping scope,
	// recurs nothing (a recurrence's comment and note are requests of
	// their own: recurrence_test.go).
	var done []store.Followup
	for _, c := range e.children(epic.Key) {
		done = append(done, store.Followup{Key: c.Key, Epic: epic.Key, Done: true})
	}
	if err := e.store.SaveFollowups(context.Background(), "PBUD", done); err != nil {
		t.Fatal(err)
	}
	before = apiRequests(t)
	e.mustProcess(EventResolved, "PBUD2")
	warm := apiRequests(t).Minus(before)
	t.Logf("warm cache, by step: %v", warm)
	if p, j := warm.Total("pagerduty"), warm.Total("jira"); p != 5 || j != 3 {
		t.Errorf("warm cache: %d PagerDuty and %d Jira requests, want 5 and 3", p, j)
	}
}

// apiRequests reads aftermath_api_requests_total (process-wide, so tests
// compare two readings).
func apiRequests(t *testing.T) testutil.APIRequests {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(outbound.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := testutil.APIRequestsOf(mfs)
	return c
}

// Refusals Jira makes as such are recorded and the rest goes on: a user
// search it will not answer (the next owner source is tried), a whole bulk
// request refused (the items are listed on the page instead).
func TestJiraRefusalsGoOn(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	e.jsim.Inject("GET /rest/api/2/user/search", jiratest.Fault{Status: 403})
	e.jsim.Inject("POST /rest/api/2/issue/bulk", jiratest.Fault{Status: 400})
	e.mustProcess(EventResolved, "PCHK1")
	epic := e.wantOneEpic()
	if epic.Assignee == "" || epic.Assignee == "acc-alice" {
		t.Errorf("assignee = %q, want the next source after the refused search", epic.Assignee)
	}
	if n := len(e.children(epic.Key)); n != 0 {
		t.Errorf("%d follow-ups", n)
	}
	if !strings.Contains(epic.Description, "Alert on connection pool saturation above 90% (Jira refused the ticket)") {
		t.Errorf("the refused items are not on the page:\n%s", epic.Description)
	}
	if st := e.step("PCHK1", StepFollowups); st.Status != store.StepFailed || !strings.Contains(st.Detail, "Jira refused") {
		t.Errorf("followups step = %+v", st)
	}
	e.wantNotes("PCHK1", 1)
	e.wantNotes("PPAY1", 1)
}
