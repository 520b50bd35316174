package workflow

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
)

// aftermath's own PagerDuty user (PAGERDUTY_FROM_EMAIL) sets the group's
// final priority on the primary and resolves the open member: both stay in
// the timeline, as aftermath's, but aftermath is not a responder and is not
// invited to the meeting.
func TestAftermathIsNotAResponder(t *testing.T) {
	e := newPDEnv(t, testRules)
	groupScenario(e)
	e.sim.ResetCalls()
	e.mustProcess(EventResolved, "PPRIM")
	tl := e.asked[0].Timeline
	// Who aftermath is takes one request, made because it acted here.
	if n := e.sim.Count("GET /users"); n != 1 {
		t.Errorf("%d requests for aftermath's own user, want 1", n)
	}

	for _, r := range tl.Responders {
		if r.UserID == "PBOT" || strings.EqualFold(r.Name, "aftermath") {
			t.Errorf("aftermath is a responder: %+v", r)
		}
	}
	var ours []string
	for _, ev := range tl.Events {
		if ev.ActorID == "PBOT" {
			ours = append(ours, ev.IncidentID+" "+ev.Kind+" by "+ev.Actor)
		}
	}
	if got, want := strings.Join(ours, "; "), "PPRIM priority changed by aftermath; PMOPEN resolved by aftermath"; got != want {
		t.Errorf("aftermath's rows in the timeline: %q, want %q", got, want)
	}

	page := e.wantOneEpic().Description
	section := page[strings.Index(page, "h2. Responders"):strings.Index(page, "h2. Timeline")]
	if strings.Contains(section, "|aftermath|") {
		t.Errorf("the Responders table lists aftermath:\n%s", section)
	}
	invite := lineStarting(page, "*Invite:*")
	if invite == "" || strings.Contains(invite, "aftermath") {
		t.Errorf("the meeting's invitees: %q", invite)
	}
	if !strings.Contains(page, "|aftermath|*resolved*") {
		t.Errorf("the timeline lost aftermath's resolve of the open member:\n%s", page)
	}
}

// lineStarting is the page's first line that starts with prefix, or "".
func lineStarting(page, prefix string) string {
	for l := range strings.SplitSeq(page, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// Who aftermath is costs a request only when the logs show something it may
// have done: not for the realistic outage, where people did everything
// (even a note on a member after the primary resolved), and once a process
// when a member was resolved after the primary.
func TestAftermathsUserIsAskedForOnlyWhenItMayHaveActed(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	e.sim.Annotate("PPAY1", "PUSER02", "Payments back to normal too.", t0.Add(80*time.Minute))
	e.sim.ResetCalls()
	e.mustProcess(EventResolved, "PCHK1")
	if n := e.sim.Count("GET /users"); n != 0 {
		t.Fatalf("%d requests for aftermath's own user where it did nothing", n)
	}

	f := newPDEnv(t, testRules)
	f.incident("PLATE1", "PSVC001", "P1", t0, 30*time.Minute)
	f.incident("PLATE2", "PSVC002", "P1", t0.Add(5*time.Minute), 0)
	f.sim.Resolve("PLATE2", "PUSER03", t0.Add(40*time.Minute)) // a person, after the primary
	f.sim.ResetCalls()
	f.mustProcess(EventResolved, "PLATE1")
	if n := f.sim.Count("GET /users"); n != 1 {
		t.Fatalf("%d requests for aftermath's own user, want 1", n)
	}
	if rs := f.asked[0].Timeline.Responders; !slices.ContainsFunc(rs, func(r Responder) bool { return r.UserID == "PUSER03" }) {
		t.Fatalf("the person who resolved the member is not a responder: %+v", rs)
	}
}

// aftermath's own user under another name: its rows say aftermath, as that
// user; it has no responder row.
func TestAftermathsRowsNameTheUserItActsAs(t *testing.T) {
	own := ownUser{userID: "PBOT", name: "Ops Bot"}
	bot := pagerduty.Ref{ID: "PBOT", Type: "user_reference", Summary: "Ops Bot"}
	primary := incidentLog{Incident: pagerduty.Incident{ID: "P1", Number: 1, ResolvedAt: t0.Add(time.Hour)}, Entries: []pagerduty.LogEntry{
		{Type: "priority_change_log_entry", Agent: bot, CreatedAt: t0.Add(time.Hour), Summary: "Priority changed"},
	}}
	member := incidentLog{Incident: pagerduty.Incident{ID: "P2", Number: 2}, Entries: []pagerduty.LogEntry{
		{Type: "acknowledge_log_entry", Agent: pagerduty.Ref{ID: "PU1", Type: "user_reference", Summary: "Alice"}, CreatedAt: t0},
		{Type: "resolve_log_entry", Agent: bot, CreatedAt: t0.Add(time.Hour), Summary: "Resolved by Ops Bot."},
	}}
	tl := buildTimeline(primary, []incidentLog{member}, nil, own)
	var actors []string
	for _, ev := range tl.Events {
		actors = append(actors, ev.Actor)
	}
	if got := strings.Join(actors, ", "); got != "Alice, aftermath (as Ops Bot), aftermath (as Ops Bot)" {
		t.Errorf("actors: %s", got)
	}
	if len(tl.Responders) != 1 || tl.Responders[0].Name != "Alice" {
		t.Errorf("responders: %+v", tl.Responders)
	}
	if got := (ownUser{userID: "PBOT", name: "aftermath"}).actor(); got != "aftermath" {
		t.Errorf("actor of a user named aftermath: %q", got)
	}
}
