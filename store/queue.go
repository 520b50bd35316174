package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Delivery is one accepted webhook as it is queued.
type Delivery struct {
	WebhookID  string // X-Webhook-Id, the same on every retry of one delivery; may be empty
	EventID    string // event.id
	EventType  string
	IncidentID string
	OccurredAt time.Time
	ReceivedAt time.Time
	Body       []byte // the signed body, exactly as received
}

// Entry is a queued delivery as a worker reads it.
type Entry struct {
	ID string // stream entry ID
	Delivery
}

// EnqueueResult says what Enqueue did.
type EnqueueResult struct {
	// Duplicate is true when the webhook ID or the event ID was seen before;
	// then nothing was written and ID is the entry the first delivery made.
	Duplicate bool
	ID        string
}

// enqueueScript checks the dedupe keys and, only when none exists, appends
// the entry and sets them all, so that a delivery is queued once or not at
// all. Keys after the checked ones are only set: they mark what was queued
// (a resolved incident) for the catch-up sweep and replay, without making a
// webhook a duplicate.
//
// KEYS[1] stream, KEYS[2..] dedupe keys, the first ARGV[2] of them
// checked; ARGV[1] dedupe TTL in seconds, ARGV[3..] the entry's
// field/value pairs.
var enqueueScript = redis.NewScript(`
local checked = tonumber(ARGV[2])
for i = 2, checked + 1 do
  local seen = redis.call('GET', KEYS[i])
  if seen then return {0, seen} end
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
for i = 2, #KEYS do redis.call('SET', KEYS[i], id, 'EX', ARGV[1]) end
return {1, id}
`)

// EventResolved is the event type whose queueing marks its incident as
// resolved-and-queued (see ResolutionQueued).
const EventResolved = "incident.resolved"

// Enqueue deduplicates d by its webhook ID and event ID and appends it to the
// queue, in one round trip. It returns only once Redis has answered: a nil
// error means the entry is stored (or was already). A resolved event also
// marks its incident, so that replay and the catch-up sweep know it is
// queued.
//
// Concurrent calls share round trips: while one batch is in Redis, the
// deliveries that arrive wait and then go together in one script call
// (enqueueBatchScript), each with exactly the checks and writes of
// enqueueScript. A lone delivery never waits for company.
func (s *Store) Enqueue(ctx context.Context, d Delivery) (EnqueueResult, error) {
	deadline, _ := ctx.Deadline()
	return s.enqueueBy(ctx, d, deadline)
}

// EnqueueWithin is Enqueue giving up after timeout (or at ctx's deadline, if
// sooner). It is what a webhook handler calls: the timeout costs no timer of
// its own, since concurrent deliveries share one per batch. As in Enqueue,
// ctx's cancellation does not cut short a delivery already in a batch.
func (s *Store) EnqueueWithin(ctx context.Context, d Delivery, timeout time.Duration) (EnqueueResult, error) {
	deadline := time.Now().Add(timeout) // a real deadline, whatever clock the store is given
	if sooner, ok := ctx.Deadline(); ok && sooner.Before(deadline) {
		deadline = sooner
	}
	return s.enqueueBy(ctx, d, deadline)
}

// enqueueBy is Enqueue with its deadline given (zero: none).
func (s *Store) enqueueBy(ctx context.Context, d Delivery, deadline time.Time) (EnqueueResult, error) {
	if d.EventID == "" {
		return EnqueueResult{}, errors.New("enqueue: delivery without event ID")
	}
	r := enqueueReqs.Get().(*enqueueReq)
	r.d, r.deadline = d, deadline
	r.keys = append(r.keyArray[:0], s.seenEventKey(d.EventID))
	if d.WebhookID != "" {
		r.keys = append(r.keys, s.seenWebhookKey(d.WebhookID))
	}
	r.checked = len(r.keys)
	if d.EventType == EventResolved && d.IncidentID != "" {
		r.keys = append(r.keys, s.resolvedKey(d.IncidentID))
	}
	res, err := s.batch.do(ctx, s, r)
	// Nobody refers to r once do has returned (the leader of its batch
	// is done with it before waking it): it serves the next enqueue, with
	// its channel and without the delivery (whose body the caller reuses).
	*r = enqueueReq{wake: r.wake}
	enqueueReqs.Put(r)
	return res, err
}

