package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/store"
)

// A failure whose retry is far off parks the entry in Redis: no worker slot
// waits for it meanwhile, and it comes back (to any worker) once due.
func TestWorkerParksALongBackoff(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	cfg := fast("c1")
	cfg.Concurrency = 1 // one slot: parked, Q1 leaves it free for Q2
	// The first retry is 0.7-1.4s away: over the 600ms visibility timeout.
	cfg.BackoffBase, cfg.BackoffMax = 1400*time.Millisecond, 1400*time.Millisecond
	var q1, q2 atomic.Int32
	var parkedSeen atomic.Bool
	e.start(cfg, ProcessorFunc(func(ctx context.Context, j Job) error {
		if j.Delivery.IncidentID == "Q2" {
			q2.Add(1)
			return nil
		}
		if q1.Add(1) == 1 {
			return errors.New("jira: HTTP 503 (injected)")
		}
		return nil
	}))
	eventually(t, "Q1 parked for its retry", func() bool {
		st := e.stats()
		if st.Retrying == 1 && st.Pending == 1 {
			parkedSeen.Store(true)
		}
		return parkedSeen.Load()
	})
	e.enqueue(resolved("E2", "Q2"))
	eventually(t, "Q2 processed while Q1 waits", func() bool { return q2.Load() == 1 })
	if q1.Load() != 1 {
		t.Fatalf("Q1 retried before its time: %d attempts", q1.Load())
	}
	eventually(t, "Q1 retried once due and done", func() bool {
		return e.stats() == store.QueueStats{} && len(e.record("Q1").Attempts) == 2
	})
	if got := strings.Join(outcomes(e.record("Q1")), ","); got != "retry,done" {
		t.Fatalf("Q1 attempts = %s", got)
	}
}

// An attempt whose process never ends (killed each time) is counted: after
// MaxUnfinished such attempts the entry is dead-lettered rather than retried
// for ever.
func TestWorkerGivesUpOnAttemptsThatNeverFinish(t *testing.T) {
	e := newEnv(t)
	ids := e.enqueue(resolved("E1", "Q1"))
	ctx := context.Background()
	for range 3 {
		if _, err := e.store.StartAttempt(ctx, ids[0]); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fast("c1")
	cfg.MaxUnfinished = 3
	var calls atomic.Int32
	e.start(cfg, ProcessorFunc(func(context.Context, Job) error { calls.Add(1); return nil }))
	eventually(t, "dead-lettered", func() bool { return e.stats() == store.QueueStats{Dead: 1} })
	dl, _ := e.store.DeadLetters(ctx, 1)
	if calls.Load() != 0 || len(dl) != 1 || dl[0].Reason != "gave up after 3 attempts that never finished" {
		t.Fatalf("calls %d, dead letters %+v", calls.Load(), dl)
	}
}

// lagged is a lookup that cannot be trusted before until, as the workflow's
// search-lag error: a RetryAtHint whose time is exact.
type lagged struct{ until time.Time }

func (e *lagged) Error() string      { return "the search may not show it yet" }
func (e *lagged) RetryAt() time.Time { return e.until }
func (e *lagged) RetryAtExact() bool { return true }

// progress is a failed attempt that did some writes first.
type progress struct{ error }

func (e progress) Unwrap() error    { return e.error }
func (e progress) Progressed() bool { return true }

// retryDelays runs one entry through a worker whose processor fails the
// first n attempts with fail, and returns the delays its retries waited.
func retryDelays(t *testing.T, n int, fail func() error) []time.Duration {
	t.Helper()
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	var calls atomic.Int32
	cfg := fast("c1")
	cfg.BackoffMax = time.Second
	e.start(cfg, ProcessorFunc(func(context.Context, Job) error {
		if int(calls.Add(1)) <= n {
			return fail()
		}
		return nil
	}))
	eventually(t, "queue drained", func() bool { return e.stats() == store.QueueStats{} && len(e.record("Q1").Attempts) == n+1 })
	var delays []time.Duration
	for _, a := range e.record("Q1").Attempts {
		if a.Outcome == store.OutcomeRetry {
			d, err := time.ParseDuration(a.RetryAfter)
			if err != nil {
				t.Fatalf("attempt %+v: %v", a, err)
			}
			delays = append(delays, d)
		}
	}
	if len(delays) != n {
		t.Fatalf("%d retries recorded, want %d", len(delays), n)
	}
	return delays
}

// An error whose retry time is exact (Jira's search catching up) is retried
// then, no sooner than BackoffBase, however far the backoff has grown.
func TestWorkerRetriesAtAnExactTime(t *testing.T) {
	delays := retryDelays(t, 6, func() error { return fmt.Errorf("epic of Q1: %w", &lagged{until: time.Now()}) })
	for i, d := range delays {
		if d != fast("").BackoffBase {
			t.Fatalf("retry %d waited %v (all: %v), want BackoffBase: the time was exact", i+1, d, delays)
		}
	}
}

// An attempt that made progress before it failed starts the backoff again
// from its base; one that did not makes it grow.
func TestWorkerProgressRestartsTheBackoff(t *testing.T) {
	base := fast("").BackoffBase
	for i, d := range retryDelays(t, 6, func() error { return progress{errors.New("jira answered 500 after the epic")} }) {
		if d > base {
			t.Fatalf("retry %d after progress waited %v, want at most BackoffBase %v", i+1, d, base)
		}
	}
	stalled := retryDelays(t, 6, func() error { return errors.New("jira answered 500") })
	if last := stalled[len(stalled)-1]; last < 8*base {
		t.Fatalf("retries without progress waited %v: the backoff did not grow", stalled)
	}
}
