package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// fast keeps the tests quick: small timeouts, tiny backoff.
func fast(consumer string) Config {
	return Config{
		Consumer: consumer, Concurrency: 2, VisibilityTimeout: 600 * time.Millisecond,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond,
		JobTimeout: 10 * time.Second, LockTTL: 3 * time.Second, ShutdownTimeout: 2 * time.Second,
		ReadBlock: 100 * time.Millisecond,
	}
}

type env struct {
	t       *testing.T
	r       *redistest.Redis
	store   *store.Store
	q       Store // what workers use; the store unless a test wraps it
	metrics []*Metrics
}

func newEnv(t *testing.T) *env {
	t.Helper()
	r := redistest.New(t)
	st := store.New(r.Client, r.Prefix)
	return &env{t: t, r: r, store: st, q: st}
}

func resolved(eventID, incidentID string) store.Delivery {
	body := fmt.Sprintf(`{"event":{"id":%q,"event_type":"incident.resolved","resource_type":"incident","occurred_at":"2026-11-21T10:00:00Z","agent":null,"client":null,"data":{"id":%q,"type":"incident","title":"x","number":1}}}`, eventID, incidentID)
	return store.Delivery{
		EventID: eventID, WebhookID: "W-" + eventID, EventType: "incident.resolved", IncidentID: incidentID,
		OccurredAt: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), ReceivedAt: time.Now(), Body: []byte(body),
	}
}

func (e *env) enqueue(ds ...store.Delivery) []string {
	e.t.Helper()
	var ids []string
	for _, d := range ds {
		res, err := e.store.Enqueue(context.Background(), d)
		if err != nil || res.Duplicate {
			e.t.Fatalf("enqueue %s: %+v %v", d.EventID, res, err)
		}
		ids = append(ids, res.ID)
	}
	return ids
}

// start runs a worker until the test ends or stop is called; stop waits for Run
// to return.
func (e *env) start(cfg Config, proc Processor) (stop func()) {
	e.t.Helper()
	m := NewMetrics(nil)
	e.metrics = append(e.metrics, m)
	return testutil.Run(e.t, NewWorker(cfg, e.q, proc, slog.New(slog.DiscardHandler), m).Run)
}

func (e *env) stats() store.QueueStats {
	e.t.Helper()
	st, err := e.store.Stats(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, cond)
}

// record reads the incident's record. The worker writes an attempt's record
// after it acknowledged the entry, so a test that saw the queue drain must
// still wait for the attempt it wants to read.
func (e *env) record(incident string) store.IncidentRecord {
	e.t.Helper()
	rec, _, err := e.store.IncidentRecord(context.Background(), incident)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec
}

func outcomes(rec store.IncidentRecord) []string {
	var out []string
	for _, a := range rec.Attempts {
		out = append(out, a.Outcome)
	}
	return out
}

func TestWorkerRecordsAndAcks(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"), resolved("E2", "Q2"))
	e.start(fast("c1"), &recorder{Store: e.store})
	eventually(t, "queue drained", func() bool { return e.stats() == store.QueueStats{} })

	for _, q := range []string{"Q1", "Q2"} {
		rec := e.record(q)
		if len(rec.Events) != 1 || rec.Events[0].EventType != "incident.resolved" || rec.Events[0].ProcessedAt.IsZero() {
			t.Fatalf("%s events = %+v", q, rec.Events)
		}
		if got := outcomes(rec); len(got) != 1 || got[0] != store.OutcomeDone {
			t.Fatalf("%s attempts = %v", q, got)
		}
		if len(rec.Steps) != 1 || rec.Steps[0].Name != "record_event" || rec.Steps[0].Status != store.StepDone {
			t.Fatalf("%s steps = %+v", q, rec.Steps)
		}
	}
}