// enqueueReqs holds enqueueBy's requests for reuse: one per webhook
// otherwise, with its channel and keys.
var enqueueReqs = sync.Pool{New: func() any { return &enqueueReq{wake: make(chan bool, 1)} }}

// enqueue runs enqueueScript with dedupe keys, the first checked of them
// checked.
func (s *Store) enqueue(ctx context.Context, d Delivery, keys []string, checked int) (EnqueueResult, error) {
	keys = append([]string{s.streamKey()}, keys...)
	args := append([]any{int64(DedupeTTL / time.Second), checked}, entryFields(d)...)
	res, err := enqueueScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("enqueue event %s: %w", d.EventID, err)
	}
	if len(res) != 2 {
		return EnqueueResult{}, fmt.Errorf("enqueue event %s: unexpected script reply %v", d.EventID, res)
	}
	added, _ := res[0].(int64)
	id, _ := res[1].(string)
	return EnqueueResult{Duplicate: added == 0, ID: id}, nil
}

// entryFieldCount is the length of entryFields' list.
const entryFieldCount = 14

func entryFields(d Delivery) []any {
	return appendEntryFields(make([]any, 0, entryFieldCount), d)
}

// appendEntryFields appends the stream entry's field/value pairs for d.
func appendEntryFields(dst []any, d Delivery) []any {
	return append(dst,
		"event_id", d.EventID,
		"webhook_id", d.WebhookID,
		"event_type", d.EventType,
		"incident_id", d.IncidentID,
		"occurred_at", d.OccurredAt.UTC().Format(time.RFC3339Nano),
		"received_at", d.ReceivedAt.UTC().Format(time.RFC3339Nano),
		"body", d.Body,
	)
}

// ErrMalformedEntry marks a stream entry that cannot be a Delivery. Such an
// entry can never succeed and goes straight to the dead-letter stream.
var ErrMalformedEntry = errors.New("malformed queue entry")

func parseEntry(m redis.XMessage) (Entry, error) {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	e := Entry{ID: m.ID, Delivery: Delivery{
		EventID:    str("event_id"),
		WebhookID:  str("webhook_id"),
		EventType:  str("event_type"),
		IncidentID: str("incident_id"),
		Body:       []byte(str("body")),
	}}
	var err error
	if e.OccurredAt, err = time.Parse(time.RFC3339Nano, str("occurred_at")); err != nil {
		return e, fmt.Errorf("%w %s: occurred_at: %v", ErrMalformedEntry, m.ID, err)
	}
	if e.ReceivedAt, err = time.Parse(time.RFC3339Nano, str("received_at")); err != nil {
		return e, fmt.Errorf("%w %s: received_at: %v", ErrMalformedEntry, m.ID, err)
	}
	if e.EventID == "" || e.IncidentID == "" || len(e.Body) == 0 {
		return e, fmt.Errorf("%w %s: event_id, incident_id and body are required", ErrMalformedEntry, m.ID)
	}
	return e, nil
}

// EnsureGroup creates the stream and its consumer group if they do not exist.
// The group starts at the stream's beginning, so entries queued before any
// worker ran are processed too.
func (s *Store) EnsureGroup(ctx context.Context) error {
	err := s.rdb.XGroupCreateMkStream(ctx, s.streamKey(), Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group: %w", err)
	}
	return nil
}

// IsNoGroup reports whether err says the stream or its consumer group does not
// exist: Redis restarted without persistence, or someone deleted the key.
func IsNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

