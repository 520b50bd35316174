package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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

// claimKinds runs one scheduler tick with max overdue reminders and
// returns what it queued, as "kind-n" joined by commas.
func claimKinds(t *testing.T, s *Store, maxOverdue int) string {
	t.Helper()
	ctx := context.Background()
	ids, err := s.NextDue(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range ids {
		entry, queued, err := s.ClaimDue(ctx, id, 24*time.Hour, maxOverdue)
		if err != nil {
			t.Fatal(err)
		}
		if queued {
			j := readJob(t, s, entry)
			got = append(got, fmt.Sprintf("%s-%d", j.Kind, j.N))
		}
	}
	return strings.Join(got, ",")
}

// apply applies a webhook's change reported at at, with the delivery
// identifier id, and returns the outcome.
func apply(t *testing.T, s *Store, id, status string, at time.Time) string {
	t.Helper()
	res, err := s.ApplyStatus(context.Background(), "Q1", StatusChange{Status: status, Source: "webhook", At: at, Delivery: id})
	if err != nil {
		t.Fatal(err)
	}
	return res.Outcome
}

// Every status change is reversible: a post-mortem moved back from
// Reviewed or Closed gets its reminders and its place in the open set
// back, and the reminders go on from where they stopped: none sent twice
// (a review whose meeting passed meanwhile becomes the first overdue
// reminder), and the cap still holds.
func TestDeadlineStatusMovesBack(t *testing.T) {
	resolved := time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)
	s, c := newDeadlineStore(t, resolved)
	ctx := context.Background()
	pm := trackedPM("Q1", resolved)
	if _, err := s.Register(ctx, pm, 2); err != nil {
		t.Fatal(err)
	}
	state := func() (string, string, []string) {
		d, _, _ := s.Deadline(ctx, "Q1")
		open, _ := s.Open(ctx)
		next := ""
		if d.NextReminder != "" {
			next = fmt.Sprintf("%s-%d", d.NextReminder, d.NextN)
		}
		return d.Status, next, open
	}
	type step struct {
		at     time.Time
		status string // applied first, by webhook ("" none)
		claim  string // then what one tick queues
		next   string // then the next reminder
		open   bool
	}
	for i, st := range []step{
		{pm.ReviewDue.Add(-time.Hour), StatusReviewed, "", "", true},
		// Back to Draft before the review is due: the review comes.
		{pm.ReviewDue, StatusDraft, "review-1", "overdue-1", true},
		{pm.ReviewDue.Add(time.Hour), StatusClosed, "", "", false},
		{pm.MeetingDue.Add(time.Hour), "", "", "", false},
		// Reopened after the meeting: the first overdue, at once.
		{pm.MeetingDue.Add(2 * time.Hour), StatusInReview, "overdue-1", "overdue-2", true},
		{pm.MeetingDue.Add(3 * time.Hour), StatusReviewed, "", "", true},
		{pm.MeetingDue.Add(30 * 24 * time.Hour), StatusClosed, "", "", false},
		{pm.MeetingDue.Add(31 * 24 * time.Hour), StatusDraft, "overdue-2", "", true},
		// The cap (2) reached: moving back and forth brings no more.
		{pm.MeetingDue.Add(32 * 24 * time.Hour), StatusReviewed, "", "", true},
		{pm.MeetingDue.Add(33 * 24 * time.Hour), StatusInReview, "", "", true},
		{pm.MeetingDue.Add(40 * 24 * time.Hour), "", "", "", true},
	} {
		c.Set(st.at)
		if st.status != "" {
			if got := apply(t, s, fmt.Sprint("d", i), st.status, st.at); got != ChangeUpdated {
				t.Fatalf("step %d: %s: %s", i, st.status, got)
			}
		}
		if got := claimKinds(t, s, 2); got != st.claim {
			t.Fatalf("step %d at %s: claimed %q, want %q", i, st.at, got, st.claim)
		}
		status, next, open := state()
		if next != st.next || (len(open) == 1) != st.open {
			t.Fatalf("step %d: %s, next %q, open %v; want next %q, open %v", i, status, next, open, st.next, st.open)
		}
	}
}