func TestWorkerRetriesWithBackoffThenSucceeds(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	var calls atomic.Int32
	var times []time.Time
	var mu sync.Mutex
	e.start(fast("c1"), ProcessorFunc(func(ctx context.Context, j Job) error {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if j.Attempt != int(calls.Add(1)) {
			return permanentErr(fmt.Errorf("attempt %d reported as %d", calls.Load(), j.Attempt))
		}
		if j.Attempt < 3 {
			return errors.New("jira answered 503")
		}
		return nil
	}))
	eventually(t, "queue drained", func() bool { return e.stats() == store.QueueStats{} && len(e.record("Q1").Attempts) == 3 })
	mu.Lock()
	defer mu.Unlock()
	if got := outcomes(e.record("Q1")); strings.Join(got, ",") != "retry,retry,done" {
		t.Fatalf("attempts = %v, want retry,retry,done", got)
	}
	rec := e.record("Q1")
	if rec.Attempts[0].Error != "jira answered 503" || rec.Attempts[0].RetryAfter == "" {
		t.Fatalf("a retried attempt should say why and when: %+v", rec.Attempts[0])
	}
	// Backoff grows: the second wait is at least the first's minimum (base/2·2).
	if d := times[1].Sub(times[0]); d < 5*time.Millisecond {
		t.Fatalf("first retry after %v, want at least half the base backoff", d)
	}
	if d := times[2].Sub(times[1]); d < 10*time.Millisecond {
		t.Fatalf("second retry after %v, want at least half of twice the base", d)
	}
}

// A failure a retry can fix is retried until the retry horizon, counted
// from when the event was received; then the entry is dead-lettered with the
// last error and the horizon named.
func TestWorkerDeadLettersAtTheRetryHorizon(t *testing.T) {
	e := newEnv(t)
	d := resolved("E1", "Q1")
	d.ReceivedAt = time.Now()
	e.enqueue(d)
	var calls atomic.Int32
	cfg := fast("c1")
	cfg.RetryHorizon = 400 * time.Millisecond
	e.start(cfg, ProcessorFunc(func(ctx context.Context, j Job) error {
		calls.Add(1)
		return errors.New("still failing")
	}))
	eventually(t, "dead-lettered and recorded", func() bool {
		rec := e.record("Q1")
		return e.stats() == store.QueueStats{Dead: 1} && len(rec.Attempts) > 0 && rec.Attempts[len(rec.Attempts)-1].Outcome == store.OutcomeDeadLettered
	})
	elapsed := time.Since(d.ReceivedAt)
	n := int(calls.Load())
	if n < 5 || elapsed < cfg.RetryHorizon {
		t.Fatalf("dead-lettered after %d attempts and %s; want retries (every 10-40ms) for the whole %s horizon", n, elapsed, cfg.RetryHorizon)
	}
	rec := e.record("Q1")
	if got := outcomes(rec); len(got) != n || slices.Index(got, store.OutcomeDeadLettered) != n-1 {
		t.Fatalf("attempts = %v", got)
	}
	dl, _ := e.store.DeadLetters(context.Background(), 10)
	if len(dl) != 1 || dl[0].EventID != "E1" || dl[0].Attempts != n ||
		dl[0].Reason != "still failing 400ms after the event was received (AFTERMATH_RETRY_HORIZON): still failing" {
		t.Fatalf("dead letters = %+v", dl)
	}
	if last := rec.Attempts[len(rec.Attempts)-1]; last.DeadLetterID != dl[0].ID {
		t.Fatalf("the last attempt should point at its dead letter: %+v", last)
	}
}

func TestWorkerDeadLettersPermanentErrorsAtOnce(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	var calls atomic.Int32
	e.start(fast("c1"), ProcessorFunc(func(ctx context.Context, j Job) error {
		calls.Add(1)
		return permanentErr(errors.New("incident no longer exists"))
	}))
	eventually(t, "dead-lettered", func() bool { return e.stats().Dead == 1 })
	if n := calls.Load(); n != 1 {
		t.Fatalf("a permanent error was retried: %d calls", n)
	}
}

func TestWorkerRecoversPanics(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"), resolved("E2", "Q2"))
	var calls atomic.Int32
	e.start(fast("c1"), ProcessorFunc(func(ctx context.Context, j Job) error {
		if j.Delivery.EventID == "E1" && calls.Add(1) == 1 {
			panic("nil map in step")
		}
		return nil
	}))
	eventually(t, "queue drained", func() bool { return e.stats() == store.QueueStats{} && len(e.record("Q1").Attempts) == 2 })
	rec := e.record("Q1")
	if got := strings.Join(outcomes(rec), ","); got != "retry,done" || !strings.Contains(rec.Attempts[0].Error, "panicked: nil map in step") {
		t.Fatalf("attempts = %+v", rec.Attempts)
	}
}

