package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestPostmortemsByServiceAreFoundByResolveTimeOnceEach(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 20, 10, 0, 0, 0, time.UTC)
	pms := []Postmortem{
		{Incident: "PA", Key: "PM-1", ResolvedAt: at.AddDate(0, 0, -40), Services: []string{"PSVC1"}, Followups: []string{"PM-2"}},
		// On two services: found once when both are read.
		{Incident: "PB", Key: "PM-3", ResolvedAt: at.AddDate(0, 0, -10), Services: []string{"PSVC1", "PSVC2"}},
		{Incident: "PC", Key: "PM-4", ResolvedAt: at.AddDate(0, 0, -5), Services: []string{"PSVC3"}},
		// Resolved before the window.
		{Incident: "PD", Key: "PM-5", ResolvedAt: at.AddDate(0, 0, -100), Services: []string{"PSVC1"}},
	}
	for _, pm := range pms {
		pm.MeetingDue, pm.ReviewDue = pm.ResolvedAt.Add(72*time.Hour), pm.ResolvedAt.Add(48*time.Hour)
		if _, err := s.Register(ctx, pm, 2); err != nil {
			t.Fatal(err)
		}
		// Twice, as a retry or a second replica would: one entry each.
		for range 2 {
			if err := s.IndexPostmortem(ctx, pm); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Indexed but never registered (its record is gone): left out.
	if err := s.IndexPostmortem(ctx, Postmortem{Incident: "PGONE", ResolvedAt: at.AddDate(0, 0, -1), Services: []string{"PSVC1"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SetStatus(ctx, "PB", StatusInReview, "sync"); err != nil {
		t.Fatal(err)
	}
	ids := func(ds []Deadline) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Incident)
		}
		return out
	}
	window := 90 * 24 * time.Hour
	got, err := s.PostmortemsOn(ctx, []string{"PSVC1", "PSVC2"}, at.Add(-window), at)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), []string{"PB", "PA"}) {
		t.Fatalf("post-mortems on PSVC1, PSVC2 = %v, want PB then PA (the most recent first, once each, PD outside the window)", ids(got))
	}
	if got[0].Status != StatusInReview || got[0].Key != "PM-3" || got[1].Followups[0] != "PM-2" {
		t.Fatalf("records as they stand: %+v", got)
	}
	if got, err := s.PostmortemsOn(ctx, []string{"PSVC3"}, at.Add(-window), at.AddDate(0, 0, -6)); err != nil || len(got) != 0 {
		t.Fatalf("before PC resolved: %v, %v", ids(got), err)
	}
	if got, err := s.PostmortemsOn(ctx, []string{"PSVC9"}, at.Add(-window), at); err != nil || len(got) != 0 {
		t.Fatalf("a service with none: %v, %v", ids(got), err)
	}
	if n, err := r.Client.ZCard(ctx, s.serviceIndexKey("PSVC1")).Result(); err != nil || n != 4 {
		t.Fatalf("PSVC1's set holds %d, %v; want 4 (PA, PB, PD, PGONE once each)", n, err)
	}

	// A post-mortem resolved over a year after PD trims it from the sets it
	// is added to.
	late := Postmortem{Incident: "PLATE", ResolvedAt: pms[3].ResolvedAt.Add(IndexHorizon + time.Hour), Services: []string{"PSVC1"}}
	if err := s.IndexPostmortem(ctx, late); err != nil {
		t.Fatal(err)
	}
	left, err := r.Client.ZRange(ctx, s.serviceIndexKey("PSVC1"), 0, -1).Result()
	if err != nil || slices.Contains(left, "PD") || !slices.Contains(left, "PA") {
		t.Fatalf("after the trim PSVC1 holds %v, %v; want PD gone, PA kept", left, err)
	}
	// No services: nothing to file, no error.
	if err := s.IndexPostmortem(ctx, Postmortem{Incident: "PNONE", ResolvedAt: at}); err != nil {
		t.Fatal(err)
	}
}
