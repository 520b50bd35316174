package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Concurrent webhooks share script calls, and each caller still gets its
// own delivery's answer: a new entry holding its event, or the entry its
// event's first delivery made.
func TestEnqueueBatchesConcurrentDeliveries(t *testing.T) {
	s, r := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 300
	// Every third delivery repeats the event of the one before it, under a
	// new webhook ID (a redelivery).
	event := func(i int) string {
		if i%3 == 2 {
			i--
		}
		return fmt.Sprintf("E%d", i)
	}
	results := make([]EnqueueResult, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.Enqueue(ctx, delivery(event(i), fmt.Sprintf("W%d", i), fmt.Sprintf("Q%d", i%7)))
		})
	}
	close(start)
	wg.Wait()

	entries := map[string]string{} // entry ID -> event_id in the stream
	for _, m := range r.Client.XRange(ctx, s.streamKey(), "-", "+").Val() {
		entries[m.ID] = m.Values["event_id"].(string)
	}
	queued := map[string]string{} // event -> entry ID
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		if !results[i].Duplicate {
			if _, dup := queued[event(i)]; dup {
				t.Fatalf("event %s queued twice", event(i))
			}
			queued[event(i)] = results[i].ID
		}
		if got := entries[results[i].ID]; got != event(i) {
			t.Fatalf("delivery %d of %s was answered with entry %s, which holds %q", i, event(i), results[i].ID, got)
		}
	}
	if want := n - n/3; len(queued) != want || len(entries) != want {
		t.Fatalf("%d events answered queued, %d entries in the stream; want %d of each", len(queued), len(entries), want)
	}
	if b := s.batch.batches; b >= n {
		t.Fatalf("%d script calls for %d concurrent deliveries: nothing was batched", b, n)
	} else {
		t.Logf("%d deliveries in %d script calls", n, b)
	}
}

// Within one batch the deliveries are checked in order: the same event
// twice is queued once, and the second answer names the first's entry.
func TestEnqueueBatchChecksInOrder(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	reqs := []*enqueueReq{}
	for _, d := range []Delivery{delivery("E1", "W1", "Q1"), delivery("E1", "W2", "Q1"), delivery("E2", "W1", "Q2"), delivery("E3", "", "Q3")} {
		keys := []string{s.seenEventKey(d.EventID)}
		if d.WebhookID != "" {
			keys = append(keys, s.seenWebhookKey(d.WebhookID))
		}
		checked := len(keys)
		keys = append(keys, s.resolvedKey(d.IncidentID))
		reqs = append(reqs, &enqueueReq{d: d, keys: keys, checked: checked})
	}
	s.runBatch(ctx, reqs)
	for i, want := range []bool{false, true, true, false} {
		if reqs[i].err != nil || reqs[i].res.Duplicate != want || reqs[i].res.ID == "" {
			t.Fatalf("delivery %d: %+v %v, want duplicate=%v", i, reqs[i].res, reqs[i].err, want)
		}
	}
	if reqs[1].res.ID != reqs[0].res.ID || reqs[2].res.ID != reqs[0].res.ID {
		t.Fatalf("duplicates name %s and %s, want the first entry %s", reqs[1].res.ID, reqs[2].res.ID, reqs[0].res.ID)
	}
	if n := r.Client.XLen(ctx, s.streamKey()).Val(); n != 2 {
		t.Fatalf("stream holds %d entries, want 2", n)
	}
	// The resolved marks are set for queued deliveries only, as by
	// enqueueScript: Q2's event was a duplicate.
	for q, want := range map[string]int64{"Q1": 1, "Q2": 0, "Q3": 1} {
		if got := r.Client.Exists(ctx, s.resolvedKey(q)).Val(); got != want {
			t.Errorf("resolved mark of %s: %d, want %d", q, got, want)
		}
	}
}

