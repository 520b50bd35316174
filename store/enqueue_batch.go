package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// enqueueBatchScript is enqueueScript for several deliveries in one call:
// each delivery, in order, has its dedupe keys checked and, when none
// exists, its entry appended and its keys set, exactly as enqueueScript
// does for one. A later delivery of the batch therefore sees an earlier
// one's keys (the same event twice in one batch is queued once). An append
// that fails answers that delivery alone with the error (pcall) and sets
// none of its keys.
//
// KEYS[1] stream, then each delivery's keys; ARGV[1] dedupe TTL in seconds,
// ARGV[2] the number of deliveries, then for each: its number of keys, how
// many of them are checked, its number of entry fields, the field/value
// pairs. Answers two values per delivery: 1 and the new entry ID, 0 and the
// ID the first delivery made (a duplicate), or -1 and the error.
var enqueueBatchScript = redis.NewScript(`
local out = {}
local k, a = 2, 3
for d = 1, tonumber(ARGV[2]) do
  local nkeys, checked, nfields = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local seen = false
  for i = k, k + checked - 1 do
    seen = redis.call('GET', KEYS[i])
    if seen then break end
  end
  if seen then
    out[#out + 1] = 0
    out[#out + 1] = seen
  else
    local id = redis.pcall('XADD', KEYS[1], '*', unpack(ARGV, a, a + nfields - 1))
    if type(id) == 'table' then
      out[#out + 1] = -1
      out[#out + 1] = id.err
    else
      for i = k, k + nkeys - 1 do redis.call('SET', KEYS[i], id, 'EX', ARGV[1]) end
      out[#out + 1] = 1
      out[#out + 1] = id
    end
  end
  k = k + nkeys
  a = a + nfields
end
return out
`)

// Bounds of one batch: Redis runs a script alone, so a batch must stay
// short, and its arguments are held in memory twice (here and in Redis).
const (
	maxBatchDeliveries = 64
	maxBatchBytes      = 1 << 20 // always at least one delivery, whatever its size
)

// enqueueReq is one delivery waiting in a batch.
type enqueueReq struct {
	d       Delivery
	keys    []string // dedupe keys, the first checked of them checked
	checked int
	// keyArray holds keys: a delivery has at most three.
	keyArray [3]string
	res      EnqueueResult
	err      error
	// wake says "lead the next batch" (true) or "your result is in"
	// (false). It holds at most one value and is empty once do returns.
	wake     chan bool
	deadline time.Time // zero: none
}

// enqueueBatcher combines concurrent enqueues without a goroutine of its
// own: the caller that finds no batch in Redis leads, running the deliveries
// that are waiting (its own among them) in one script call; whoever arrives
// meanwhile waits, and the leader hands the lead to the first of them when
// it is done. A lone caller runs at once, so batching adds no latency when
// there is no concurrency, and saves the round trips (client and Redis CPU:
// a syscall each way and a script call per delivery) when there is.
type enqueueBatcher struct {
	mu      sync.Mutex
	waiting []*enqueueReq
	busy    bool // a leader is running a batch
	// batches counts script calls (tests read it to see batching happen).
	batches int
}

func (b *enqueueBatcher) do(ctx context.Context, s *Store, r *enqueueReq) (EnqueueResult, error) {
	if r.wake == nil {
		r.wake = make(chan bool, 1)
	}
	b.mu.Lock()
	b.waiting = append(b.waiting, r)
	if b.busy {
		b.mu.Unlock()
		// Followers wait for their batch whatever their context says: the
		// batch's own deadline is the latest of its members', so the wait
		// is bounded, and leaving early would answer 503 for an event that
		// may be stored (harmless: the retry is a duplicate, but needless).
		if lead := <-r.wake; !lead {
			return r.res, r.err
		}
		b.mu.Lock()
	}
	b.busy = true
	for {
		batch := b.take()
		b.mu.Unlock()
		s.runBatchSafely(ctx, batch)
		mine := false
		for _, x := range batch {
			if x == r {
				mine = true
				continue
			}
			x.wake <- false
		}
		b.mu.Lock()
		if len(b.waiting) == 0 {
			b.busy = false
			b.mu.Unlock()
			break
		}
		if mine {
			// Done: the next waiting caller leads, so that no caller
			// serves batches for others indefinitely.
			next := b.waiting[0]
			b.mu.Unlock()
			next.wake <- true
			break
		}
		// Our delivery did not fit in that batch: lead the next one too.
	}
	return r.res, r.err
}

