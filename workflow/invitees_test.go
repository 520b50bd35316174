package workflow

import (
	"context"
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
)

// The meeting's invite line gives each responder the role the Responders
// table gives them (Carol Diaz is the scribe in both), and "responder" to
// those without one.
func TestInviteLineUsesTheRolesOfTheRespondersTable(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	e.mustProcess(EventResolved, "PCHK1")
	page := e.wantOneEpic().Description
	invite := lineStarting(page, "*Invite:*")
	table := page[strings.Index(page, "h2. Responders"):strings.Index(page, "h2. Timeline")]
	rows := 0
	for l := range strings.SplitSeq(table, "\n") {
		cells := strings.Split(l, "|")
		if len(cells) != 5 || strings.HasPrefix(l, "||") {
			continue
		}
		rows++
		name, role := cells[1], strings.TrimSpace(cells[2])
		want := name + " (responder)"
		if role != "" {
			want = name + " (" + strings.ToLower(role) + ")"
		}
		if !strings.Contains(invite, want) {
			t.Errorf("the table says %q is %q; the invite line does not say %q: %s", name, role, want, invite)
		}
	}
	if rows != 3 || !strings.Contains(invite, "Carol Diaz (scribe)") {
		t.Errorf("%d responders in the table; invite line %q", rows, invite)
	}
}

// A role named only in a note (no PagerDuty user acted under that name) is
// invited with its role, as the incident commander always was.
func TestInviteesCarryRolesFromNotes(t *testing.T) {
	e := newNotifyEnv(t)
	tl := Timeline{Responders: []Responder{
		{Name: "Alice Ng", Role: "Incident commander"},
		{UserID: "PU2", Name: "Bob", Actions: []string{"acknowledged #7"}},
		{UserID: "PU3", Name: "Carol Diaz", Role: "Scribe", Actions: []string{"added notes to #7"}},
		{Name: "Dana Lee", Role: "Scribe"},
	}}
	x := e.res.newRun("QI2", EventResolved, "", e.rules, nil)
	var got []string
	for _, in := range x.invitees(context.Background(), "SEV-2", nil, map[string]incidentLog{}, tl, false) {
		got = append(got, in.Label()+" ("+in.Why+")")
	}
	if want := "Alice Ng (incident commander); Bob (responder); Carol Diaz (scribe); Dana Lee (scribe)"; strings.Join(got, "; ") != want {
		t.Errorf("invitees:\n%s\nwant\n%s", strings.Join(got, "; "), want)
	}
}
