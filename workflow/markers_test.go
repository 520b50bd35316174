package workflow

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/store"
)

// quote is a responder's note that mentions aftermath's marker.
const quote = "TODO: rotate the DB credentials used by checkout-api\nsee [aftermath:postmortem:PCHK1]"

// A responder's note that quotes aftermath's marker is the responder's: it
// makes its follow-up, and it is on the page. Only a note by aftermath's
// own PagerDuty user (PAGERDUTY_FROM_EMAIL) that carries the whole marker
// is left out.
func TestResponderNoteQuotingAMarkerIsTheirs(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	e.sim.Annotate("PCHK1", "PUSER02", quote, t0.Add(60*time.Minute))
	// aftermath's own note (from an earlier run) stays out of the page.
	e.sim.Annotate("PCHK1", "PBOT", "Post-mortem: PM-0\n[aftermath:postmortem:PCHK1]", t0.Add(61*time.Minute))
	e.mustProcess(EventResolved, "PCHK1")
	epic := e.wantOneEpic()
	found := false
	for _, k := range e.children(epic.Key) {
		found = found || k.Summary == "Rotate the DB credentials used by checkout-api"
	}
	if !found {
		t.Error("the responder's TODO made no follow-up")
	}
	if !strings.Contains(epic.Description, "Note: TODO: rotate the DB credentials used by checkout-api") {
		t.Errorf("the responder's note is not on the page:\n%s", epic.Description)
	}
	if strings.Contains(epic.Description, "PM\\-0") || strings.Contains(epic.Description, "Post\\-mortem: PM") {
		t.Errorf("aftermath's own note is on the page:\n%s", epic.Description)
	}
}

// ownUser: the author and the whole marker, both.
func TestOwnNotes(t *testing.T) {
	own := ownUser{userID: "PBOT"}
	for _, tc := range []struct {
		user, content string
		want          bool
	}{
		{"PBOT", "Post-mortem: PM-1\n[aftermath:postmortem:P1]", true},
		{"PBOT", "Grouped under #1.\n[aftermath:member:Q1ABC]", true},
		{"PUSER02", quote, false},
		{"PBOT", "someone on the bot's account: see [aftermath:", false},
		{"PBOT", "[aftermath:postmortem:]", false},
		{"", "[aftermath:postmortem:P1]", false},
	} {
		if got := own.ours(tc.user, tc.content); got != tc.want {
			t.Errorf("ours(%q, %q) = %v", tc.user, tc.content, got)
		}
	}
	if (ownUser{}).ours("PBOT", "[aftermath:postmortem:P1]") {
		t.Error("with no From user, a note was aftermath's")
	}
	// The timeline, fed the same notes.
	il := incidentLog{Incident: pagerduty.Incident{ID: "P1", Number: 1}, Notes: []pagerduty.Note{
		{ID: "N1", User: pagerduty.Ref{ID: "PUSER02", Type: "user_reference", Summary: "Bob"}, Content: quote, CreatedAt: t0},
		{ID: "N2", User: pagerduty.Ref{ID: "PBOT", Type: "user_reference", Summary: "aftermath"}, Content: "x\n[aftermath:postmortem:P1]", CreatedAt: t0.Add(time.Minute)},
	}}
	tl := buildTimeline(il, nil, []string{"TODO"}, own)
	if len(tl.TODOs) != 1 || tl.Resolution == nil || tl.Resolution.Content != quote || len(tl.Responders) != 1 {
		t.Errorf("timeline: %d TODOs, resolution %+v, %d responders", len(tl.TODOs), tl.Resolution, len(tl.Responders))
	}
}

// A retry that finds the link-back's intent without its result looks for
// aftermath's note: a responder's note quoting its marker is not it, and
// the link-back is written.
func TestLinkBackLookupIgnoresAQuote(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	crash := &crashAfterSteps{Store: e.store, step: StepLinkBack, status: store.StepStarted}
	e.res.Store = crash
	if err := e.process(EventResolved, "PCHK1"); err == nil || !crash.crashed.Load() {
		t.Fatalf("the attempt did not crash after the link-back's intent: %v", err)
	}
	e.sim.Annotate("PCHK1", "PUSER02", quote, t0.Add(2*time.Hour))
	e.mustProcess(EventResolved, "PCHK1")
	n := 0
	for _, note := range e.sim.Notes("PCHK1") {
		if note.UserID == "PBOT" && strings.Contains(note.Content, "[aftermath:postmortem:PCHK1]") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d link-back notes by aftermath, want 1", n)
	}
}

// The same for a Jira comment: someone's comment quoting aftermath's marker
// is not aftermath's, and aftermath's comment is written.
func TestCommentLookupIgnoresAQuote(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	// Alice owns it, but Jira refuses her as assignee: the epic gets a
	// comment saying why nobody owns it.
	if _, found, err := e.jc.UserByEmail(context.Background(), alice.email); err != nil || !found {
		t.Fatalf("alice in Jira: %v %v", found, err)
	}
	e.jsim.AddUser(jiratest.User{AccountID: alice.id, Name: alice.name, Key: alice.name, Email: alice.email, DisplayName: "Alice", Active: false})
	crash := &crashAfterSteps{Store: e.store, step: StepOwnerComment, status: store.StepStarted}
	e.res.Store = crash
	if err := e.process(EventResolved, "PCHK1"); err == nil || !crash.crashed.Load() {
		t.Fatalf("the attempt did not crash after the owner comment's intent: %v", err)
	}
	key := e.wantOneEpic().Key
	e.jsim.AddComment(key, carol.id, "Same as on the other epic:\nThis post-mortem has no owner yet.\naftermath-ref-owner-PCHK1")
	e.mustProcess(EventResolved, "PCHK1")
	n := 0
	for _, c := range e.wantOneEpic().Comments {
		if c.Author == jiratest.BotAccountID && strings.HasSuffix(c.Body, "aftermath-ref-owner-PCHK1") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d owner comments by aftermath, want 1", n)
	}
}
