package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// wantGauges compares the post-mortem gauges that s's collector exports with
// want: Draft, In Review, Reviewed, and overdue.
func wantGauges(t *testing.T, s *Store, draft, inReview, reviewed, overdue int) {
	t.Helper()
	want := fmt.Sprintf(`# HELP aftermath_postmortems Open post-mortems (not Closed) by status, read from Redis when scraped: every replica reports all of them.
# TYPE aftermath_postmortems gauge
aftermath_postmortems{status="Draft"} %d
aftermath_postmortems{status="In Review"} %d
aftermath_postmortems{status="Reviewed"} %d
# HELP aftermath_postmortems_overdue Post-mortems past their meeting deadline and not Reviewed, read from Redis when scraped.
# TYPE aftermath_postmortems_overdue gauge
aftermath_postmortems_overdue %d
`, draft, inReview, reviewed, overdue)
	if err := promtest.CollectAndCompare(NewCollector(s), strings.NewReader(want), "aftermath_postmortems", "aftermath_postmortems_overdue"); err != nil {
		t.Fatal(err)
	}
}

// The post-mortem gauges count a post-mortem from its registration on, on
// every replica (here: a second store on the same keys), and follow every
// status change, forth and back: no status sync is needed for them.
func TestPostmortemGaugesFromRegistrationOnEveryReplica(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s, clock := newDeadlineStore(t, base)
	other := New(s.rdb, s.prefix).WithClock(clock.Now)
	ctx := context.Background()
	wantGauges(t, other, 0, 0, 0, 0)

	late := trackedPM("QG1", base.AddDate(0, 0, -4)) // its meeting was due yesterday
	for _, pm := range []Postmortem{late, trackedPM("QG2", base), trackedPM("QG3", base), late} {
		if _, err := s.Register(ctx, pm, 2); err != nil {
			t.Fatal(err)
		}
	}
	wantGauges(t, other, 3, 0, 0, 1)

	set := func(id, status string) {
		t.Helper()
		clock.Add(time.Minute)
		if _, _, err := s.SetStatus(ctx, id, status, "sync"); err != nil {
			t.Fatal(err)
		}
	}
	set("QG2", StatusInReview)
	set("QG3", StatusReviewed)
	wantGauges(t, other, 1, 1, 1, 1)
	set("QG3", StatusClosed)
	wantGauges(t, other, 1, 1, 0, 1)
	set("QG3", StatusDraft) // reopened
	set("QG1", StatusReviewed)
	wantGauges(t, other, 1, 1, 1, 0)
	// The same status again (a sync, a redelivery) counts it once.
	set("QG1", StatusReviewed)
	wantGauges(t, other, 1, 1, 1, 0)
	// QG2's meeting passes while it is In Review.
	clock.Add(4 * 24 * time.Hour)
	wantGauges(t, other, 1, 1, 1, 2)
}

// Post-mortems registered, or moved, by a release that did not keep the
// status index are filed in it at start (IndexTracked), and by the status
// sync's next read of each (a status it has already).
func TestPostmortemGaugesRepairAnIndexAnEarlierReleaseLeft(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s, clock := newDeadlineStore(t, base)
	ctx := context.Background()
	for _, id := range []string{"QB1", "QB2", "QB3"} {
		pm := trackedPM(id, base)
		pm.Key = "PM-" + id
		if _, err := s.Register(ctx, pm, 2); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(time.Minute)
	if _, _, err := s.SetStatus(ctx, "QB2", StatusInReview, "sync"); err != nil {
		t.Fatal(err)
	}
	// As an earlier release leaves it: no index, then QB3 moved to
	// Reviewed without it, leaving it filed as Draft.
	if err := s.rdb.Del(ctx, s.statusKeys()...).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.ZAdd(ctx, s.statusKeys()[0], redis.Z{Score: float64(base.AddDate(0, 0, 3).UnixMilli()), Member: "QB3"}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.HSet(ctx, s.pmKey("QB3", ""), "status", StatusReviewed).Err(); err != nil {
		t.Fatal(err)
	}
	wantGauges(t, s, 1, 0, 0, 0)
	if n, err := s.IndexTracked(ctx); err != nil || n != 3 {
		t.Fatalf("IndexTracked = %d, %v; want 3 added", n, err)
	}
	wantGauges(t, s, 1, 1, 1, 0)
	if n, err := s.IndexTracked(ctx); err != nil || n != 0 {
		t.Fatalf("IndexTracked again = %d, %v", n, err)
	}
	wantGauges(t, s, 1, 1, 1, 0)

	// The sync reading a status a post-mortem has already files it too.
	if err := s.rdb.Del(ctx, s.statusKeys()...).Err(); err != nil {
		t.Fatal(err)
	}
	for id, status := range map[string]string{"QB1": StatusDraft, "QB2": StatusInReview} {
		clock.Add(time.Minute)
		if res, err := s.ApplyStatus(ctx, id, StatusChange{Status: status, Source: "sync", At: clock.Now()}); err != nil || res.Outcome != ChangeUnchanged {
			t.Fatalf("%s: %+v %v", id, res, err)
		}
	}
	wantGauges(t, s, 1, 1, 0, 0)
}
