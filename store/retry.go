package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ParkedConsumer holds the entries that wait for a retry, so that no worker
// holds them meanwhile. It is a consumer of the group like any other: its
// entries stay pending, and nothing is lost if every process stops.
const ParkedConsumer = "aftermath-parked"

// parkScript hands a pending entry owned by consumer to the parked consumer
// until its retry time, recorded in the retry schedule. Its idle time starts
// again at zero, so no reclaim takes it for a visibility timeout.
//
// KEYS[1] stream, KEYS[2] retry schedule; ARGV[1] group, ARGV[2] entry ID,
// ARGV[3] consumer, ARGV[4] retry time in Unix ms, ARGV[5] parked consumer.
var parkScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[5], 0, ARGV[2], 'IDLE', 0, 'JUSTID')
return 1
`)

// Park hands an entry that failed an attempt back to the queue until at:
// Reclaim returns it once it is due, to whichever consumer reclaims it
// first. A long backoff then holds no worker.
func (s *Store) Park(ctx context.Context, consumer, id string, at time.Time) error {
	n, err := parkScript.Run(ctx, s.rdb, []string{s.streamKey(), s.retryKey()},
		Group, id, consumer, at.UnixMilli(), ParkedConsumer).Int()
	if err != nil {
		return fmt.Errorf("park queue entry %s: %w", id, err)
	}
	if n == 0 {
		return ErrNotOwner
	}
	return nil
}

// dueScript decides whether a reclaimed entry may be worked on now: an entry
// waiting for its retry time goes back to the parked consumer (its idle time
// at zero again); a due one leaves the retry schedule.
//
// KEYS[1] stream, KEYS[2] retry schedule; ARGV[1] group, ARGV[2] entry ID,
// ARGV[3] now in Unix ms, ARGV[4] parked consumer.
var dueScript = redis.NewScript(`
local at = redis.call('ZSCORE', KEYS[2], ARGV[2])
if at and tonumber(at) > tonumber(ARGV[3]) then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[4], 0, ARGV[2], 'IDLE', 0, 'JUSTID')
  return 0
end
if at then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
`)

// due keeps the reclaimed entries that may be worked on now, parking the
// others again.
func (s *Store) due(ctx context.Context, entries []Entry, errs []error) ([]Entry, []error, error) {
	now := s.now().UnixMilli()
	keep, keepErrs := entries[:0], errs[:0]
	for i, e := range entries {
		n, err := dueScript.Run(ctx, s.rdb, []string{s.streamKey(), s.retryKey()}, Group, e.ID, now, ParkedConsumer).Int()
		if err != nil {
			return keep, keepErrs, fmt.Errorf("check the retry time of queue entry %s: %w", e.ID, err)
		}
		if n == 1 {
			keep, keepErrs = append(keep, e), append(keepErrs, errs[i])
		}
	}
	return keep, keepErrs, nil
}

// redriveScript moves a dead letter back into the queue as a new entry with
// its original fields and a new received_at (its retry horizon starts
// again), and deletes the dead letter, in one step: running it twice queues
// it once.
//
// KEYS[1] stream, KEYS[2] dead stream; ARGV[1] dead letter ID, ARGV[2]
// received_at.
var redriveScript = redis.NewScript(`
local e = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #e == 0 then return false end
local skip = {original_id = true, reason = true, attempts = true, failed_at = true, received_at = true}
local fields = {'received_at', ARGV[2]}
local f = e[1][2]
for i = 1, #f, 2 do
  if not skip[f[i]] then fields[#fields + 1] = f[i]; fields[#fields + 1] = f[i + 1] end
end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
redis.call('XDEL', KEYS[2], ARGV[1])
return id
`)

// Redrive queues a dead letter again and removes it from the dead-letter
// stream. It returns the new entry's ID, or ErrNoDeadLetter when no dead
// letter has that ID (already re-driven, or deleted).
func (s *Store) Redrive(ctx context.Context, deadID string) (string, error) {
	id, err := redriveScript.Run(ctx, s.rdb, []string{s.streamKey(), s.deadKey()},
		deadID, s.now().UTC().Format(time.RFC3339Nano)).Text()
	if errors.Is(err, redis.Nil) {
		return "", ErrNoDeadLetter
	}
	if err != nil {
		return "", fmt.Errorf("re-drive dead letter %s: %w", deadID, err)
	}
	return id, nil
}

// ErrNoDeadLetter means the dead-letter stream has no such entry.
var ErrNoDeadLetter = errors.New("no such dead letter")

// retrying counts the entries waiting for their retry time.
func (s *Store) retrying(ctx context.Context, p redis.Pipeliner) *redis.IntCmd {
	return p.ZCard(ctx, s.retryKey())
}

// CompareIDs orders two stream entry IDs ("<ms>-<seq>") as Redis does.
func CompareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	return cmp.Or(cmp.Compare(num(am), num(bm)), cmp.Compare(num(as), num(bs)))
}
