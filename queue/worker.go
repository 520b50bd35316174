// Package queue is aftermath's queue engine: it runs queued events through a
// Processor.
//
// The worker loop reads the Redis stream through a consumer group, holds one
// lock per incident, keeps its entries alive with a heartbeat, retries failures
// a retry can fix with exponential backoff and jitter until the retry horizon,
// moves an entry to the dead-letter stream when a retry cannot help or the
// horizon has passed, and acknowledges an entry only once its processing
// finished. What processing does is the Processor's business; its error says
// how to retry through the hints (PermanentHint, RetryAtHint, ExactRetryHint,
// ProgressHint), never through a type the worker knows.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/aftermath-dev/aftermath/internal/clock"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// Config tunes a Worker. Zero values take the defaults in parentheses.
type Config struct {
	Consumer          string        // unique per process (hostname-pid-random)
	Concurrency       int           // entries processed at once (4)
	VisibilityTimeout time.Duration // idle time after which another consumer reclaims an entry (60s)
	// RetryHorizon is how long after an event was received its processing
	// is retried while it fails in a way a retry can fix (48h, like
	// PagerDuty's own retries); then it is dead-lettered.
	RetryHorizon time.Duration
	// MaxUnfinished is how many attempts in a row may end without an
	// outcome (their process died, say, on an event that kills it) before
	// the entry is dead-lettered (8).
	MaxUnfinished   int
	BackoffBase     time.Duration // first retry delay, doubled per attempt (1s)
	BackoffMax      time.Duration // retry delay cap (5m)
	JobTimeout      time.Duration // one attempt's deadline (5m)
	LockTTL         time.Duration // per-incident lock lifetime, refreshed while held (30s)
	ShutdownTimeout time.Duration // how long in-flight work may finish after Stop (20s)
	ReadBlock       time.Duration // how long one read waits for new entries (2s)
	ReclaimEvery    time.Duration // how often each slot looks for abandoned or released entries (5s, at most VisibilityTimeout/2)
	// Rules returns the rules in force; nil means the built-in rules.
	Rules func() *rules.Rules
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Consumer == "" {
		host, _ := os.Hostname()
		c.Consumer = host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(rand.Uint64()&0xffffff, 36)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.MaxUnfinished <= 0 {
		c.MaxUnfinished = 8
	}
	def(&c.RetryHorizon, 48*time.Hour)
	def(&c.VisibilityTimeout, 60*time.Second)
	def(&c.BackoffBase, time.Second)
	def(&c.BackoffMax, 5*time.Minute)
	def(&c.JobTimeout, 5*time.Minute)
	def(&c.LockTTL, 30*time.Second)
	def(&c.ShutdownTimeout, 20*time.Second)
	def(&c.ReadBlock, 2*time.Second)
	def(&c.ReclaimEvery, min(5*time.Second, c.VisibilityTimeout/2))
	if c.Rules == nil {
		builtin := rules.Builtin()
		c.Rules = func() *rules.Rules { return builtin }
	}
	return c
}

// Worker consumes the queue.
type Worker struct {
	cfg     Config
	q       Store
	proc    Processor
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
}

// NewWorker returns a Worker; metrics may be nil.
func NewWorker(cfg Config, q Store, proc Processor, log *slog.Logger, metrics *Metrics) *Worker {
	cfg = cfg.withDefaults()
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Worker{cfg: cfg, q: q, proc: proc, log: log.With("consumer", cfg.Consumer), metrics: metrics, now: time.Now}
}

// Consumer returns the worker's consumer name.
func (w *Worker) Consumer() string { return w.cfg.Consumer }

// Run consumes the queue until ctx is cancelled, then stops taking entries and
// gives in-flight ones ShutdownTimeout to finish; those still running then are
// interrupted and released, unacknowledged, for another consumer. Run returns
// when every slot has stopped.
func (w *Worker) Run(ctx context.Context) error {
	// hard outlives ctx by ShutdownTimeout: it bounds in-flight work.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	stopTimer := context.AfterFunc(ctx, func() {
		t := time.NewTimer(w.cfg.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelHard()
		case <-hard.Done():
		}
	})
	defer stopTimer()

	if err := w.ensureGroup(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i := 0; i < w.cfg.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.slot(ctx, hard)
		}()
	}
	wg.Wait()
	fctx, cancel := finalCtx()
	defer cancel()
	if err := w.q.RemoveConsumer(fctx, w.cfg.Consumer); err != nil {
		w.log.Warn("removing this consumer from the group failed", "err", err)
	}
	return nil
}