// A batch is not cut short by its leader's caller going away: the other
// deliveries in it are still stored and answered.
func TestEnqueueBatchOutlivesItsLeadersContext(t *testing.T) {
	s, r := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	reqs := []*enqueueReq{
		{d: delivery("E1", "W1", "Q1"), keys: []string{s.seenEventKey("E1"), s.seenWebhookKey("W1")}, checked: 2},
		{d: delivery("E2", "W2", "Q2"), keys: []string{s.seenEventKey("E2"), s.seenWebhookKey("W2")}, checked: 2},
	}
	s.runBatch(ctx, reqs)
	for i, x := range reqs {
		if x.err != nil || x.res.Duplicate {
			t.Fatalf("delivery %d: %+v %v", i, x.res, x.err)
		}
	}
	if n := r.Client.XLen(context.Background(), s.streamKey()).Val(); n != 2 {
		t.Fatalf("stream holds %d entries, want 2", n)
	}
}

// A batch that panics answers each of its callers with an error and passes
// the lead on: the next enqueue still runs.
func TestEnqueueBatchPanicWakesEveryone(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	r.Client.AddHook(&panicOnce{})
	reqs := []*enqueueReq{
		{d: delivery("E1", "W1", "Q1"), keys: []string{s.seenEventKey("E1")}, checked: 1},
		{d: delivery("E2", "W2", "Q2"), keys: []string{s.seenEventKey("E2")}, checked: 1},
	}
	s.runBatchSafely(ctx, reqs)
	for i, r := range reqs {
		if r.err == nil || !strings.Contains(r.err.Error(), "panic") {
			t.Fatalf("delivery %d: %v, want the panic as its error", i, r.err)
		}
	}
	if res, err := s.Enqueue(ctx, delivery("E3", "W3", "Q3")); err != nil || res.Duplicate {
		t.Fatalf("the next enqueue: %+v %v", res, err)
	}
}

// panicOnce panics in the first script call it sees.
type panicOnce struct{ done atomic.Bool }

func (h *panicOnce) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *panicOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if (cmd.Name() == "evalsha" || cmd.Name() == "eval") && h.done.CompareAndSwap(false, true) {
			panic("injected")
		}
		return next(ctx, cmd)
	}
}

func (h *panicOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// EnqueueWithin bounds the script call by its timeout without a context of
// its own per delivery: the call's context carries the deadline (or the
// caller's, when that is sooner), and a caller's cancellation does not cut
// it short.
func TestEnqueueWithinBoundsTheCall(t *testing.T) {
	s, r := newStore(t)
	seen := &deadlines{}
	r.Client.AddHook(seen)

	before := time.Now()
	if _, err := s.EnqueueWithin(context.Background(), delivery("E1", "W1", "Q1"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	d, ok := seen.last()
	if !ok || d.Before(before.Add(2*time.Second)) || d.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("the script call's deadline is %v (set: %v), want 2s after the call", d, ok)
	}

	sooner, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	want, _ := sooner.Deadline()
	if _, err := s.EnqueueWithin(sooner, delivery("E2", "W2", "Q2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if d, _ := seen.last(); !d.Equal(want) {
		t.Fatalf("the script call's deadline is %v, want the caller's sooner %v", d, want)
	}

	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	if res, err := s.EnqueueWithin(gone, delivery("E3", "W3", "Q3"), time.Second); err != nil || res.Duplicate {
		t.Fatalf("a caller gone before its delivery ran: %+v %v, want it stored all the same", res, err)
	}
	if n := r.Client.XLen(context.Background(), s.streamKey()).Val(); n != 3 {
		t.Fatalf("stream holds %d entries, want 3", n)
	}
}

// deadlines records the deadline of each script call's context.
type deadlines struct {
	mu sync.Mutex
	at []time.Time
}

func (h *deadlines) last() (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.at) == 0 {
		return time.Time{}, false
	}
	return h.at[len(h.at)-1], !h.at[len(h.at)-1].IsZero()
}

func (h *deadlines) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *deadlines) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "evalsha" || cmd.Name() == "eval" {
			d, _ := ctx.Deadline()
			h.mu.Lock()
			h.at = append(h.at, d)
			h.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

func (h *deadlines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
