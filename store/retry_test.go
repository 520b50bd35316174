package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The attempt counts: unfinished attempts are those that never ended, and
// stalled ones those in a row that ended without progress.
func TestAttemptCounts(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	const id = "1-1"
	steps := []struct {
		end, progressed bool
		want            Attempts
	}{
		{true, false, Attempts{Attempt: 1}},
		{true, false, Attempts{Attempt: 2, Stalled: 1}},
		{false, false, Attempts{Attempt: 3, Stalled: 2}}, // its process dies
		{true, true, Attempts{Attempt: 4, Unfinished: 1, Stalled: 2}},
		{true, false, Attempts{Attempt: 5, Unfinished: 1}},
	}
	for _, st := range steps {
		got, err := s.StartAttempt(ctx, id)
		if err != nil || got != st.want {
			t.Fatalf("StartAttempt = %+v %v, want %+v", got, err, st.want)
		}
		if st.end {
			if err := s.EndAttempt(ctx, id, st.progressed); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A parked entry waits for its retry time without an owner that works on
// it: reclaims before then hand it back to the parked consumer; once due,
// a reclaim returns it, once.
func TestParkedEntryComesBackWhenDue(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	if err := s.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, delivery("E1", "W1", "Q1")); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Read(ctx, "c1", 1, 100*time.Millisecond)
	id := got[0].ID
	if err := s.Park(ctx, "c2", id, now.Add(time.Minute)); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("park by a non-owner: %v", err)
	}
	if err := s.Park(ctx, "c1", id, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx); st.Retrying != 1 || st.Pending != 1 {
		t.Fatalf("stats = %+v, want one pending entry waiting for its retry", st)
	}
	if err := s.Touch(ctx, "c1", id); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("the parking worker still owns the entry: %v", err)
	}
	// Not due yet: a reclaim (of entries idle for any time) gives nothing.
	for range 2 {
		if es, _, _, err := s.Reclaim(ctx, "c3", 0, 10, "0-0"); err != nil || len(es) != 0 {
			t.Fatalf("reclaim before the retry time = %v %v", es, err)
		}
	}
	now = now.Add(time.Minute)
	es, _, _, err := s.Reclaim(ctx, "c3", 0, 10, "0-0")
	if err != nil || len(es) != 1 || es[0].ID != id || es[0].EventID != "E1" {
		t.Fatalf("reclaim once due = %v %v", es, err)
	}
	if st, _ := s.Stats(ctx); st.Retrying != 0 || st.Pending != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if err := s.Touch(ctx, "c3", id); err != nil {
		t.Fatalf("the reclaiming worker does not own the entry: %v", err)
	}
}

// A dead letter re-driven goes back into the queue once, with its fields and
// a new received time, and leaves the dead-letter stream.
func TestRedriveDeadLetter(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	d := delivery("E1", "W1", "Q1")
	d.ReceivedAt = time.Now().Add(-72 * time.Hour)
	if _, err := s.Enqueue(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Read(ctx, "c1", 1, 100*time.Millisecond)
	deadID, err := s.DeadLetter(ctx, "c1", got[0].ID, "still failing", 9)
	if err != nil {
		t.Fatal(err)
	}
	newID, err := s.Redrive(ctx, deadID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Redrive(ctx, deadID); !errors.Is(err, ErrNoDeadLetter) {
		t.Fatalf("second re-drive: %v", err)
	}
	if st, _ := s.Stats(ctx); st.Dead != 0 || st.Length != 1 {
		t.Fatalf("stats = %+v", st)
	}
	again, _, _ := s.Read(ctx, "c1", 1, 100*time.Millisecond)
	if len(again) != 1 || again[0].ID != newID || again[0].EventID != "E1" || again[0].IncidentID != "Q1" ||
		string(again[0].Body) != string(d.Body) || time.Since(again[0].ReceivedAt) > time.Minute {
		t.Fatalf("re-driven entry = %+v", again)
	}
}

func TestCompareIDs(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"1-0", "1-0", 0}, {"9-0", "10-0", -1}, {"10-2", "10-10", -1}, {"11-0", "10-99", 1}} {
		if got := CompareIDs(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareIDs(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
