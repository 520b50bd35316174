package workflow

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/store"
)

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

// crashAfterSteps records the step, then fails once, as a process killed
// right after that record would.
type crashAfterSteps struct {
	*store.Store
	step, status string
	crashed      atomic.Bool
}

func (c *crashAfterSteps) RecordStep(ctx context.Context, id string, st store.StepRecord) error {
	if err := c.Store.RecordStep(ctx, id, st); err != nil {
		return err
	}
	if st.Name == c.step && st.Status == c.status && c.crashed.CompareAndSwap(false, true) {
		return errors.New("crash right after the record (injected)")
	}
	return nil
}

// Jira refuses the owner as assignee: the epic is made unassigned, and the
// refusal is part of the epic's recorded result. A retry after a crash right
// after that record still knows it: the page and a comment say why nobody
// owns the post-mortem, and the link-back note names no owner.
func TestJiraAssigneeRefusedSurvivesACrash(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	// The owner (alice resolved the primary) is found in Jira, then her
	// account is deactivated: Jira refuses her as assignee.
	if _, found, err := e.jc.UserByEmail(context.Background(), alice.email); err != nil || !found {
		t.Fatalf("alice in Jira: %v %v", found, err)
	}
	e.jsim.AddUser(jiratest.User{AccountID: alice.id, Name: alice.name, Key: alice.name, Email: alice.email, DisplayName: "Alice", Active: false})
	crash := &crashAfterSteps{Store: e.store, step: StepEpic, status: store.StepDone}
	e.res.Store = crash
	if err := e.process(EventResolved, "PCHK1"); err == nil || !crash.crashed.Load() {
		t.Fatalf("the attempt did not crash after the epic's record: %v", err)
	}
	if r := e.step("PCHK1", StepEpic).Result; !strings.Contains(r, `"owner_refused":"User 'Alice' cannot be assigned issues."`) {
		t.Fatalf("the epic's record does not say Jira refused the owner: %s", r)
	}
	e.mustProcess(EventResolved, "PCHK1")

	epic := e.wantOneEpic()
	if epic.Assignee != "" {
		t.Fatalf("assignee = %q, want none", epic.Assignee)
	}
	why := "Jira refused to assign it to alice@example.com"
	if !strings.Contains(epic.Description, why) || !strings.Contains(epic.Description, "nobody yet") {
		t.Errorf("the page does not say why nobody owns it:\n%s", epic.Description)
	}
	if len(epic.Comments) != 1 || !strings.Contains(epic.Comments[0].Body, "no owner yet: "+why) {
		t.Errorf("comments = %+v", epic.Comments)
	}
	notes := e.ourNotes("PCHK1")
	if len(notes) != 1 || !strings.Contains(notes[0].Content, "Owner: none") || strings.Contains(notes[0].Content, alice.email) {
		t.Errorf("link-back notes = %+v", notes)
	}
	if n := len(e.children(epic.Key)); n != 4 {
		t.Errorf("%d follow-ups, want 4", n)
	}
}

