package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
)

func newDeadlineStore(t *testing.T, at time.Time) (*Store, *testutil.Clock) {
	t.Helper()
	s, _ := newStore(t)
	c := testutil.NewClock(at)
	s.now = c.Now
	if err := s.EnsureGroup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func trackedPM(id string, resolved time.Time) Postmortem {
	meeting := resolved.AddDate(0, 0, 3)
	return Postmortem{Incident: id, Number: 42, Title: "Checkout down", Group: []string{id}, Severity: "SEV-1", Key: "PM-1",
		ResolvedAt: resolved, MeetingDue: meeting, ReviewDue: meeting.Add(-24 * time.Hour)}
}

// claimAll runs one scheduler tick: every due reminder is claimed.
func claimAll(t *testing.T, s *Store) []ReminderJob {
	t.Helper()
	ctx := context.Background()
	ids, err := s.NextDue(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []ReminderJob
	for _, id := range ids {
		entry, queued, err := s.ClaimDue(ctx, id, 24*time.Hour, 2)
		if err != nil {
			t.Fatal(err)
		}
		if queued {
			jobs = append(jobs, readJob(t, s, entry))
		}
	}
	return jobs
}

func readJob(t *testing.T, s *Store, entryID string) ReminderJob {
	t.Helper()
	msgs, err := s.rdb.XRange(context.Background(), s.streamKey(), entryID, entryID).Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("entry %s: %v %v", entryID, msgs, err)
	}
	e, err := parseEntry(msgs[0])
	if err != nil || e.EventType != EventReminder {
		t.Fatalf("entry %+v: %v", e, err)
	}
	var j ReminderJob
	if err := json.Unmarshal(e.Body, &j); err != nil {
		t.Fatal(err)
	}
	if e.EventID != fmt.Sprintf("reminder-%s-%s-%d", e.IncidentID, j.Kind, j.N) {
		t.Fatalf("event ID %s for %+v", e.EventID, j)
	}
	return j
}

// The reminders of one post-mortem over its life: the review, then the
// overdue ones every day up to the cap, each once; registering again
// changes nothing.
func TestDeadlineReminderSchedule(t *testing.T) {
	resolved := time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC) // a Friday evening
	s, c := newDeadlineStore(t, resolved.Add(time.Minute))
	ctx := context.Background()
	pm := trackedPM("Q1", resolved)
	for i, want := range []bool{true, false} {
		if ok, err := s.Register(ctx, pm, 2); err != nil || ok != want {
			t.Fatalf("register %d: %v %v", i, ok, err)
		}
	}
	d, found, err := s.Deadline(ctx, "Q1")
	if err != nil || !found || d.Status != StatusDraft || d.NextReminder != ReminderReview || !d.NextAt.Equal(pm.ReviewDue) || len(d.History) != 1 {
		t.Fatalf("deadline = %+v %v %v", d, found, err)
	}
	type step struct {
		at   time.Time
		want string
	}
	for _, st := range []step{
		{pm.ReviewDue.Add(-time.Second), ""},
		{pm.ReviewDue, "review-1"},
		{pm.ReviewDue.Add(time.Hour), ""},
		{pm.MeetingDue, "overdue-1"},
		{pm.MeetingDue.Add(23 * time.Hour), ""},
		{pm.MeetingDue.Add(24 * time.Hour), "overdue-2"},
		{pm.MeetingDue.Add(48 * time.Hour), ""}, // capped at 2
		{pm.MeetingDue.Add(30 * 24 * time.Hour), ""},
	} {
		c.Set(st.at)
		var got string
		for _, j := range claimAll(t, s) {
			got += fmt.Sprintf("%s-%d", j.Kind, j.N)
		}
		if got != st.want {
			t.Fatalf("at %s: claimed %q, want %q", st.at, got, st.want)
		}
	}
	if d, _, _ := s.Deadline(ctx, "Q1"); d.NextReminder != "" {
		t.Fatalf("after the cap: %+v", d)
	}
}

// An incident resolved long ago (a replay): one overdue reminder now, then
// the next a repeat later, not a backlog.
func TestDeadlineOldIncidentGetsOneOverdue(t *testing.T) {
	resolved := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	now := resolved.AddDate(0, 1, 0)
	s, c := newDeadlineStore(t, now)
	if _, err := s.Register(context.Background(), trackedPM("QOLD", resolved), 5); err != nil {
		t.Fatal(err)
	}
	if jobs := claimAll(t, s); len(jobs) != 1 || jobs[0].Kind != ReminderOverdue || jobs[0].N != 1 {
		t.Fatalf("jobs = %+v, want one overdue reminder", jobs)
	}
	c.Add(time.Hour)
	if jobs := claimAll(t, s); len(jobs) != 0 {
		t.Fatalf("a backlog: %+v", jobs)
	}
	c.Add(23 * time.Hour)
	if jobs := claimAll(t, s); len(jobs) != 1 || jobs[0].N != 2 {
		t.Fatalf("a day later: %+v", jobs)
	}
}

