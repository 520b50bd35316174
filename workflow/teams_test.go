package workflow

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/store"
)

// The incidents' PagerDuty teams, as the simulator answers them, reach the
// post-mortem's record through the real workflow (the deadlines step keeps
// the group's teams, the primary's first, each once), and the overview's
// team filter finds the post-mortem by any of them.
func TestTeamsReachThePostmortemRecord(t *testing.T) {
	e := newPDEnv(t, testRules)
	add := func(id, service, priority string, at time.Time, resolveAfter time.Duration, teams ...pagerdutytest.Team) {
		e.sim.AddIncident(pagerdutytest.NewIncident{ID: id, Title: "Checkout errors " + id, ServiceID: service, Priority: priority, CreatedAt: at, Teams: teams})
		e.sim.Assign(id, "PUSER01", at.Add(time.Minute))
		e.sim.Acknowledge(id, "PUSER01", at.Add(2*time.Minute))
		if resolveAfter > 0 {
			e.sim.Resolve(id, "PUSER02", at.Add(resolveAfter))
		}
	}
	checkout, payments := pagerdutytest.Team{ID: "PTEAMCO", Name: "Checkout"}, pagerdutytest.Team{ID: "PTEAMPA", Name: "Payments"}
	add("PPRIM", "PSVC001", "P1", t0, 60*time.Minute, checkout)
	add("PMEMB", "PSVC002", "P2", t0.Add(10*time.Minute), 0, payments, checkout)
	add("PLONE", "PSVC009", "P1", t0.Add(-5*time.Hour), 30*time.Minute)
	e.mustProcess(EventResolved, "PPRIM")
	e.mustProcess(EventResolved, "PLONE")

	ctx := context.Background()
	d, found, err := e.store.Deadline(ctx, "PPRIM")
	if err != nil || !found {
		t.Fatalf("no record for PPRIM: %v", err)
	}
	if want := []store.Team{{ID: "PTEAMCO", Name: "Checkout"}, {ID: "PTEAMPA", Name: "Payments"}}; !slices.Equal(d.Teams, want) {
		t.Fatalf("record teams %+v, want %+v", d.Teams, want)
	}
	if !slices.Equal(d.Services, []string{"PSVC001", "PSVC002"}) {
		t.Fatalf("record services %v", d.Services)
	}
	if lone, _, _ := e.store.Deadline(ctx, "PLONE"); len(lone.Teams) != 0 {
		t.Fatalf("an incident without teams has %v", lone.Teams)
	}
	for team, want := range map[string][]string{"PTEAMPA": {"PPRIM"}, "PTEAMCO": {"PPRIM"}, "PNOPE": {}} {
		page, err := e.store.Postmortems(ctx, store.PostmortemQuery{Team: team, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, p := range page.Postmortems {
			got = append(got, p.Incident)
		}
		if !slices.Equal(got, want) {
			t.Errorf("post-mortems of team %s: %v, want %v", team, got, want)
		}
	}
}
