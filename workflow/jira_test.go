package workflow

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/rules"
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

// The owner: resolver, then last assignee, then the fallback, each mapped to
// a Jira user by email; with no match at all the epic is unassigned and
// says why.
func TestJiraOwnerFallbackChain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		resolver string // PagerDuty user who resolves
		drop     []string
		want     string // Jira accountId, "" unassigned
	}{
		{"resolver", "PUSER01", nil, "acc-alice"},
		{"resolver not in Jira: last assignee", "PUSER02", nil, "acc-carol"},
		{"neither: fallback", "PUSER02", []string{"carol"}, "acc-sre"},
		{"nobody", "PUSER02", []string{"carol", "sre"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newJiraEnv(t, jiratest.Cloud, 10)
			// A user who left: still in Jira, inactive.
			emails := map[string]string{"carol": "carol@example.com", "sre": "sre-lead@example.com"}
			for _, u := range tc.drop {
				e.jsim.AddUser(jiratest.User{AccountID: "acc-" + u, Name: u, Key: u, Email: emails[u], DisplayName: u, Active: false})
			}
			e.sim.AddIncident(pagerdutytest.NewIncident{ID: "POWN", Title: "Owner test", ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
			e.sim.Assign("POWN", "PUSER03", t0.Add(time.Minute))
			e.sim.Resolve("POWN", tc.resolver, t0.Add(time.Hour))
			e.mustProcess(EventResolved, "POWN")
			epic := e.wantOneEpic()
			if epic.Assignee != tc.want {
				t.Fatalf("assignee = %q, want %q; owner step: %+v", epic.Assignee, tc.want, e.step("POWN", StepOwner))
			}
			if tc.want == "" {
				if len(epic.Comments) != 1 || !strings.Contains(epic.Comments[0].Body, "no Jira user has the email sre-lead@example.com") {
					t.Fatalf("comments = %+v", epic.Comments)
				}
				if !strings.Contains(epic.Description, "nobody yet") {
					t.Error("the page does not say there is no owner")
				}
			}
		})
	}
}

func TestJiraBulkCreateWithOneItemRejected(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	e.jsim.RejectBulkItem("Load test checkout")
	e.mustProcess(EventResolved, "PCHK1")
	epic := e.wantOneEpic()
	if n := len(e.children(epic.Key)); n != 3 {
		t.Fatalf("%d follow-ups, want 3 (one refused)", n)
	}
	st := e.step("PCHK1", StepFollowups)
	if st.Status != store.StepFailed || !strings.Contains(st.Detail, `Jira refused "Load test checkout`) {
		t.Fatalf("followups step = %+v", st)
	}
	// The process went on: the link-back is there, and a retry makes nothing twice.
	e.wantNotes("PCHK1", 1)
	e.mustProcess(EventResolved, "PCHK1")
	if n := len(e.jsim.Issues()); n != 4 {
		t.Fatalf("%d issues after a repeat, want 4", n)
	}
}

// A crash after Jira created the epic and before its key was recorded: the
// retry finds it by its label instead of creating a second, also when
// Jira's search lags behind.
func TestJiraCrashAfterEpicCreate(t *testing.T) {
	for _, lag := range []time.Duration{0, 300 * time.Millisecond} {
		t.Run(fmt.Sprintf("search lag %s", lag), func(t *testing.T) {
			e := newJiraEnv(t, jiratest.Cloud, 10)
			e.jsim.SetSearchLag(lag)
			realisticSEV1(e.pdEnv)
			e.res.Store = &failingSteps{Store: e.store, step: StepEpic, status: store.StepDone, left: 1}
			if err := e.process(EventResolved, "PCHK1"); err == nil {
				t.Fatal("want the crash")
			}
			e.retryUntilDone(EventResolved, "PCHK1")
			epic := e.wantOneEpic()
			if n := len(e.children(epic.Key)); n != 4 {
				t.Fatalf("%d follow-ups", n)
			}
			if st := e.step("PCHK1", StepEpic); !strings.Contains(st.Detail, "found, written by an earlier attempt") {
				t.Fatalf("epic step = %+v", st)
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

// Text from PagerDuty that tries to break the page's markup stays text.
func TestJiraMarkupInjection(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	title := "Checkout |down| [click|javascript:alert(1)] {code}"
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PEVIL", Number: 666, Title: title, ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
	e.sim.Annotate("PEVIL", "PUSER01", "h1. Owned\n|| fake || table ||\n{panel}\nTODO: fix [this|http://evil.example] *now*", t0.Add(10*time.Minute))
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

// A member that resolves after the post-mortem was made is added to the
// epic (label and comment), not given its own.
func TestJiraLateMemberJoinsTheEpic(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.incident("PEARLY", "PSVC001", "P1", t0, 30*time.Minute)
	e.mustProcess(EventResolved, "PEARLY")
	e.incident("PTARDY", "PSVC002", "P2", t0.Add(50*time.Minute), 10*time.Minute)
	e.mustProcess(EventResolved, "PTARDY")
	e.mustProcess(EventResolved, "PTARDY")
	epic := e.wantOneEpic()
	if !slices.Contains(epic.Labels, "pagerduty-PTARDY") {
		t.Fatalf("labels = %v", epic.Labels)
	}
	n := 0
	for _, c := range epic.Comments {
		if strings.Contains(c.Body, "joined this post-mortem") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d join comments, want 1: %+v", n, epic.Comments)
	}
	e.wantNotes("PTARDY", 1)
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
	e.mustProcess(EventResolved, "PBUD")
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
}

// rules.Labels and IncidentLabel are what the idempotency search depends on.
func TestIncidentLabelIsAJiraLabel(t *testing.T) {
	if _, err := rules.Load("x.yaml", []byte("jira:\n  labels: ["+jira.IncidentLabel("Q2CKYRLH85UNN4")+"]\n")); err != nil {
		t.Fatal(err)
	}
}

// The answer to the bulk create is lost while Jira's search lags: the retry
// waits for the index instead of creating the tickets again.
func TestJiraLostBulkAnswerWithSearchLag(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	e.res.SearchLag = 2500 * time.Millisecond
	e.jsim.SetSearchLag(2 * time.Second)
	e.jsim.Inject("POST /rest/api/2/issue/bulk", jiratest.Fault{Status: 504, AfterApply: true})
	if err := e.process(EventResolved, "PCHK1"); err == nil {
		t.Fatal("want the attempt to fail")
	}
	e.retryUntilDone(EventResolved, "PCHK1")
	epic := e.wantOneEpic()
	if n := len(e.children(epic.Key)); n != 4 {
		t.Fatalf("%d follow-ups, want 4", n)
	}
}

// The epic's create waits out a 429, Jira creates it and the answer is
// lost: the search lag is counted from when the write gave up, not from its
// intent, so the retry waits for the index rather than create a second epic.
func TestJiraSlowCreateThenLostAnswer(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	e.res.SearchLag = 2 * time.Second
	e.jsim.SetSearchLag(1500 * time.Millisecond) // Jira trails by less than the lag aftermath allows for
	e.jsim.Inject("POST /rest/api/2/issue", jiratest.Fault{Status: 429, RetryAfter: "1"})
	e.jsim.Inject("POST /rest/api/2/issue", jiratest.Fault{Status: 504, AfterApply: true})
	if err := e.process(EventResolved, "PCHK1"); err == nil {
		t.Fatal("want the attempt to fail")
	}
	e.retryUntilDone(EventResolved, "PCHK1")
	e.wantOneEpic()
}

// hookSteps runs hook once, when a given step is recorded.
type hookSteps struct {
	*store.Store
	once sync.Once
	id   string
	step string
	st   string
	hook func()
}

func (h *hookSteps) RecordStep(ctx context.Context, id string, st store.StepRecord) error {
	if id == h.id && st.Name == h.step && st.Status == h.st {
		h.once.Do(h.hook)
	}
	return h.Store.RecordStep(ctx, id, st)
}

// A member resolves while the primary's process runs (after the group was
// claimed, before the post-mortem is recorded): it still joins the epic,
// once.
func TestJiraMemberJoinsWhilePrimaryRuns(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.incident("PEARLY", "PSVC001", "P1", t0, 30*time.Minute)
	member := *e.res
	member.Store = e.store
	e.res.Store = &hookSteps{Store: e.store, id: "PEARLY", step: StepEpic, st: store.StepStarted, hook: func() {
		e.incident("PTARDY", "PSVC002", "P2", t0.Add(50*time.Minute), 10*time.Minute)
		if err := member.Process(context.Background(), e.job(EventResolved, "PTARDY")); err != nil {
			t.Errorf("member: %v", err)
		}
	}}
	e.mustProcess(EventResolved, "PEARLY")
	e.res.Store = e.store
	e.mustProcess(EventResolved, "PEARLY") // a redelivery of the primary's event changes nothing
	epic := e.wantOneEpic()
	e.wantNotes("PTARDY", 1)
	if !slices.Contains(epic.Labels, "pagerduty-PTARDY") {
		t.Errorf("labels = %v: the member is not on the epic", epic.Labels)
	}
	n := 0
	for _, c := range epic.Comments {
		if strings.Contains(c.Body, "joined this post-mortem") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d join comments", n)
	}
}

// Two TODO items that differ only after Jira's 255 characters are one
// ticket, listed once.
func TestJiraLongTodosWithTheSamePrefix(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PLONG", Number: 9, Title: "Long", ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
	p := strings.Repeat("x", 260)
	e.sim.Annotate("PLONG", "PUSER01", "TODO: "+p+" one\nTODO: "+p+" two", t0.Add(5*time.Minute))
	e.sim.Resolve("PLONG", "PUSER01", t0.Add(30*time.Minute))
	e.mustProcess(EventResolved, "PLONG")
	epic := e.wantOneEpic()
	kids := e.children(epic.Key)
	if len(kids) != 3 { // two standard tasks and one for both items
		t.Fatalf("%d follow-ups, want 3", len(kids))
	}
	for _, k := range kids {
		if n := strings.Count(epic.Description, "["+k.Key+"|"); n != 1 {
			t.Errorf("%s is on the page %d times", k.Key, n)
		}
	}
	e.mustProcess(EventResolved, "PLONG")
	if n := len(e.jsim.Issues()); n != 4 {
		t.Fatalf("%d issues after a repeat", n)
	}
}

// Data Center: the lost answer to a bulk create, found by its Epic Link.
func TestJiraDataCenterLostBulkAnswer(t *testing.T) {
	e := newJiraEnv(t, jiratest.DataCenter, 10)
	realisticSEV1(e.pdEnv)
	e.jsim.Inject("POST /rest/api/2/issue/bulk", jiratest.Fault{Status: 504, AfterApply: true})
	if err := e.process(EventResolved, "PCHK1"); err == nil {
		t.Fatal("want the attempt to fail")
	}
	e.mustProcess(EventResolved, "PCHK1")
	epic := e.wantOneEpic()
	if n := len(e.children(epic.Key)); n != 4 {
		t.Fatalf("%d follow-ups, want 4", n)
	}
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