// Read returns up to count entries never delivered to any consumer, waiting up
// to block for one to arrive. Entries that fail to parse are returned with
// their error so the caller can dead-letter them.
func (s *Store) Read(ctx context.Context, consumer string, count int, block time.Duration) ([]Entry, []error, error) {
	streams, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: Group, Consumer: consumer, Streams: []string{s.streamKey(), ">"},
		Count: int64(count), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read queue: %w", err)
	}
	var msgs []redis.XMessage
	for _, st := range streams {
		msgs = append(msgs, st.Messages...)
	}
	entries, errs := parseAll(msgs)
	return entries, errs, nil
}

// Reclaim takes over up to count entries that another consumer has held
// without a heartbeat for at least minIdle: the consumer crashed or hung. It
// scans the pending list from start (use "0-0" to begin) and returns where to
// continue; "0-0" means the scan went round. Redis looks at no more than
// ten times count entries per call, so a caller must follow the cursor to
// see every pending entry.
func (s *Store) Reclaim(ctx context.Context, consumer string, minIdle time.Duration, count int, start string) ([]Entry, []error, string, error) {
	if start == "" {
		start = "0-0"
	}
	msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: s.streamKey(), Group: Group, Consumer: consumer,
		MinIdle: minIdle, Start: start, Count: int64(count),
	}).Result()
	if err != nil {
		return nil, nil, start, fmt.Errorf("reclaim queue entries: %w", err)
	}
	entries, errs := parseAll(msgs)
	// Entries waiting for their retry time are reclaimed as soon as they
	// have been idle for minIdle: they go back until they are due.
	entries, errs, err = s.due(ctx, entries, errs)
	return entries, errs, next, err
}

func parseAll(msgs []redis.XMessage) ([]Entry, []error) {
	entries := make([]Entry, 0, len(msgs))
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		e, err := parseEntry(m)
		entries = append(entries, e)
		errs = append(errs, err)
	}
	return entries, errs
}