func TestWorkerDeadLettersMalformedEntries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	// An entry that is not a delivery, and a delivery without its incident.
	// (The body is not decoded again: the handler checked it before
	// queueing it, and processing reads the delivery's fields.)
	e.r.Client.XAdd(ctx, &redis.XAddArgs{Stream: e.r.Prefix + ":{queue}:events", Values: map[string]any{"junk": "1"}})
	e.r.Client.XAdd(ctx, &redis.XAddArgs{Stream: e.r.Prefix + ":{queue}:events", Values: map[string]any{
		"event_id": "E2", "event_type": "incident.resolved", "body": `{"event":{}}`,
		"occurred_at": time.Now().Format(time.RFC3339Nano), "received_at": time.Now().Format(time.RFC3339Nano),
	}})
	var calls atomic.Int32
	e.start(fast("c1"), ProcessorFunc(func(ctx context.Context, j Job) error { calls.Add(1); return nil }))
	eventually(t, "both dead-lettered", func() bool { return e.stats() == store.QueueStats{Dead: 2} })
	if calls.Load() != 0 {
		t.Fatalf("malformed entries reached the processor")
	}
}

// A consumer that took an entry and died (never acked, never heartbeats) has
// it reclaimed and processed exactly once by another.
func TestWorkerReclaimsAbandonedEntry(t *testing.T) {
	e := newEnv(t)
	ids := e.enqueue(resolved("E1", "Q1"))
	ctx := context.Background()
	if err := e.store.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	// The dying consumer reads the entry and is never heard from again.
	got, _, err := e.store.Read(ctx, "dead-consumer", 1, 100*time.Millisecond)
	if err != nil || len(got) != 1 || got[0].ID != ids[0] {
		t.Fatalf("read: %v %v", got, err)
	}
	var calls atomic.Int32
	e.start(fast("c2"), ProcessorFunc(func(ctx context.Context, j Job) error { calls.Add(1); return nil }))
	eventually(t, "reclaimed and processed", func() bool { return e.stats() == store.QueueStats{} })
	time.Sleep(700 * time.Millisecond) // a further reclaim round finds nothing
	if n := calls.Load(); n != 1 {
		t.Fatalf("processed %d times, want 1", n)
	}
}

