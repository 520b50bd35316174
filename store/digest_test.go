package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

func digestDelivery(id string, end time.Time) Delivery {
	return Delivery{EventID: id, EventType: EventDigest, IncidentID: id, OccurredAt: end, ReceivedAt: end,
		Body: []byte(`{"end":"` + end.Format(time.RFC3339) + `"}`)}
}

// A digest is queued once per target and period end, whatever the number
// of callers at once; the period that ended before the target was first
// seen is not queued; an older period than the last queued is never
// queued; each target has its own marks.
func TestQueueDigestOncePerTargetAndPeriod(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 9, 15, 0, 0, 0, time.UTC)
	s.WithClock(func() time.Time { return now })
	lastWeek := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)

	// First seen: the period that ended before is not sent (no backlog).
	out, _, err := s.QueueDigest(ctx, "all", lastWeek, digestDelivery("d-all-1", lastWeek))
	if err != nil || out != DigestBeforeConfigured {
		t.Fatalf("first call: %q %v, want %q", out, err, DigestBeforeConfigured)
	}
	marks, err := s.DigestMarks(ctx, "all")
	if err != nil || !marks.Since.Equal(now) || !marks.Last.IsZero() {
		t.Fatalf("marks %+v %v", marks, err)
	}

	// The next period's end: eight callers at once queue it once.
	next := lastWeek.AddDate(0, 0, 7)
	now = next.Add(time.Second)
	var wg sync.WaitGroup
	outcomes := make([]string, 8)
	for i := range outcomes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, _, err := s.QueueDigest(ctx, "all", next, digestDelivery("d-all-2", next))
			if err != nil {
				t.Error(err)
			}
			outcomes[i] = o
		}()
	}
	wg.Wait()
	queued := 0
	for _, o := range outcomes {
		if o == DigestQueued {
			queued++
		} else if o != DigestAlreadyQueued {
			t.Errorf("outcome %q", o)
		}
	}
	if queued != 1 {
		t.Fatalf("%d of 8 callers queued the period, want 1: %v", queued, outcomes)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Length != 1 {
		t.Fatalf("stream length %d %v, want 1", st.Length, err)
	}

	// Weeks later (past the queue's dedupe TTL) the same period, or an
	// older one, is not queued again.
	now = next.Add(3 * DedupeTTL)
	if o, _, err := s.QueueDigest(ctx, "all", next, digestDelivery("d-all-x", next)); err != nil || o != DigestAlreadyQueued {
		t.Fatalf("the period again: %q %v", o, err)
	}
	if o, _, err := s.QueueDigest(ctx, "all", lastWeek, digestDelivery("d-all-y", lastWeek)); err != nil || o == DigestQueued {
		t.Fatalf("an older period: %q %v", o, err)
	}

	// Another target has its own marks: a team added now starts with the
	// next period too.
	if o, _, err := s.QueueDigest(ctx, "PTEAM1", next, digestDelivery("d-t-2", next)); err != nil || o != DigestBeforeConfigured {
		t.Fatalf("a new team's first call: %q %v", o, err)
	}
	later := next.AddDate(0, 0, 28)
	now = later
	if o, entry, err := s.QueueDigest(ctx, "PTEAM1", later, digestDelivery("d-t-3", later)); err != nil || o != DigestQueued || entry == "" {
		t.Fatalf("the team's next period: %q %q %v", o, entry, err)
	}
	if st, _ := s.Stats(ctx); st.Length != 2 {
		t.Fatalf("stream length %d, want 2", st.Length)
	}
}