// ownedScript runs a command on a pending entry only while consumer still
// owns it, so that a consumer that stalled past the visibility timeout never
// takes back an entry another consumer has reclaimed.
//
// KEYS[1] stream, KEYS[2] attempts hash; ARGV[1] group, ARGV[2] entry ID,
// ARGV[3] consumer, ARGV[4] "touch", "release" or "release-uncount", ARGV[5]
// idle ms for a release.
var ownedScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
if ARGV[4] == 'touch' then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
  return 1
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'IDLE', ARGV[5], 'JUSTID')
if ARGV[4] == 'release-uncount' and tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0') > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
end
return 1
`)

// ErrNotOwner means the entry is no longer pending for this consumer: another
// consumer reclaimed it, or it was acknowledged.
var ErrNotOwner = errors.New("queue entry no longer owned by this consumer")

// Touch resets the entry's idle time: the heartbeat that keeps other
// consumers from reclaiming an entry still being worked on.
func (s *Store) Touch(ctx context.Context, consumer, id string) error {
	return s.owned(ctx, consumer, id, "touch", 0)
}

// Release hands an entry back without finishing it (on shutdown, or when
// its lock was lost): it stays pending but becomes immediately reclaimable by
// any consumer. uncount takes back the attempt it was interrupted in, so that
// interruptions the entry did not cause do not bring it nearer the
// dead-letter bound; pass false when no attempt was running.
func (s *Store) Release(ctx context.Context, consumer, id string, uncount bool) error {
	op := "release"
	if uncount {
		op = "release-uncount"
	}
	// Any idle time above the visibility timeout makes the entry reclaimable;
	// a day is above every sane timeout.
	return s.owned(ctx, consumer, id, op, (24 * time.Hour).Milliseconds())
}

// RemoveConsumer deletes consumer from the group if it holds no entries, so
// that each process start does not leave a consumer behind. A consumer that
// still holds entries stays: deleting it would drop them from the pending
// list.
func (s *Store) RemoveConsumer(ctx context.Context, consumer string) error {
	pending, err := s.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: s.streamKey(), Group: Group, Start: "-", End: "+", Count: 1, Consumer: consumer,
	}).Result()
	if err != nil {
		return fmt.Errorf("check consumer %s: %w", consumer, err)
	}
	if len(pending) > 0 {
		return nil
	}
	if err := s.rdb.XGroupDelConsumer(ctx, s.streamKey(), Group, consumer).Err(); err != nil {
		return fmt.Errorf("remove consumer %s: %w", consumer, err)
	}
	return nil
}

func (s *Store) owned(ctx context.Context, consumer, id, op string, idleMs int64) error {
	n, err := ownedScript.Run(ctx, s.rdb, []string{s.streamKey(), s.attemptsKey()},
		Group, id, consumer, op, idleMs).Int()
	if err != nil {
		return fmt.Errorf("%s queue entry %s: %w", op, id, err)
	}
	if n == 0 {
		return ErrNotOwner
	}
	return nil
}

// Attempts says where an entry's processing stands as an attempt starts.
type Attempts struct {
	Attempt int // this attempt's number, from 1
	// Unfinished counts the attempts before this one that never ended
	// (their process died, or lost the entry, before recording an outcome).
	Unfinished int
	// Stalled counts the attempts in a row, before this one, that ended
	// in a failure without getting any further than the one before.
	Stalled int
}

// StartAttempt counts one more processing attempt of the entry. The counts
// live in Redis so that they hold across crashes and consumers; EndAttempt
// counts the attempts that ended.
func (s *Store) StartAttempt(ctx context.Context, id string) (Attempts, error) {
	var started *redis.IntCmd
	var ended *redis.SliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		started = p.HIncrBy(ctx, s.attemptsKey(), id, 1)
		ended = p.HMGet(ctx, s.attemptsKey(), id+endedSuffix, id+stalledSuffix)
		return nil
	})
	if err != nil {
		return Attempts{}, fmt.Errorf("count attempt of %s: %w", id, err)
	}
	num := func(v any) int { s, _ := v.(string); n, _ := strconv.Atoi(s); return n }
	a := Attempts{Attempt: int(started.Val()), Stalled: num(ended.Val()[1])}
	a.Unfinished = a.Attempt - 1 - num(ended.Val()[0])
	return a, nil
}

// EndAttempt counts an attempt that ended in a failure to retry; progressed
// says whether it got further than the one before it.
func (s *Store) EndAttempt(ctx context.Context, id string, progressed bool) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HIncrBy(ctx, s.attemptsKey(), id+endedSuffix, 1)
		if progressed {
			p.HSet(ctx, s.attemptsKey(), id+stalledSuffix, 0)
		} else {
			p.HIncrBy(ctx, s.attemptsKey(), id+stalledSuffix, 1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("count the end of an attempt of %s: %w", id, err)
	}
	return nil
}

// The attempts hash's fields for an entry: its ID counts the attempts
// started; these count those that ended, and those in a row that failed
// without progress.
const (
	endedSuffix   = ":ended"
	stalledSuffix = ":stalled"
)

// Ack marks the entry done: acknowledged, removed from the stream, attempt
// count dropped, in one MULTI.
func (s *Store) Ack(ctx context.Context, id string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, s.streamKey(), Group, id)
		p.XDel(ctx, s.streamKey(), id)
		p.HDel(ctx, s.attemptsKey(), id, id+endedSuffix, id+stalledSuffix)
		p.ZRem(ctx, s.retryKey(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack queue entry %s: %w", id, err)
	}
	return nil
}

// deadLetterScript moves a pending entry owned by the consumer to the
// dead-letter stream.
//
// KEYS[1] stream, KEYS[2] dead stream, KEYS[3] attempts hash, KEYS[4] retry
// schedule; ARGV[1] group, ARGV[2] entry ID, ARGV[3] consumer, ARGV[4..]
// extra field/value pairs.
var deadLetterScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return false end
local fields = {'original_id', ARGV[2]}
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #e == 1 then
  for i = 1, #e[1][2] do fields[#fields + 1] = e[1][2][i] end
end
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2], ARGV[2] .. ':ended', ARGV[2] .. ':stalled')
redis.call('ZREM', KEYS[4], ARGV[2])
return id
`)

