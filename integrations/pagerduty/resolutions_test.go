package pagerduty

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
)

// Resolutions finds incidents by when they resolved, not when they were
// created, pages through the account's log, and the simulator's
// GET /log_entries passes the official spec.
func TestResolutions(t *testing.T) {
	f := newFixture(t)
	now := t0.Add(48 * time.Hour)
	since, until := now.Add(-2*time.Hour), now
	// Created a week before the window, resolved inside it.
	old := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "slow burn", ServiceID: web.ID, CreatedAt: since.Add(-7 * 24 * time.Hour)})
	f.sim.Resolve(old.ID, alice.ID, since.Add(30*time.Minute))
	// Resolved before the window, and after it.
	before := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "before", ServiceID: web.ID, CreatedAt: since.Add(-time.Hour)})
	f.sim.Resolve(before.ID, alice.ID, since.Add(-time.Second))
	after := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "after", ServiceID: db.ID, CreatedAt: since})
	f.sim.Resolve(after.ID, alice.ID, until)
	// Open, with plenty of log entries in the window: more than a page.
	busy := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "busy", ServiceID: db.ID, CreatedAt: since})
	for i := range 150 {
		f.sim.Annotate(busy.ID, bob.ID, fmt.Sprintf("note %d", i), since.Add(time.Duration(i)*time.Second))
	}
	var want []string
	for i := range 3 {
		in := f.sim.AddIncident(pagerdutytest.NewIncident{Title: fmt.Sprintf("quick %d", i), ServiceID: web.ID, CreatedAt: since.Add(time.Hour)})
		f.sim.Resolve(in.ID, bob.ID, since.Add(time.Hour+time.Minute))
		want = append(want, in.ID)
	}
	want = append(want, old.ID)

	got, err := f.pd.Resolutions(context.Background(), since, until)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.IncidentID)
		if r.At.Before(since) || !r.At.Before(until) {
			t.Errorf("resolution %+v outside the window", r)
		}
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("resolved incidents %v, want %v", ids, want)
	}
	if n := f.sim.Count("GET /log_entries"); n < 2 {
		t.Fatalf("%d requests: the listing did not page", n)
	}
}

// A PagerDuty error reaches the caller as a retryable *Error.
func TestResolutionsError(t *testing.T) {
	f := newFixture(t)
	f.sim.Inject("GET /log_entries", pagerdutytest.Fault{Status: http.StatusServiceUnavailable, Times: 10})
	_, err := f.pd.Resolutions(context.Background(), t0, t0.Add(time.Hour))
	if e := wantError(t, err); e.Status != http.StatusServiceUnavailable || !e.Retryable() {
		t.Fatalf("error %+v", e)
	}
}
