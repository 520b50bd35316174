package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// wantFollowupGauges compares aftermath_followups, as s's collector exports
// it, with open, overdue and done.
func wantFollowupGauges(t *testing.T, s *Store, open, overdue, done int) {
	t.Helper()
	want := fmt.Sprintf(`# HELP aftermath_followups Follow-up tickets as the status sync last saw them, read from Redis when scraped: open (not done, not deleted), overdue (open and past the end of their due date), done.
# TYPE aftermath_followups gauge
aftermath_followups{state="done"} %d
aftermath_followups{state="open"} %d
aftermath_followups{state="overdue"} %d
`, done, open, overdue)
	if err := promtest.CollectAndCompare(NewCollector(s), strings.NewReader(want), "aftermath_followups"); err != nil {
		t.Fatal(err)
	}
}

// followupJobs are the follow-up reminder jobs in the queue, as
// "event_id body".
func followupJobs(t *testing.T, s *Store) []string {
	t.Helper()
	entries, _, err := s.Read(context.Background(), "test", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.EventType == EventFollowupReminder {
			var j FollowupReminderJob
			if err := json.Unmarshal(e.Body, &j); err != nil || e.IncidentID != "P1" {
				t.Fatalf("job %s of %s: %s %v", e.EventID, e.IncidentID, e.Body, err)
			}
			out = append(out, e.EventID)
		}
	}
	return out
}