// DeadLetter moves the entry from the queue to the dead-letter stream with the
// reason it failed. It returns the dead-letter entry's ID.
func (s *Store) DeadLetter(ctx context.Context, consumer, id, reason string, attempts int) (string, error) {
	deadID, err := deadLetterScript.Run(ctx, s.rdb,
		[]string{s.streamKey(), s.deadKey(), s.attemptsKey(), s.retryKey()},
		Group, id, consumer,
		"reason", reason, "attempts", strconv.Itoa(attempts),
		"failed_at", s.now().UTC().Format(time.RFC3339Nano),
	).Text()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotOwner
	}
	if err != nil {
		return "", fmt.Errorf("dead-letter queue entry %s: %w", id, err)
	}
	return deadID, nil
}

// DeadLetterEntry is one parked entry, without its body.
type DeadLetterEntry struct {
	ID         string `json:"id"`
	OriginalID string `json:"original_id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	IncidentID string `json:"incident_id"`
	Reason     string `json:"reason"`
	Attempts   int    `json:"attempts"`
	FailedAt   string `json:"failed_at"`
}

// DeadLetters returns up to count dead-lettered entries, newest first.
func (s *Store) DeadLetters(ctx context.Context, count int) ([]DeadLetterEntry, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, s.deadKey(), "+", "-", int64(count)).Result()
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return deadLetterEntries(msgs), nil
}

// DeadLettersAfter returns up to count dead-lettered entries after the one
// with ID after ("" from the first), oldest first: a way through them all.
func (s *Store) DeadLettersAfter(ctx context.Context, after string, count int) ([]DeadLetterEntry, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msgs, err := s.rdb.XRangeN(ctx, s.deadKey(), start, "+", int64(count)).Result()
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return deadLetterEntries(msgs), nil
}

func deadLetterEntries(msgs []redis.XMessage) []DeadLetterEntry {
	out := make([]DeadLetterEntry, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { v, _ := m.Values[k].(string); return v }
		n, _ := strconv.Atoi(str("attempts"))
		out = append(out, DeadLetterEntry{
			ID: m.ID, OriginalID: str("original_id"), EventID: str("event_id"),
			EventType: str("event_type"), IncidentID: str("incident_id"),
			Reason: str("reason"), Attempts: n, FailedAt: str("failed_at"),
		})
	}
	return out
}

// QueueStats are the queue's gauges.
type QueueStats struct {
	Length  int64 // entries in the stream: waiting or in progress
	Pending int64 // delivered to a consumer, not yet acknowledged
	Dead    int64 // in the dead-letter stream
	// Retrying are the pending entries waiting for their retry time
	// (parked: no worker holds them).
	Retrying int64
}

// Stats reads the queue's gauges in one round trip.
func (s *Store) Stats(ctx context.Context) (QueueStats, error) {
	var xlen, dlen, retrying *redis.IntCmd
	var pending *redis.XPendingCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		xlen = p.XLen(ctx, s.streamKey())
		pending = p.XPending(ctx, s.streamKey(), Group)
		dlen = p.XLen(ctx, s.deadKey())
		retrying = s.retrying(ctx, p)
		return nil
	})
	// XPENDING fails with NOGROUP before the first worker created the group;
	// that is zero pending, not an error.
	if err != nil && !strings.HasPrefix(err.Error(), "NOGROUP") {
		return QueueStats{}, fmt.Errorf("read queue stats: %w", err)
	}
	st := QueueStats{Length: xlen.Val(), Dead: dlen.Val(), Retrying: retrying.Val()}
	if pending.Err() == nil {
		st.Pending = pending.Val().Count
	}
	return st, nil
}