// take removes the next batch from the waiting list: in arrival order, up
// to maxBatchDeliveries and maxBatchBytes. Called with mu held.
func (b *enqueueBatcher) take() []*enqueueReq {
	n, size := 0, 0
	for n < len(b.waiting) && n < maxBatchDeliveries {
		size += len(b.waiting[n].d.Body)
		if n > 0 && size > maxBatchBytes {
			break
		}
		n++
	}
	batch := append([]*enqueueReq(nil), b.waiting[:n]...)
	b.waiting = append(b.waiting[:0], b.waiting[n:]...)
	b.batches++
	return batch
}

// runBatchSafely is runBatch, with a panic turned into every member's
// error: the waiting callers must always be woken and the lead passed on,
// or every later webhook would wait for good.
func (s *Store) runBatchSafely(ctx context.Context, batch []*enqueueReq) {
	defer func() {
		if p := recover(); p != nil {
			for _, r := range batch {
				r.res, r.err = EnqueueResult{}, fmt.Errorf("enqueue event %s: panic: %v", r.d.EventID, p)
			}
		}
	}()
	s.runBatch(ctx, batch)
}

// batchArgs holds runBatch's argument lists for reuse: one a batch
// otherwise, of 17 values a delivery. go-redis copies them into its
// command, so a list is free again once the script call has returned.
var batchArgs = sync.Pool{New: func() any { return new([]any) }}

// runBatch enqueues the batch in one script call and records each
// delivery's result. The call is bounded by the latest deadline of its
// members, never cut short by one member's cancellation: the others still
// wait for their answer.
func (s *Store) runBatch(ctx context.Context, batch []*enqueueReq) {
	var deadline time.Time
	for _, r := range batch {
		if r.deadline.IsZero() {
			deadline = time.Time{}
			break
		}
		if r.deadline.After(deadline) {
			deadline = r.deadline
		}
	}
	bctx := context.WithoutCancel(ctx)
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		bctx, cancel = context.WithDeadline(bctx, deadline)
		defer cancel()
	}

	nkeys, nargs := 1, 2
	for _, r := range batch {
		nkeys += len(r.keys)
		nargs += 3 + entryFieldCount
	}
	keys := make([]string, 0, nkeys)
	argBuf := batchArgs.Get().(*[]any)
	args := slices.Grow((*argBuf)[:0], nargs)
	defer func() {
		// Drop the references (bodies among them) before the next use.
		clear(args[:cap(args)])
		*argBuf = args[:0]
		batchArgs.Put(argBuf)
	}()
	keys = append(keys, s.streamKey())
	args = append(args, int64(DedupeTTL/time.Second), len(batch))
	for _, r := range batch {
		keys = append(keys, r.keys...)
		args = append(args, len(r.keys), r.checked, entryFieldCount)
		args = appendEntryFields(args, r.d)
	}
	res, err := enqueueBatchScript.Run(bctx, s.rdb, keys, args...).Slice()
	if err == nil && len(res) != 2*len(batch) {
		err = fmt.Errorf("unexpected script reply of %d values for %d deliveries", len(res), len(batch))
	}
	for i, r := range batch {
		if err != nil {
			r.err = fmt.Errorf("enqueue event %s: %w", r.d.EventID, err)
			continue
		}
		code, _ := res[2*i].(int64)
		msg, _ := res[2*i+1].(string)
		switch code {
		case 1:
			r.res = EnqueueResult{ID: msg}
		case 0:
			r.res = EnqueueResult{Duplicate: true, ID: msg}
		default:
			r.err = fmt.Errorf("enqueue event %s: %s", r.d.EventID, msg)
		}
	}
}