// A post-mortem that a release without held places put to Reviewed (its
// next reminder cleared) gets its reminders back when it moves back.
func TestDeadlineReopenOfARecordReviewedBeforeTheUpgrade(t *testing.T) {
	resolved := time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)
	s, c := newDeadlineStore(t, resolved)
	ctx := context.Background()
	pm := trackedPM("Q1", resolved)
	if _, err := s.Register(ctx, pm, 5); err != nil {
		t.Fatal(err)
	}
	c.Set(pm.ReviewDue)
	if got := claimKinds(t, s, 5); got != "review-1" {
		t.Fatalf("claimed %q", got)
	}
	// What the old status script left at Reviewed.
	if err := s.rdb.HSet(ctx, s.pmKey("Q1", ""), "status", StatusReviewed, "next", "").Err(); err != nil {
		t.Fatal(err)
	}
	s.rdb.HDel(ctx, s.pmKey("Q1", ""), "status_at")
	s.rdb.ZRem(ctx, s.deadlinesKey(), "Q1")
	c.Set(pm.MeetingDue.Add(time.Hour))
	if got := apply(t, s, "", StatusInReview, c.Now()); got != ChangeUpdated {
		t.Fatalf("reopen: %s", got)
	}
	if got := claimKinds(t, s, 5); got != "overdue-1" {
		t.Fatalf("after the reopen: claimed %q, want overdue-1", got)
	}
}

// Which change wins: a delivery is applied once; a webhook's change older
// than the status applied last (the registration, a webhook, a sync) is
// stale; the status sync applies what it read over anything older than
// its read, and over a time in the future, but not over a webhook's change
// Jira reported after the read.
func TestDeadlineStatusOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)
	s, c := newDeadlineStore(t, t0)
	ctx := context.Background()
	if _, err := s.Register(ctx, trackedPM("Q1", t0), 5); err != nil {
		t.Fatal(err)
	}
	sync := func(status string, read time.Time) string {
		t.Helper()
		res, err := s.ApplyStatus(ctx, "Q1", StatusChange{Status: status, Source: "sync", At: read})
		if err != nil {
			t.Fatal(err)
		}
		return res.Outcome
	}
	c.Set(t0.Add(time.Hour))
	for i, st := range []struct {
		what, got, want string
	}{
		{"older than the registration", apply(t, s, "a", StatusReviewed, t0.Add(-time.Second)), ChangeStale},
		{"a change", apply(t, s, "b", StatusInReview, t0.Add(time.Minute)), ChangeUpdated},
		{"its retry", apply(t, s, "b", StatusInReview, t0.Add(time.Minute)), ChangeDuplicate},
		{"an older change, late", apply(t, s, "c", StatusDraft, t0.Add(time.Minute-time.Millisecond)), ChangeStale},
		{"the same moment", apply(t, s, "d", StatusReviewed, t0.Add(time.Minute)), ChangeUpdated},
		{"same status, later", apply(t, s, "e", StatusReviewed, t0.Add(2*time.Minute)), ChangeUnchanged},
		{"a delivery seen before, whatever it says", apply(t, s, "b", StatusClosed, t0.Add(time.Hour)), ChangeDuplicate},
		// Jira says In Review: the sync repairs.
		{"the sync", sync(StatusInReview, t0.Add(time.Hour)), ChangeUpdated},
		{"a change older than the sync's read", apply(t, s, "f", StatusReviewed, t0.Add(time.Hour-time.Second)), ChangeStale},
	} {
		if st.got != st.want {
			t.Fatalf("%d %s: %s, want %s", i, st.what, st.got, st.want)
		}
	}
	// A sync that read before a webhook's newer change was applied leaves
	// it for the next sync.
	c.Set(t0.Add(2 * time.Hour))
	if got := apply(t, s, "g", StatusReviewed, t0.Add(2*time.Hour-time.Second)); got != ChangeUpdated {
		t.Fatalf("webhook: %s", got)
	}
	if got := sync(StatusInReview, t0.Add(2*time.Hour-2*time.Second)); got != ChangeStale {
		t.Fatalf("a sync that read before the webhook's change: %s, want stale", got)
	}
	// A change from the future (a Jira clock far ahead) holds off later
	// webhooks, not the sync.
	if got := apply(t, s, "h", StatusClosed, t0.Add(48*time.Hour)); got != ChangeUpdated {
		t.Fatalf("from the future: %s", got)
	}
	if got := sync(StatusInReview, t0.Add(2*time.Hour)); got != ChangeUpdated {
		t.Fatalf("the sync after a change from the future: %s, want updated", got)
	}
	d, _, _ := s.Deadline(ctx, "Q1")
	open, _ := s.Open(ctx)
	if d.Status != StatusInReview || len(open) != 1 {
		t.Fatalf("status %s, open %v", d.Status, open)
	}
	var path []string
	for _, h := range d.History {
		path = append(path, h.Status+"/"+h.Source)
	}
	if got := strings.Join(path, ","); got != "Draft/created,In Review/webhook,Reviewed/webhook,In Review/sync,Reviewed/webhook,Closed/webhook,In Review/sync" {
		t.Fatalf("history %s", got)
	}
	if res, err := s.ApplyStatus(ctx, "QNONE", StatusChange{Status: StatusClosed, Source: "webhook", At: c.Now(), Delivery: "z"}); err != nil || res.Outcome != ChangeIgnored {
		t.Fatalf("an untracked post-mortem: %+v %v", res, err)
	}
}