// The owner and the meeting deadline are those the epic was made with: a
// retry after the epic's record writes them everywhere else even when Jira
// or the rules would now say otherwise (here: Jira refuses the user search
// on the retry).
func TestOwnerIsTheEpicsOnARetry(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	crash := &crashAfterSteps{Store: e.store, step: StepEpic, status: store.StepDone}
	e.res.Store = crash
	if err := e.process(EventResolved, "PCHK1"); err == nil {
		t.Fatal("the attempt did not crash after the epic's record")
	}
	e.res.Store = e.store
	// A new client: nothing cached; Jira now refuses every user search.
	log := slog.New(slog.DiscardHandler)
	jc, err := jira.New(jira.Config{BaseURL: e.jsim.URL(), Deployment: jira.Cloud, Email: e.jsim.Email(), APIToken: e.jsim.APIToken()}, log,
		jira.NewHTTPClient(outbound.Config{RequestsPerMinute: 60000, Burst: 100, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, nil, log))
	if err != nil {
		t.Fatal(err)
	}
	e.res.Jira = jc
	e.jsim.Inject("GET /rest/api/2/user/search", jiratest.Fault{Status: 403, Times: 10})
	e.mustProcess(EventResolved, "PCHK1")
	epic := e.wantOneEpic()
	if epic.Assignee != "acc-alice" || len(epic.Comments) != 0 {
		t.Fatalf("assignee %q, comments %+v", epic.Assignee, epic.Comments)
	}
	if notes := e.ourNotes("PCHK1"); len(notes) != 1 || !strings.Contains(notes[0].Content, "Owner: alice@example.com") {
		t.Fatalf("link-back = %+v", notes)
	}
}

// Jira refuses the owner as assignee and the answer to the second create is
// lost: the retry finds the epic unassigned by search and still says why
// nobody owns it.
func TestAssigneeRefusedThenLostAnswer(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	if _, found, err := e.jc.UserByEmail(context.Background(), alice.email); err != nil || !found {
		t.Fatalf("alice in Jira: %v %v", found, err)
	}
	e.jsim.AddUser(jiratest.User{AccountID: alice.id, Name: alice.name, Key: alice.name, Email: alice.email, DisplayName: "Alice", Active: false})
	// The first create goes through to Jira, which refuses the assignee;
	// the second (unassigned) is applied and its answer lost.
	e.jsim.Inject("POST /rest/api/2/issue", jiratest.Fault{}) // no fault
	e.jsim.Inject("POST /rest/api/2/issue", jiratest.Fault{Status: 504, AfterApply: true})
	e.res.SearchLag = time.Millisecond
	if err := e.process(EventResolved, "PCHK1"); err == nil {
		t.Fatal("want the attempt to fail")
	}
	e.retryUntilDone(EventResolved, "PCHK1")
	epic := e.wantOneEpic()
	if epic.Assignee != "" || len(epic.Comments) != 1 || !strings.Contains(epic.Comments[0].Body, "found unassigned") {
		t.Fatalf("assignee %q, comments %+v", epic.Assignee, epic.Comments)
	}
	if notes := e.ourNotes("PCHK1"); len(notes) != 1 || !strings.Contains(notes[0].Content, "Owner: none") {
		t.Fatalf("link-back = %+v", notes)
	}
}

// aftermath's own PagerDuty user is never the owner, even with a Jira
// account of its email: when it resolved the incident (as it resolves open
// members) or was its last assignee, the next source gives the owner.
func TestOwnerIsNeverAftermathsOwnUser(t *testing.T) {
	bot := jiraUser{"acc-bot", "aftermath-bot", fromEmail}
	for _, tc := range []struct {
		name, assignee, want, why string
	}{
		{"resolved by aftermath: the last assignee", "PUSER03", "acc-carol", "resolver: aftermath's own PagerDuty user"},
		{"resolved by and assigned to aftermath: the fallback", "PBOT", "acc-sre", "last_assignee: aftermath's own PagerDuty user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newWorkflowEnv(t, testRules, jiratest.Cloud, alice, carol, sreLead, bot)
			e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PSELF", Title: "Owner test", ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
			e.sim.Assign("PSELF", tc.assignee, t0.Add(time.Minute))
			e.sim.Resolve("PSELF", "PBOT", t0.Add(time.Hour))
			e.mustProcess(EventResolved, "PSELF")
			if a := e.wantOneEpic().Assignee; a != tc.want {
				t.Fatalf("assignee = %q, want %q; owner step: %+v", a, tc.want, e.step("PSELF", StepOwner))
			}
			if d := e.step("PSELF", StepOwner).Detail; !strings.Contains(d, tc.why) {
				t.Errorf("the owner step does not say why aftermath was passed over: %q", d)
			}
		})
	}
}