// The schedule of one overdue follow-up, end to end in Redis: nothing
// before the end of its due date, then one job per claim whatever the
// number of keepers, every remind_every, capped at max_reminders; a due
// date moved later starts again from the new date; a ticket the index
// shows done at claim time leaves the schedule; the gauges follow.
func TestFollowupReminderSchedule(t *testing.T) {
	ctx := context.Background()
	due := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	overdueAt := due.Add(24 * time.Hour)
	s, clock := newDeadlineStore(t, due.Add(-48*time.Hour))
	other := New(s.rdb, s.prefix).WithClock(clock.Now) // a second keeper on the same Redis
	week := 7 * 24 * time.Hour
	index := func(fus ...Followup) {
		t.Helper()
		if err := s.SaveFollowups(ctx, "P1", fus); err != nil {
			t.Fatal(err)
		}
	}
	plan := func(ps ...FollowupPlan) {
		t.Helper()
		if err := s.RecordFollowups(ctx, "P1", nil, ps, 3); err != nil {
			t.Fatal(err)
		}
	}
	tick := func() (queued int) {
		t.Helper()
		for _, st := range []*Store{s, other} {
			ms, err := st.NextFollowupReminders(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				out, _, err := st.ClaimFollowupReminder(ctx, m, week, 3)
				if err != nil {
					t.Fatal(err)
				}
				if out == ReminderQueued {
					queued++
				}
			}
		}
		return queued
	}
	index(Followup{Key: "FU-1", Epic: "PM-1", Due: due}, Followup{Key: "FU-2", Epic: "PM-1", Done: true},
		Followup{Key: "FU-3", Epic: "PM-1"}, Followup{Key: "FU-4", Epic: "PM-1", Due: due, Deleted: true})
	plan(FollowupPlan{Key: "FU-1", State: FollowupOpen, Due: due, OverdueAt: overdueAt},
		FollowupPlan{Key: "FU-2", State: FollowupDone, Due: due, OverdueAt: overdueAt},
		FollowupPlan{Key: "FU-3", State: FollowupOpen},
		FollowupPlan{Key: "FU-4", State: FollowupDeleted, Due: due, OverdueAt: overdueAt})
	wantFollowupGauges(t, other, 2, 0, 1)
	if n := tick(); n != 0 {
		t.Fatalf("%d reminders before the due date ended", n)
	}
	clock.Set(overdueAt)
	wantFollowupGauges(t, other, 2, 1, 1)
	if n := tick(); n != 1 {
		t.Fatalf("%d reminders at the end of the due date, want 1 (from 2 keepers)", n)
	}
	if at, ok, err := s.FollowupReminderAt(ctx, "P1", "FU-1"); err != nil || !ok || !at.Equal(overdueAt.Add(week)) {
		t.Fatalf("next reminder at %v %v %v, want a week later", at, ok, err)
	}
	// A sync that reads the same due date changes nothing.
	plan(FollowupPlan{Key: "FU-1", State: FollowupOpen, Due: due, OverdueAt: overdueAt})
	clock.Add(week - time.Minute)
	if n := tick(); n != 0 {
		t.Fatalf("%d reminders within the week", n)
	}
	for range 4 {
		clock.Add(week)
		tick()
	}
	got := followupJobs(t, s)
	want := []string{"followup-reminder-FU-1-2026-12-20-1", "followup-reminder-FU-1-2026-12-20-2", "followup-reminder-FU-1-2026-12-20-3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("jobs = %v, want %v (max_reminders 3)", got, want)
	}
	if _, ok, _ := s.FollowupReminderAt(ctx, "P1", "FU-1"); ok {
		t.Fatal("still scheduled after the last reminder")
	}
	// A person moves the due date later: the count starts again, from the
	// end of the new date, and not before.
	later := clock.Now().Add(10 * 24 * time.Hour).Truncate(24 * time.Hour)
	index(Followup{Key: "FU-1", Epic: "PM-1", Due: later})
	plan(FollowupPlan{Key: "FU-1", State: FollowupOpen, Due: later, OverdueAt: later.Add(24 * time.Hour)})
	wantFollowupGauges(t, other, 2, 0, 1)
	if n := tick(); n != 0 {
		t.Fatalf("%d reminders before the new date", n)
	}
	clock.Set(later.Add(24 * time.Hour))
	if n := tick(); n != 1 {
		t.Fatalf("%d reminders after the new date, want 1", n)
	}
	if got := followupJobs(t, s); got[len(got)-1] != "followup-reminder-FU-1-"+later.Format(time.DateOnly)+"-1" {
		t.Fatalf("jobs = %v", got)
	}
	// Done in the index at claim time (the sync saw it before planning):
	// no job, and it leaves the schedule.
	index(Followup{Key: "FU-1", Epic: "PM-1", Due: later, Done: true})
	clock.Add(week)
	if out, _, err := s.ClaimFollowupReminder(ctx, "P1|FU-1", week, 3); err != nil || out != ReminderDone {
		t.Fatalf("claim of a done follow-up: %s %v", out, err)
	}
	if _, ok, _ := s.FollowupReminderAt(ctx, "P1", "FU-1"); ok {
		t.Fatal("a done follow-up is still scheduled")
	}
	plan(FollowupPlan{Key: "FU-1", State: FollowupDone, Due: later, OverdueAt: later.Add(24 * time.Hour)})
	wantFollowupGauges(t, other, 1, 0, 2)
	// Reminders sent are counted once each.
	for _, j := range []FollowupReminderJob{{Key: "FU-1", Due: "2026-12-20", N: 1}, {Key: "FU-1", Due: "2026-12-20", N: 1}, {Key: "FU-1", Due: "2026-12-20", N: 2}} {
		if err := s.NoteFollowupReminder(ctx, "P1", j); err != nil {
			t.Fatal(err)
		}
	}
	fus, err := s.Followups(ctx, "P1")
	if err != nil || len(fus) != 4 || fus[0].Reminders != 2 || fus[1].Reminders != 0 {
		t.Fatalf("follow-ups = %+v %v; want FU-1 with 2 reminders", fus, err)
	}
	// A malformed member is dropped, not read every tick.
	if out, _, err := s.ClaimFollowupReminder(ctx, "garbage", week, 3); err != nil || out != ReminderUnknown {
		t.Fatalf("malformed member: %s %v", out, err)
	}
}

// A person-added ticket's due date is decided once: the first claim wins,
// and a released claim (a failed write) can be taken again.
func TestClaimFollowupDueOnce(t *testing.T) {
	s, _ := newStore(t)
	other := New(s.rdb, s.prefix)
	ctx := context.Background()
	if ok, err := s.ClaimFollowupDue(ctx, "PM-9", "set"); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := other.ClaimFollowupDue(ctx, "PM-9", "set"); err != nil || ok {
		t.Fatalf("second claim: %v %v", ok, err)
	}
	if err := s.ReleaseFollowupDue(ctx, "PM-9"); err != nil {
		t.Fatal(err)
	}
	if ok, err := other.ClaimFollowupDue(ctx, "PM-9", "set"); err != nil || !ok {
		t.Fatalf("claim after release: %v %v", ok, err)
	}
}

