package workflow

import (
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/store"
)

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