// A long job keeps its entry by heartbeating: a second consumer does not take
// it even though the job outlasts the visibility timeout several times.
func TestWorkerHeartbeatKeepsLongJobs(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	var calls atomic.Int32
	proc := ProcessorFunc(func(ctx context.Context, j Job) error {
		calls.Add(1)
		select {
		case <-time.After(2 * time.Second): // > 3 × the 600 ms visibility timeout
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	e.start(fast("c1"), proc)
	e.start(fast("c2"), proc)
	eventually(t, "processed", func() bool { return e.stats() == store.QueueStats{} })
	if n := calls.Load(); n != 1 {
		t.Fatalf("processed %d times, want 1", n)
	}
	// Not merely saved by the incident lock: nobody even reclaimed it.
	for _, m := range e.metrics {
		if n := promtest.ToFloat64(m.reclaimed); n != 0 {
			t.Fatalf("the entry was reclaimed %v times while its job heartbeated", n)
		}
	}
}

// Two consumers never process one incident at the same time; different
// incidents do run in parallel.
func TestWorkerIncidentLockSerialisesOneIncident(t *testing.T) {
	e := newEnv(t)
	var ds []store.Delivery
	for i := range 6 {
		ds = append(ds, resolved(fmt.Sprintf("E%d", i), "Q-same"))
	}
	ds = append(ds, resolved("E-other-1", "Q-a"), resolved("E-other-2", "Q-b"))
	e.enqueue(ds...)

	var mu sync.Mutex
	running := map[string]int{}
	maxSame, maxAll, total := 0, 0, 0
	proc := ProcessorFunc(func(ctx context.Context, j Job) error {
		mu.Lock()
		running[j.Delivery.IncidentID]++
		total++
		all := 0
		for _, n := range running {
			all += n
		}
		maxSame = max(maxSame, running["Q-same"])
		maxAll = max(maxAll, all)
		mu.Unlock()
		time.Sleep(80 * time.Millisecond)
		mu.Lock()
		running[j.Delivery.IncidentID]--
		mu.Unlock()
		return nil
	})
	e.start(fast("c1"), proc)
	e.start(fast("c2"), proc)
	eventually(t, "queue drained", func() bool { return e.stats() == store.QueueStats{} })
	mu.Lock()
	defer mu.Unlock()
	if maxSame != 1 {
		t.Fatalf("one incident was processed %d at a time", maxSame)
	}
	if maxAll < 2 {
		t.Fatalf("different incidents never ran in parallel (max %d)", maxAll)
	}
	if total != 8 {
		t.Fatalf("processed %d entries, want 8", total)
	}
}

// On stop, a job that finishes within the shutdown timeout is acknowledged.
func TestWorkerShutdownFinishesInFlight(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	started := make(chan struct{})
	var calls atomic.Int32
	stop := e.start(fast("c1"), ProcessorFunc(func(ctx context.Context, j Job) error {
		calls.Add(1)
		close(started)
		time.Sleep(300 * time.Millisecond) // well within ShutdownTimeout
		return nil
	}))
	<-started
	stop()
	if st := e.stats(); st != (store.QueueStats{}) {
		t.Fatalf("after a graceful stop: %+v, want the entry acknowledged", st)
	}
}

// On stop, a job still running after the shutdown timeout is interrupted and
// released: another consumer takes it at once, without waiting for the
// visibility timeout, and the interrupted attempt does not count.
func TestWorkerShutdownReleasesStuckWork(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	started := make(chan struct{})
	cfg := fast("c1")
	cfg.ShutdownTimeout = 200 * time.Millisecond
	stop := e.start(cfg, ProcessorFunc(func(ctx context.Context, j Job) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}))
	<-started
	t0 := time.Now()
	stop()
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("stop took %v, want about the shutdown timeout", d)
	}
	if st := e.stats(); st.Pending != 1 || st.Length != 1 {
		t.Fatalf("the entry should be pending, not acked or lost: %+v", st)
	}

	cfg2 := fast("c2")
	cfg2.VisibilityTimeout = time.Hour // only a released entry is reclaimable this soon
	var attempt atomic.Int32
	e.start(cfg2, ProcessorFunc(func(ctx context.Context, j Job) error { attempt.Store(int32(j.Attempt)); return nil }))
	eventually(t, "taken over", func() bool { return e.stats() == store.QueueStats{} && len(e.record("Q1").Attempts) == 2 })
	if a := attempt.Load(); a != 1 {
		t.Fatalf("the next consumer saw attempt %d, want 1 (the interrupted one is not counted)", a)
	}
	if got := strings.Join(outcomes(e.record("Q1")), ","); got != "released,done" {
		t.Fatalf("attempts = %s, want released,done", got)
	}
}

// TestMain runs the child process of TestWorkerReclaimsAfterKill: a worker
// that hangs in its entry.
func TestMain(m *testing.M) {
	if os.Getenv("AFTERMATH_TEST_CHILD") == "hang-worker" {
		runHangingChild()
		return
	}
	os.Exit(m.Run())
}

func runHangingChild() {
	opts, err := redis.ParseURL(os.Getenv("AFTERMATH_TEST_REDIS_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	rdb := redis.NewClient(opts)
	prefix := os.Getenv("AFTERMATH_TEST_PREFIX")
	st := store.New(rdb, prefix)
	cfg := fast("child")
	w := NewWorker(cfg, st, ProcessorFunc(func(ctx context.Context, j Job) error {
		rdb.Set(ctx, prefix+":child-started", j.EntryID, time.Minute)
		select {} // hang until SIGKILL
	}), slog.New(slog.DiscardHandler), nil)
	_ = w.Run(context.Background())
}

// A real process is killed with SIGKILL mid-entry; another consumer reclaims
// the entry after the visibility timeout and processes it exactly once.
func TestWorkerReclaimsAfterKill(t *testing.T) {
	e := newEnv(t)
	ids := e.enqueue(resolved("E1", "Q1"))

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(),
		"AFTERMATH_TEST_CHILD=hang-worker",
		"AFTERMATH_TEST_REDIS_URL="+e.r.URL,
		"AFTERMATH_TEST_PREFIX="+e.r.Prefix)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	eventually(t, "child started the entry", func() bool {
		v, _ := e.r.Client.Get(context.Background(), e.r.Prefix+":child-started").Result()
		return v == ids[0]
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	if st := e.stats(); st.Pending != 1 {
		t.Fatalf("the killed child's entry should still be pending: %+v", st)
	}

	var calls atomic.Int32
	var attempt atomic.Int32
	e.start(fast("survivor"), ProcessorFunc(func(ctx context.Context, j Job) error {
		calls.Add(1)
		attempt.Store(int32(j.Attempt))
		return nil
	}))
	eventually(t, "reclaimed and processed", func() bool { return e.stats() == store.QueueStats{} })
	time.Sleep(700 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("processed %d times after the kill, want 1", n)
	}
	// The killed attempt counts: a job that crashes its process every time
	// must still reach the dead-letter bound.
	if a := attempt.Load(); a != 2 {
		t.Fatalf("survivor ran attempt %d, want 2", a)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	w := NewWorker(Config{BackoffBase: time.Second, BackoffMax: 8 * time.Second}, nil, nil, slog.New(slog.DiscardHandler), nil)
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 10: 8 * time.Second} {
		for range 50 {
			d := w.backoff(attempt)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

// Redis restarting empty (no persistence) loses the stream and its consumer
// group; webhooks accepted afterwards recreate the stream, and the workers
// must recreate the group and process them rather than fail forever.
func TestWorkerSurvivesRedisRestartWithoutPersistence(t *testing.T) {
	srv := redistest.StartServer(t)
	opts, _ := redis.ParseURL(srv.URL)
	opts.MaxRetries = -1
	opts.DialTimeout = 200 * time.Millisecond
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	st := store.New(rdb, "restart")
	e := &env{t: t, r: &redistest.Redis{Client: rdb, URL: srv.URL, Prefix: "restart", Real: true}, store: st, q: st}

	var calls atomic.Int32
	e.start(fast("c1"), ProcessorFunc(func(ctx context.Context, j Job) error { calls.Add(1); return nil }))
	e.enqueue(resolved("E1", "Q1"))
	eventually(t, "first event processed", func() bool { return calls.Load() == 1 })

	srv.Stop(t)
	time.Sleep(300 * time.Millisecond) // workers see the outage
	srv.Start(t)
	e.enqueue(resolved("E2", "Q2"))
	eventually(t, "event after the restart processed", func() bool { return calls.Load() == 2 })
}

// Each attempt carries the rules in force when it started; a reload during
// the attempt does not change them.
func TestJobCarriesRulesSnapshot(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	first, _ := rules.Load("a.yaml", []byte("jira:\n  project: AAA\n"))
	second, _ := rules.Load("b.yaml", []byte("jira:\n  project: BBB\n"))
	var cur atomic.Pointer[rules.Rules]
	cur.Store(first)
	cfg := fast("c1")
	cfg.Rules = cur.Load
	started, swapped := make(chan struct{}), make(chan struct{})
	var seen atomic.Value
	e.start(cfg, ProcessorFunc(func(ctx context.Context, j Job) error {
		close(started)
		<-swapped
		seen.Store(j.Rules.Jira.Project)
		return nil
	}))
	<-started
	cur.Store(second)
	close(swapped)
	eventually(t, "processed", func() bool { return seen.Load() != nil })
	if got := seen.Load(); got != "AAA" {
		t.Fatalf("job saw project %v, want the rules it started with (AAA)", got)
	}
}

// If another consumer takes the entry during processing (this one stalled
// past the visibility timeout), the job is cancelled and the entry left to
// the new owner: neither acknowledged nor released by the old one.
func TestWorkerStopsWhenEntryIsTakenOver(t *testing.T) {
	e := newEnv(t)
	ids := e.enqueue(resolved("E1", "Q1"))
	started, cancelled := make(chan struct{}), make(chan struct{})
	e.start(fast("c1"), ProcessorFunc(func(ctx context.Context, j Job) error {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}))
	<-started
	// The thief: an XCLAIM as another consumer would do after the timeout.
	if err := e.r.Client.XClaim(context.Background(), &redis.XClaimArgs{
		Stream: e.r.Prefix + ":{queue}:events", Group: store.Group, Consumer: "thief", Messages: ids,
	}).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the job was not cancelled after losing its entry")
	}
	eventually(t, "lost counted", func() bool { return promtest.ToFloat64(e.metrics[0].outcomes.WithLabelValues("lost")) == 1 })
	p := e.r.Client.XPendingExt(context.Background(), &redis.XPendingExtArgs{Stream: e.r.Prefix + ":{queue}:events", Group: store.Group, Start: "-", End: "+", Count: 10}).Val()
	if len(p) != 1 || p[0].Consumer != "thief" {
		t.Fatalf("pending = %+v, want the entry still with the thief", p)
	}
}

// If the incident lock expires under a running job (here: deleted), the job
// is cancelled and the entry released for a clean start elsewhere, without
// counting the interrupted attempt.
func TestWorkerStopsWhenLockIsLost(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	started := make(chan struct{})
	var first atomic.Bool
	first.Store(true)
	cfg := fast("c1")
	cfg.VisibilityTimeout = time.Hour // only a release makes it reclaimable this soon
	proc := ProcessorFunc(func(ctx context.Context, j Job) error {
		if first.CompareAndSwap(true, false) {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}
		if j.Attempt != 1 {
			return permanentErr(fmt.Errorf("attempt %d: the lost-lock attempt was counted", j.Attempt))
		}
		return nil
	})
	e.start(cfg, proc)
	<-started
	e.r.Client.Del(context.Background(), e.r.Prefix+":lock:incident:Q1")
	cfg2 := fast("c2")
	cfg2.VisibilityTimeout = time.Hour
	e.start(cfg2, proc)
	eventually(t, "processed after the release", func() bool { return e.stats() == store.QueueStats{} && len(e.record("Q1").Attempts) == 2 })
	if got := strings.Join(outcomes(e.record("Q1")), ","); got != "released,done" {
		t.Fatalf("attempts = %s, want released,done", got)
	}
	if rec := e.record("Q1"); !strings.Contains(rec.Attempts[0].Error, "incident lock lost") {
		t.Fatalf("the release should say why: %+v", rec.Attempts[0])
	}
}

// flakyQueue fails heartbeats as an unreachable Redis would.
type flakyQueue struct {
	Store
	failTouch atomic.Bool
}

func (f *flakyQueue) Touch(ctx context.Context, consumer, id string) error {
	if f.failTouch.Load() {
		return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return f.Store.Touch(ctx, consumer, id)
}

// A consumer that cannot renew its entry and lock (cut off from Redis)
// cancels its job before the lock could expire, so that two consumers never
// work on one incident at once.
func TestWorkerCancelsWhenHeartbeatsFail(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	fq := &flakyQueue{Store: e.store}
	e.q = fq
	started, cancelled := make(chan time.Time, 1), make(chan time.Time, 1)
	cfg := fast("c1")
	cfg.LockTTL = 900 * time.Millisecond
	cfg.VisibilityTimeout = 900 * time.Millisecond
	var first atomic.Bool
	first.Store(true)
	e.start(cfg, ProcessorFunc(func(ctx context.Context, j Job) error {
		if !first.CompareAndSwap(true, false) {
			return nil
		}
		fq.failTouch.Store(true)
		started <- time.Now()
		<-ctx.Done()
		cancelled <- time.Now()
		fq.failTouch.Store(false)
		return ctx.Err()
	}))
	t0 := <-started
	var t1 time.Time
	select {
	case t1 = <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the job kept running without heartbeats")
	}
	if d := t1.Sub(t0); d >= cfg.LockTTL {
		t.Fatalf("cancelled after %v: the lock (TTL %v) could already have been taken", d, cfg.LockTTL)
	}
	eventually(t, "processed after the release", func() bool { return e.stats() == store.QueueStats{} && len(e.record("Q1").Attempts) == 2 })
	if rec := e.record("Q1"); !strings.Contains(rec.Attempts[0].Error, "no renewal for") {
		t.Fatalf("attempts = %+v", rec.Attempts)
	}
}

// Work that ignores cancellation and finishes after the shutdown deadline is
// still acknowledged, not left for a second run.
func TestWorkerAcksWorkFinishingAfterShutdownDeadline(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	cfg := fast("c1")
	cfg.ShutdownTimeout = 100 * time.Millisecond
	started := make(chan struct{})
	stop := e.start(cfg, ProcessorFunc(func(ctx context.Context, j Job) error {
		close(started)
		time.Sleep(400 * time.Millisecond) // ignores ctx
		return nil
	}))
	<-started
	stop()
	if st := e.stats(); st != (store.QueueStats{}) {
		t.Fatalf("stats after stop = %+v, want the finished entry acknowledged", st)
	}
}

// A stopped worker leaves no consumer behind in the group.
func TestWorkerRemovesItsConsumerOnStop(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	stop := e.start(fast("c1"), &recorder{Store: e.store})
	eventually(t, "processed", func() bool { return e.stats() == store.QueueStats{} })
	stop()
	if cs := e.r.Client.XInfoConsumers(context.Background(), e.r.Prefix+":{queue}:events", store.Group).Val(); len(cs) != 0 {
		t.Fatalf("consumers left: %+v", cs)
	}
}

// The record shows an event as received even when it never gets processed.
func TestRecordShowsEventsThatFail(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	e.start(fast("c1"), ProcessorFunc(func(ctx context.Context, j Job) error { return permanentErr(errors.New("no such incident")) }))
	eventually(t, "dead-letter recorded", func() bool { return len(e.record("Q1").Attempts) == 1 })
	rec := e.record("Q1")
	if len(rec.Events) != 1 || rec.Events[0].EventID != "E1" || !rec.Events[0].ProcessedAt.IsZero() {
		t.Fatalf("events = %+v, want E1 received and never processed", rec.Events)
	}
	if a := rec.Attempts[0]; a.Outcome != store.OutcomeDeadLettered || a.Error != "no such incident" || a.DeadLetterID == "" {
		t.Fatalf("attempt = %+v", a)
	}
}

// permanentError is an error that says no retry can fix it, as the
// workflow's Permanent does.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// permanentErr marks err as one a retry cannot fix.
func permanentErr(err error) error { return &permanentError{err} }

// rateLimited is a 429 with its Retry-After, as Jira's client returns it: a
// RetryAtHint whose time is not exact.
type rateLimited struct{ until time.Time }

func (e *rateLimited) Error() string      { return "jira: HTTP 429" }
func (e *rateLimited) RetryAt() time.Time { return e.until }

// recorder is a processor for the worker's tests: it records each event in
// its incident's processing record and nothing else.
type recorder struct {
	Store *store.Store
	Now   func() time.Time
}

func (r *recorder) Process(ctx context.Context, job Job) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	d := job.Delivery
	if err := r.Store.RecordEvent(ctx, d.IncidentID, store.EventRecord{
		EventID: d.EventID, EventType: d.EventType, WebhookID: d.WebhookID, EntryID: job.EntryID,
		OccurredAt: d.OccurredAt, ReceivedAt: d.ReceivedAt, ProcessedAt: now(),
	}); err != nil {
		return err
	}
	return r.Store.RecordStep(ctx, d.IncidentID, store.StepRecord{
		Name: "record_event", Status: store.StepDone, EventID: d.EventID, UpdatedAt: now(),
		Detail: "event recorded; the resolution workflow is not part of this release",
	})
}

// A rate limit that keeps saying "retry in 0s" does not pin the retries at
// the shortest backoff for the whole horizon (found by review): no sooner
// than Retry-After, and no sooner than the growing backoff either.
func TestWorkerRetryAfterKeepsTheBackoffGrowing(t *testing.T) {
	e := newEnv(t)
	e.enqueue(resolved("E1", "Q1"))
	var calls atomic.Int32
	e.start(fast("c1"), ProcessorFunc(func(ctx context.Context, j Job) error {
		if calls.Add(1) <= 5 {
			return fmt.Errorf("epic of Q1: %w", &rateLimited{until: time.Now()})
		}
		return nil
	}))
	eventually(t, "queue drained", func() bool { return e.stats() == store.QueueStats{} && len(e.record("Q1").Attempts) == 6 })
	var delays []string
	for _, a := range e.record("Q1").Attempts {
		if a.Outcome == store.OutcomeRetry {
			delays = append(delays, a.RetryAfter)
		}
	}
	last, _ := time.ParseDuration(delays[len(delays)-1])
	if last < 20*time.Millisecond {
		t.Fatalf("retry delays after repeated 429s = %s: the backoff never grows past BackoffBase", strings.Join(delays, ", "))
	}
}
