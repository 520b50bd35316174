package store

import (
	"context"
	"testing"
	"time"
)

func TestFollowupsAreKeptPerPostmortemAndListedByKey(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	seedOverview(t, s, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	due := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	if err := s.SaveFollowups(ctx, "P1", []Followup{
		{Key: "FU-10", Epic: "PM-1", Summary: "b", Status: "To Do", Due: due, Made: true},
		{Key: "FU-9", Epic: "PM-1", Summary: "a", Status: "Done", Done: true},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveFollowups(ctx, "P0", []Followup{{Key: "FU-1", Epic: "PM-0", Deleted: true}}); err != nil {
		t.Fatal(err)
	}
	// A second save of one key replaces it and keeps the other.
	if err := s.SaveFollowups(ctx, "P1", []Followup{{Key: "FU-10", Epic: "PM-1", Summary: "b", Status: "In Progress", Due: due, Reminders: 1}}); err != nil {
		t.Fatal(err)
	}
	fus, err := s.Followups(ctx, "P1")
	if err != nil {
		t.Fatal(err)
	}
	if len(fus) != 2 || fus[0].Key != "FU-9" || fus[1].Key != "FU-10" {
		t.Fatalf("follow-ups of P1 = %+v, want FU-9 then FU-10", fus)
	}
	if f := fus[1]; f.Incident != "P1" || f.Status != "In Progress" || f.Reminders != 1 || !f.Due.Equal(due) || !f.Open() {
		t.Fatalf("FU-10 = %+v", f)
	}
	if fus[0].Open() {
		t.Fatal("a done follow-up is open")
	}
	if !fus[1].Overdue(due.Add(48*time.Hour), due.Add(24*time.Hour)) || fus[1].Overdue(due.Add(time.Hour), due.Add(24*time.Hour)) {
		t.Fatal("overdue only from the end of its due date")
	}
	all, err := s.AllFollowups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, f := range all {
		keys = append(keys, f.Incident+"/"+f.Key)
	}
	if got := len(keys); got != 3 || keys[0] != "P0/FU-1" || keys[1] != "P1/FU-9" || keys[2] != "P1/FU-10" {
		t.Fatalf("all follow-ups = %v, want P0/FU-1 P1/FU-9 P1/FU-10 (by meeting due, then key)", keys)
	}
}

func TestRecurrencesAreRecordedOncePerIncidentAndPostmortem(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 20, 10, 0, 0, 0, time.UTC)
	r := Recurrence{Incident: "PNEW", Number: 4300, Title: "checkout 502", Service: "PSVC1", ResolvedAt: at,
		Earlier: "POLD", EarlierKey: "PM-1", Open: []string{"PM-4", "PM-5"}}
	for i, want := range []bool{true, false} {
		got, err := s.RecordRecurrence(ctx, r)
		if err != nil || got != want {
			t.Fatalf("record #%d = %v, %v; want %v", i+1, got, err, want)
		}
	}
	r2 := r
	r2.Incident, r2.ResolvedAt = "PNEWER", at.Add(48*time.Hour)
	if _, err := s.RecordRecurrence(ctx, r2); err != nil {
		t.Fatal(err)
	}
	all, err := s.Recurrences(ctx, time.Time{}, time.Time{})
	if err != nil || len(all) != 2 || all[0].Incident != "PNEW" || all[1].Incident != "PNEWER" {
		t.Fatalf("all = %+v, %v", all, err)
	}
	if got := all[0]; got.EarlierKey != "PM-1" || len(got.Open) != 2 || !got.ResolvedAt.Equal(at) {
		t.Fatalf("recorded %+v", got)
	}
	inWeek, err := s.Recurrences(ctx, at.Add(time.Hour), at.Add(7*24*time.Hour))
	if err != nil || len(inWeek) != 1 || inWeek[0].Incident != "PNEWER" {
		t.Fatalf("in [from, to): %+v, %v", inWeek, err)
	}
	if end, err := s.Recurrences(ctx, time.Time{}, at); err != nil || len(end) != 0 {
		t.Fatalf("to is excluded: %+v, %v", end, err)
	}
	of, err := s.RecurrencesOf(ctx, "POLD")
	if err != nil || len(of) != 2 {
		t.Fatalf("of POLD: %+v, %v", of, err)
	}
	if of, _ := s.RecurrencesOf(ctx, "PNEWER"); len(of) != 1 {
		t.Fatalf("of PNEWER: %+v", of)
	}
}
