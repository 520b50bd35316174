package workflow

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// rules.Labels and IncidentLabel are what the idempotency search depends on.
func TestIncidentLabelIsAJiraLabel(t *testing.T) {
	if _, err := rules.Load("x.yaml", []byte("jira:\n  labels: ["+jira.IncidentLabel("Q2CKYRLH85UNN4")+"]\n")); err != nil {
		t.Fatal(err)
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

// With JIRA_API_URL the calls go through Atlassian's gateway, whose 503 may
// follow a create that Jira did (found by review): the retry waits out the
// search lag before looking, and finds the epic rather than making a
// second one.
func TestJiraGateway503AfterTheCreateMakesOneEpic(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	e.res.SearchLag = 2 * time.Second
	e.jsim.SetSearchLag(1500 * time.Millisecond)
	e.jsim.Inject("POST /rest/api/2/issue", jiratest.Fault{Status: 503, AfterApply: true})
	if err := e.process(EventResolved, "PCHK1"); err == nil {
		t.Fatal("want the attempt to fail")
	}
	e.retryUntilDone(EventResolved, "PCHK1")
	e.wantOneEpic()
}