// Reviewed stops the reminders; Closed ends the tracking. Transitions are
// recorded with their time and source.
func TestDeadlineStatusStopsReminders(t *testing.T) {
	resolved := time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)
	s, c := newDeadlineStore(t, resolved)
	ctx := context.Background()
	if _, err := s.Register(ctx, trackedPM("Q1", resolved), 5); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status  string
		changed bool
		prev    string
	}{
		{StatusInReview, true, StatusDraft},
		{StatusInReview, false, ""},
		{StatusReviewed, true, StatusInReview},
	} {
		prev, changed, err := s.SetStatus(ctx, "Q1", tc.status, "sync")
		if err != nil || changed != tc.changed || prev != tc.prev {
			t.Fatalf("set %s: %q %v %v", tc.status, prev, changed, err)
		}
	}
	c.Add(30 * 24 * time.Hour)
	if jobs := claimAll(t, s); len(jobs) != 0 {
		t.Fatalf("reminders after Reviewed: %+v", jobs)
	}
	if open, _ := s.Open(ctx); len(open) != 1 {
		t.Fatalf("open = %v", open)
	}
	if _, changed, _ := s.SetStatus(ctx, "Q1", StatusClosed, "webhook"); !changed {
		t.Fatal("closed: not changed")
	}
	d, _, _ := s.Deadline(ctx, "Q1")
	if open, _ := s.Open(ctx); len(open) != 0 || d.Status != StatusClosed || len(d.History) != 4 || d.History[3].Source != "webhook" {
		t.Fatalf("open %v, deadline %+v", open, d)
	}
	if _, changed, _ := s.SetStatus(ctx, "QNONE", StatusClosed, "webhook"); changed {
		t.Fatal("an untracked post-mortem changed")
	}
}

// Three schedulers ticking at once over 50 due post-mortems queue each
// reminder once.
func TestDeadlineSchedulersClaimOnce(t *testing.T) {
	resolved := time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)
	s, c := newDeadlineStore(t, resolved)
	ctx := context.Background()
	for i := range 50 {
		if _, err := s.Register(ctx, trackedPM(fmt.Sprintf("Q%d", i), resolved), 5); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(4 * 24 * time.Hour) // review and meeting both due
	var wg sync.WaitGroup
	var mu sync.Mutex
	queued := map[string]int{}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				ids, _ := s.NextDue(ctx, 100)
				for _, id := range ids {
					if _, ok, err := s.ClaimDue(ctx, id, 24*time.Hour, 5); err == nil && ok {
						mu.Lock()
						queued[id]++
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	// Each post-mortem: its review, then its first overdue (already due).
	n, _ := s.rdb.XLen(ctx, s.streamKey()).Result()
	if n != 100 || len(queued) != 50 {
		t.Fatalf("%d jobs queued for %d post-mortems, want 100 for 50", n, len(queued))
	}
	for id, k := range queued {
		if k != 2 {
			t.Fatalf("%s: %d reminders queued, want 2", id, k)
		}
	}
}

// One scheduler tick with 10,000 tracked post-mortems and none due, against
// a bare ZRANGEBYSCORE of the same set in the same run.
func BenchmarkSchedulerTickIdle(b *testing.B) {
	r := redistest.New(b)
	s := New(r.Client, r.Prefix)
	ctx := context.Background()
	resolved := time.Now()
	for i := range 10000 {
		if _, err := s.Register(ctx, trackedPM(fmt.Sprintf("Q%05d", i), resolved), 5); err != nil {
			b.Fatal(err)
		}
	}
	stop := fmt.Sprint(time.Now().UnixMilli())
	var tick, bare time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if ids, err := s.NextDue(ctx, 100); err != nil || len(ids) != 0 {
			b.Fatal(ids, err)
		}
		t1 := time.Now()
		if err := r.Client.ZRangeByScore(ctx, s.deadlinesKey(), &redis.ZRangeBy{Min: "-inf", Max: stop}).Err(); err != nil {
			b.Fatal(err)
		}
		tick, bare = tick+t1.Sub(t0), bare+time.Since(t1)
	}
	b.ReportMetric(float64(tick)/float64(b.N), "tick-ns/op")
	b.ReportMetric(float64(bare)/float64(b.N), "bare-ns/op")
	b.ReportMetric(float64(tick)/float64(bare), "tick/bare")
}