// A claim to set a due date is a lease until settled: a sync that dies
// between the claim and the write holds the ticket for minutes, not for
// good. "had" and "none" are final at once.
func TestFollowupDueClaimIsALeaseUntilSettled(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	ttl := func(key string) time.Duration {
		t.Helper()
		d, err := s.rdb.PTTL(ctx, s.fuDueKey(key)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if ok, err := s.ClaimFollowupDue(ctx, "PM-9", "set"); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if d := ttl("PM-9"); d <= 0 || d > followupDueLease {
		t.Fatalf("a claim to set holds %v, want at most the lease %v", d, followupDueLease)
	}
	if err := s.SettleFollowupDue(ctx, "PM-9"); err != nil {
		t.Fatal(err)
	}
	if d := ttl("PM-9"); d < followupDueTTL-time.Hour {
		t.Fatalf("a settled claim holds %v, want %v", d, followupDueTTL)
	}
	for _, how := range []string{"had", "none"} {
		key := "PM-" + how
		if ok, err := s.ClaimFollowupDue(ctx, key, how); err != nil || !ok {
			t.Fatalf("claim %s: %v %v", how, ok, err)
		}
		if d := ttl(key); d < followupDueTTL-time.Hour {
			t.Fatalf("a %q claim holds %v, want %v", how, d, followupDueTTL)
		}
	}
}

// The post-mortems the status sync goes on reading once Closed are those
// with an open follow-up in the open set, which RecordFollowups keeps in
// the same transaction as the index: they never disagree.
func TestWithOpenFollowupsIsTheOpenSet(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	due := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	record := func(incident string, fus ...Followup) {
		t.Helper()
		plans := make([]FollowupPlan, 0, len(fus))
		for _, f := range fus {
			p := FollowupPlan{Key: f.Key, State: FollowupOpen, Due: f.Due, OverdueAt: f.Due.Add(24 * time.Hour)}
			switch {
			case f.Deleted:
				p.State = FollowupDeleted
			case f.Done:
				p.State = FollowupDone
			}
			plans = append(plans, p)
		}
		if err := s.RecordFollowups(ctx, incident, fus, plans, 3); err != nil {
			t.Fatal(err)
		}
	}
	open := func() []string {
		t.Helper()
		ids, err := s.WithOpenFollowups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	record("P1", Followup{Key: "PM-2", Epic: "PM-1", Due: due}, Followup{Key: "PM-3", Epic: "PM-1", Done: true})
	record("P2", Followup{Key: "PM-5", Epic: "PM-4", Done: true})
	record("P3", Followup{Key: "PM-7", Epic: "PM-6", Deleted: true})
	record("P4", Followup{Key: "PM-9", Epic: "PM-8"}, Followup{Key: "PM-10", Epic: "PM-8"})
	if got := open(); !slices.Equal(got, []string{"P1", "P4"}) {
		t.Fatalf("with open follow-ups: %v, want [P1 P4]", got)
	}
	for _, id := range []string{"P1", "P2", "P3", "P4"} {
		fus, err := s.Followups(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		anyOpen := slices.ContainsFunc(fus, Followup.Open)
		if anyOpen != slices.Contains(open(), id) {
			t.Fatalf("%s: the index says open=%v, the open set disagrees", id, anyOpen)
		}
	}
	record("P1", Followup{Key: "PM-2", Epic: "PM-1", Due: due, Done: true})
	record("P4", Followup{Key: "PM-9", Epic: "PM-8", Deleted: true})
	if got := open(); !slices.Equal(got, []string{"P4"}) {
		t.Fatalf("after P1's was done and one of P4's deleted: %v, want [P4]", got)
	}
	if _, ok, _ := s.FollowupReminderAt(ctx, "P1", "PM-2"); ok {
		t.Fatal("a done follow-up is still scheduled")
	}
}
