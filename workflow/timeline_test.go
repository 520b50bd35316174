package workflow

import (
	"strings"
	"testing"
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