func (w *Worker) ensureGroup(ctx context.Context) error {
	delay := 250 * time.Millisecond
	for {
		err := w.q.EnsureGroup(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.log.Warn("queue not ready; retrying", "err", err, "retry_in", delay)
		if clock.Sleep(ctx, delay) != nil {
			return ctx.Err()
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// slot processes one entry at a time: entries abandoned or released by other
// consumers first, then new ones. Reclaiming follows XAUTOCLAIM's cursor
// through the whole pending list, then waits ReclaimEvery before the next
// round: a released entry is taken within that, an abandoned one once it has
// been idle for the visibility timeout.
func (w *Worker) slot(ctx, hard context.Context) {
	var lastRound time.Time
	cursor := "0-0"
	errDelay := 250 * time.Millisecond
	for ctx.Err() == nil {
		var entries []store.Entry
		var parseErrs []error
		var err error
		if cursor != "0-0" || w.now().Sub(lastRound) >= w.cfg.ReclaimEvery {
			if cursor == "0-0" {
				lastRound = w.now()
			}
			entries, parseErrs, cursor, err = w.q.Reclaim(ctx, w.cfg.Consumer, w.cfg.VisibilityTimeout, 1, cursor)
			if len(entries) > 0 {
				w.metrics.reclaimed.Add(float64(len(entries)))
			}
		}
		if err == nil && len(entries) == 0 && cursor == "0-0" {
			entries, parseErrs, err = w.q.Read(ctx, w.cfg.Consumer, 1, w.cfg.ReadBlock)
		}
		if store.IsNoGroup(err) {
			// Redis lost the stream or group (restart without persistence):
			// recreate it, or events queued from now on would never be read.
			w.log.Warn("consumer group missing; recreating it", "err", err)
			cursor = "0-0"
			if err = w.q.EnsureGroup(ctx); err == nil {
				continue
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("queue read failed; retrying", "err", err, "retry_in", errDelay)
			_ = clock.Sleep(ctx, errDelay)
			errDelay = min(errDelay*2, 10*time.Second)
			continue
		}
		errDelay = 250 * time.Millisecond
		for i, e := range entries {
			if ctx.Err() != nil {
				// Stopping: what was just read goes back, untouched.
				w.release(e, false, "shutting down")
				continue
			}
			w.handle(ctx, hard, e, parseErrs[i])
		}
	}
}

// handle runs one entry to an end: acknowledged, dead-lettered, released, or
// lost to another consumer.
func (w *Worker) handle(ctx, hard context.Context, e store.Entry, parseErr error) {
	log := w.log.With("entry", e.ID, "incident", e.IncidentID, "event", e.EventID, "event_type", e.EventType)
	if e.IncidentID != "" && e.EventID != "" {
		// "Events received": recorded as soon as processing sees the entry,
		// so that one stuck or dead-lettered still shows in the record.
		w.recordEvent(log, e)
	}
	if parseErr != nil {
		w.deadLetterAndRecord(log, e, 0, parseErr)
		return
	}

	for {
		lock, ok := w.lock(ctx, hard, log, e)
		if !ok {
			return
		}
		count, err := w.q.StartAttempt(hard, e.ID)
		attempt := count.Attempt
		if err != nil {
			// Redis is failing; the entry stays pending and is reclaimed later.
			log.Error("count attempt failed; leaving entry for reclaim", "err", err)
			w.releaseLock(lock, log)
			return
		}
		if count.Unfinished >= w.cfg.MaxUnfinished {
			// Earlier attempts crashed their process (or were lost) without
			// recording an end: stop here.
			w.releaseLock(lock, log)
			w.deadLetterAndRecord(log, e, attempt-1, fmt.Errorf("gave up after %d attempts that never finished", count.Unfinished))
			return
		}

		started := w.now()
		res := w.attempt(hard, log.With("attempt", attempt), e, attempt, lock)
		w.releaseLock(lock, log)
		err = res.err
		rec := store.AttemptRecord{
			EntryID: e.ID, EventID: e.EventID, Attempt: attempt, Consumer: w.cfg.Consumer,
			StartedAt: started, FinishedAt: w.now(),
		}
		w.metrics.duration.Observe(rec.FinishedAt.Sub(started).Seconds())

		switch {
		case res.lostEntry:
			w.metrics.outcomes.WithLabelValues("lost").Inc()
			log.Warn("another consumer reclaimed the entry while it was processed; leaving it to them", "err", err)
			return
		case res.lostLock:
			// The entry is still ours but the lock may be someone else's:
			// stop, and hand the entry back for a clean start.
			rec.Outcome, rec.Error = store.OutcomeReleased, "incident lock lost: "+res.why
			w.recordAttempt(log, e, rec)
			w.release(e, true, "incident lock lost: "+res.why)
			return
		case err == nil:
			w.ack(log, e, rec)
			return
		case hard.Err() != nil:
			rec.Outcome, rec.Error = store.OutcomeReleased, "interrupted by shutdown"
			w.recordAttempt(log, e, rec)
			w.release(e, true, "interrupted by shutdown")
			return
		case permanent(err):
			w.deadLetterAndRecord(log, e, attempt, err, rec)
			return
		case !w.now().Before(w.horizon(e)):
			w.deadLetterAndRecord(log, e, attempt, fmt.Errorf("still failing %s after the event was received (AFTERMATH_RETRY_HORIZON): %w",
				w.cfg.RetryHorizon, err), rec)
			return
		}
		if !w.retryLater(ctx, log, e, rec, count.Stalled, err) {
			return
		}
	}
}

// horizon is when the entry's retries stop: RetryHorizon after its event was
// received (or re-driven from the dead letters).
func (w *Worker) horizon(e store.Entry) time.Time {
	return e.ReceivedAt.Add(w.cfg.RetryHorizon)
}

// retryLater records a failed attempt and waits for its retry: in this slot
// for a short backoff, or parked in Redis for a long one (a worker slot is
// not held for minutes while a service is down; whichever worker reclaims the
// entry once it is due retries it). The last retry is at the horizon. ok is
// false when this worker no longer holds the entry.
func (w *Worker) retryLater(ctx context.Context, log *slog.Logger, e store.Entry, rec store.AttemptRecord, stalled int, err error) (ok bool) {
	// The backoff grows with the failures in a row that got no further:
	// an attempt that did some writes before failing starts it again.
	if progressed(err) {
		stalled = 0
	}
	delay := w.backoff(stalled + 1)
	if at, ok := retryAt(err); ok {
		if exactRetry(err) {
			// What the retry waits for will be there then (a search
			// index caught up, say): no sooner, and no later.
			delay = max(at.Sub(w.now()), w.cfg.BackoffBase)
		} else {
			// A rate limit's Retry-After: no sooner, and never sooner than
			// the growing backoff either, so a service that keeps saying
			// "retry in 0s" is not asked again every second for days.
			delay = max(at.Sub(w.now()), delay)
		}
	}
	if at := w.now().Add(delay); at.After(w.horizon(e)) {
		delay = max(w.horizon(e).Sub(w.now()), 0)
	}
	rec.Outcome, rec.Error, rec.RetryAfter = store.OutcomeRetry, err.Error(), delay.String()
	w.recordAttempt(log, e, rec)
	w.metrics.outcomes.WithLabelValues(store.OutcomeRetry).Inc()
	log.Warn("processing failed; will retry", "attempt", rec.Attempt, "retry_in", delay, "retry_until", w.horizon(e), "err", err)
	fctx, cancel := finalCtx()
	defer cancel()
	if eerr := w.q.EndAttempt(fctx, e.ID, progressed(err)); eerr != nil {
		log.Warn("counting the end of the attempt failed", "err", eerr)
	}
	if delay < w.cfg.VisibilityTimeout {
		return w.wait(ctx, log, e, delay)
	}
	if perr := w.q.Park(fctx, w.cfg.Consumer, e.ID, w.now().Add(delay)); perr != nil {
		// Not parked: the entry stays this worker's; wait here instead.
		log.Warn("parking the entry for its retry failed; waiting here", "err", perr)
		return w.wait(ctx, log, e, delay)
	}
	return false
}

// ack acknowledges a processed entry and records the attempt.
func (w *Worker) ack(log *slog.Logger, e store.Entry, rec store.AttemptRecord) {
	fctx, cancel := finalCtx()
	ackErr := w.q.Ack(fctx, e.ID)
	cancel()
	if ackErr != nil {
		// Processing is idempotent: a reclaim redoes it and acks then.
		rec.Outcome, rec.Error = store.OutcomeRetry, "processed, but the acknowledgement failed: "+ackErr.Error()
		w.recordAttempt(log, e, rec)
		log.Error("ack failed; the entry will be processed again", "err", ackErr)
		return
	}
	rec.Outcome = store.OutcomeDone
	w.recordAttempt(log, e, rec)
	w.metrics.outcomes.WithLabelValues(store.OutcomeDone).Inc()
	log.Info("event processed", "attempt", rec.Attempt)
}

// attemptResult is how one attempt ended.
type attemptResult struct {
	err       error
	lostEntry bool   // another consumer owns the entry now
	lostLock  bool   // the lock expired, or could not be refreshed in time
	why       string // for lostLock
}

// attempt runs the processor once under a deadline, with a heartbeat that
// keeps the entry and the lock alive. If the heartbeat cannot renew them
// before the lock could expire (Redis unreachable, say), the attempt is
// cancelled: past that point another consumer may hold the lock, and two
// consumers must never work on one incident at once.
func (w *Worker) attempt(hard context.Context, log *slog.Logger, e store.Entry, attempt int, lock *store.Lock) attemptResult {
	ctx, cancel := context.WithTimeout(hard, w.cfg.JobTimeout)
	defer cancel()

	var mu sync.Mutex
	var res attemptResult
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		every := w.heartbeatEvery()
		// Renewals must land before the shorter of the two lifetimes runs
		// out, with one heartbeat interval to spare.
		limit := min(w.cfg.LockTTL, w.cfg.VisibilityTimeout) - every
		lastOK := w.now()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			hctx, hcancel := context.WithTimeout(ctx, every)
			terr := w.q.Touch(hctx, w.cfg.Consumer, e.ID)
			if terr == nil {
				terr = lock.Refresh(hctx, w.cfg.LockTTL)
			}
			hcancel()
			if ctx.Err() != nil {
				return
			}
			mu.Lock()
			switch {
			case terr == nil:
				lastOK = w.now()
			case errors.Is(terr, store.ErrNotOwner):
				res.lostEntry = true
			case errors.Is(terr, store.ErrLockLost):
				res.lostLock, res.why = true, "it expired"
			case w.now().Sub(lastOK) >= limit:
				res.lostLock, res.why = true, fmt.Sprintf("no renewal for %s (%v)", w.now().Sub(lastOK).Round(time.Millisecond), terr)
			default:
				log.Warn("heartbeat failed; will try again", "err", terr)
			}
			stop := res.lostEntry || res.lostLock
			mu.Unlock()
			if stop {
				cancel()
				return
			}
		}
	}()

	err := w.safeProcess(ctx, log, Job{EntryID: e.ID, Attempt: attempt, Delivery: e.Delivery, Log: log, Rules: w.cfg.Rules()})
	cancel()
	<-hbDone
	mu.Lock()
	defer mu.Unlock()
	res.err = err
	return res
}

func (w *Worker) safeProcess(ctx context.Context, log *slog.Logger, job Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.metrics.panics.Inc()
			log.Error("processing panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("processing panicked: %v", r)
		}
	}()
	return w.proc.Process(ctx, job)
}

// lock takes the incident's lock, waiting while another consumer holds it and
// heartbeating the entry meanwhile. ok is false when the entry was released or
// lost instead.
func (w *Worker) lock(ctx, hard context.Context, log *slog.Logger, e store.Entry) (*store.Lock, bool) {
	delay := 100 * time.Millisecond
	lastTouch := w.now()
	for {
		l, err := w.q.LockIncident(hard, e.IncidentID, w.cfg.LockTTL)
		if err == nil {
			return l, true
		}
		if !errors.Is(err, store.ErrLocked) {
			log.Warn("taking the incident lock failed; will retry", "err", err)
		}
		if clock.Sleep(ctx, delay) != nil {
			w.release(e, false, "shutting down while waiting for the incident lock")
			return nil, false
		}
		delay = min(delay*2, 2*time.Second)
		if w.now().Sub(lastTouch) >= w.heartbeatEvery() {
			lastTouch = w.now()
			if err := w.q.Touch(hard, w.cfg.Consumer, e.ID); errors.Is(err, store.ErrNotOwner) {
				log.Warn("entry reclaimed by another consumer while waiting for the incident lock")
				return nil, false
			}
		}
	}
}

// wait sleeps d before a retry, heartbeating the entry. It returns false when
// the worker is stopping (the entry is then released) or lost the entry.
func (w *Worker) wait(ctx context.Context, log *slog.Logger, e store.Entry, d time.Duration) bool {
	deadline := w.now().Add(d)
	for {
		left := deadline.Sub(w.now())
		if left <= 0 {
			return true
		}
		if clock.Sleep(ctx, min(left, w.heartbeatEvery())) != nil {
			w.release(e, false, "shutting down during retry backoff")
			return false
		}
		if err := w.q.Touch(ctx, w.cfg.Consumer, e.ID); errors.Is(err, store.ErrNotOwner) {
			log.Warn("entry reclaimed by another consumer during retry backoff")
			return false
		}
	}
}

func (w *Worker) heartbeatEvery() time.Duration {
	return min(w.cfg.VisibilityTimeout, w.cfg.LockTTL) / 3
}

// backoff is exponential with full jitter, between half and all of
// BackoffBase·2^(attempt-1), capped at BackoffMax.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.BackoffBase
	for i := 1; i < attempt && d < w.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.cfg.BackoffMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// deadLetterAndRecord parks the entry with its cause and records the
// attempt that ended it (rec, when one ran; else a record is made).
func (w *Worker) deadLetterAndRecord(log *slog.Logger, e store.Entry, attempts int, cause error, rec ...store.AttemptRecord) {
	fctx, cancel := finalCtx()
	defer cancel()
	id, err := w.q.DeadLetter(fctx, w.cfg.Consumer, e.ID, cause.Error(), attempts)
	if errors.Is(err, store.ErrNotOwner) {
		log.Warn("not dead-lettering: another consumer took the entry and decides its fate", "cause", cause)
		return
	}
	if err != nil {
		log.Error("moving entry to the dead-letter stream failed; it stays pending and is retried after the visibility timeout", "err", err, "cause", cause)
		return
	}
	w.metrics.outcomes.WithLabelValues(store.OutcomeDeadLettered).Inc()
	log.Error("entry moved to the dead-letter stream", "dead_letter_id", id, "attempts", attempts, "err", cause)
	if e.IncidentID == "" {
		return
	}
	r := store.AttemptRecord{EntryID: e.ID, EventID: e.EventID, Attempt: attempts, Consumer: w.cfg.Consumer, StartedAt: w.now(), FinishedAt: w.now()}
	if len(rec) > 0 {
		r = rec[0]
	}
	r.Outcome, r.Error, r.DeadLetterID = store.OutcomeDeadLettered, cause.Error(), id
	w.recordAttempt(log, e, r)
}

// release hands the entry back for any consumer; uncount takes back the
// attempt it was interrupted in.
func (w *Worker) release(e store.Entry, uncount bool, why string) {
	fctx, cancel := finalCtx()
	defer cancel()
	err := w.q.Release(fctx, w.cfg.Consumer, e.ID, uncount)
	switch {
	case errors.Is(err, store.ErrNotOwner):
		w.log.Info("entry already taken by another consumer; nothing to release", "entry", e.ID, "reason", why)
	case err != nil:
		w.log.Warn("releasing entry failed; it will be reclaimed after the visibility timeout", "entry", e.ID, "err", err)
	default:
		w.metrics.outcomes.WithLabelValues(store.OutcomeReleased).Inc()
		w.log.Info("entry released for another consumer", "entry", e.ID, "reason", why)
	}
}

func (w *Worker) releaseLock(l *store.Lock, log *slog.Logger) {
	fctx, cancel := finalCtx()
	defer cancel()
	if err := l.Release(fctx); err != nil {
		log.Warn("releasing the incident lock failed; it expires by itself", "err", err)
	}
}

func (w *Worker) recordEvent(log *slog.Logger, e store.Entry) {
	fctx, cancel := finalCtx()
	defer cancel()
	if err := w.q.RecordEvent(fctx, e.IncidentID, store.EventRecord{
		EventID: e.EventID, EventType: e.EventType, WebhookID: e.WebhookID, EntryID: e.ID,
		OccurredAt: e.OccurredAt, ReceivedAt: e.ReceivedAt,
	}); err != nil {
		log.Warn("recording the event failed", "err", err)
	}
}

func (w *Worker) recordAttempt(log *slog.Logger, e store.Entry, a store.AttemptRecord) {
	fctx, cancel := finalCtx()
	defer cancel()
	if err := w.q.RecordAttempt(fctx, e.IncidentID, a); err != nil {
		log.Warn("recording the attempt failed", "err", err)
	}
}

// finalCtx bounds the writes that end an entry's handling (ack, dead-letter,
// release, records). They must happen even after shutdown cancelled the
// work, or a finished entry would be processed again.
func finalCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}
