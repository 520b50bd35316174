package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

// The step that labels the epic for incidents stands for their set without
// naming them: the same set in any order is the same step (two runs share
// its checkpoint), another set is another step.
func TestRelabelStepNamesTheSetWithoutItsIncidents(t *testing.T) {
	a, b := relabelStep([]string{"PPAY1", "PCHK1"}), relabelStep([]string{"PCHK1", "PPAY1"})
	if a != b {
		t.Fatalf("one set, two names: %s and %s", a, b)
	}
	if c := relabelStep([]string{"PCHK1"}); c == a {
		t.Fatalf("two sets, one name: %s", c)
	}
	if strings.Contains(a, "PCHK1") || strings.Contains(a, "PPAY1") || !strings.HasPrefix(a, StepEpicIncidents+"_") {
		t.Fatalf("name = %s", a)
	}
}

// An epic found by search after its record was lost is labelled for the
// group's incidents in a step of its own, whose record holds them: the
// post-mortem's readers (a late member's attach) find them there.
func TestJiraRelabelStepKeepsItsIncidentsInTheRecord(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	e.res.Store = &failingSteps{Store: e.store, step: StepEpic, status: store.StepDone, left: 1}
	if err := e.process(EventResolved, "PCHK1"); err == nil {
		t.Fatal("want the crash")
	}
	e.retryUntilDone(EventResolved, "PCHK1")
	epic := e.wantOneEpic()
	var names []string
	for name, st := range e.steps("PCHK1") {
		if !strings.HasPrefix(name, StepEpicIncidents) {
			continue
		}
		names = append(names, name)
		var r relabelResult
		if err := json.Unmarshal([]byte(st.Result), &r); err != nil || r.Key != epic.Key || strings.Join(r.Incidents, ",") != "PCHK1,PPAY1" {
			t.Errorf("step %s: result %q, want the epic and its incidents", name, st.Result)
		}
	}
	if want := relabelStep([]string{"PCHK1", "PPAY1"}); len(names) != 1 || names[0] != want {
		t.Fatalf("relabel steps %v, want [%s]", names, want)
	}
	x := e.res.newRun("PTARDY", EventResolved, "", e.rules, nil)
	ref, ok, err := x.postmortemRef(context.Background(), "PCHK1")
	slices.Sort(ref.Incidents)
	if err != nil || !ok || ref.Key != epic.Key || strings.Join(ref.Incidents, ",") != "PCHK1,PPAY1" {
		t.Fatalf("post-mortem = %+v %v %v, want %s labelled for PCHK1 and PPAY1", ref, ok, err, epic.Key)
	}
}

// The records of the release that named the relabel step after its
// incidents (epic_incidents_P2_P3, its result the bare epic key) are still
// read after an upgrade, beside the records of this one.
func TestRelabelStepOfThePreviousReleaseIsStillRead(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	ctx := context.Background()
	if err := e.store.RecordTrace(ctx, "P1", store.StepRecord{Name: StepPostmortem, Status: store.StepDone, Result: "PM-1", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []store.StepRecord{
		{Name: StepEpic, Status: store.StepDone, Result: epicResult{Key: "PM-1", Incidents: []string{"P1"}}.String()},
		{Name: StepEpicIncidents + "_P2_P3", Status: store.StepDone, Result: "PM-1"}, // the previous release's
		{Name: relabelStep([]string{"P4"}), Status: store.StepDone, Result: relabelResult{Key: "PM-1", Incidents: []string{"P4"}}.String()},
		{Name: StepEpicIncidents + "_P5", Status: store.StepFailed, Error: "jira: 503"}, // not labelled
		{Name: relabelStep([]string{"P6"}), Status: store.StepStarted, Result: ""},      // not yet
	} {
		st.UpdatedAt = t0
		if err := e.store.RecordStep(ctx, "P1", st); err != nil {
			t.Fatal(err)
		}
	}
	x := e.res.newRun("P9", EventResolved, "", e.rules, nil)
	ref, ok, err := x.postmortemRef(ctx, "P1")
	slices.Sort(ref.Incidents)
	if err != nil || !ok || ref.Key != "PM-1" || strings.Join(ref.Incidents, ",") != "P1,P2,P3,P4" {
		t.Fatalf("post-mortem = %+v %v %v, want PM-1 labelled for P1 to P4", ref, ok, err)
	}
}
