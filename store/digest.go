package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The managers' digest is queued by the deadline keepers, once per period
// and target (the managers' digest, each team's), whatever the number of
// replicas and restarts: a small hash per target remembers when the target
// was first seen configured and the end of the last period queued. It has
// no expiry, unlike the queue's event dedupe (DedupeTTL is shorter than a
// week), so a keeper that starts after a period was queued never queues it
// again.

// EventDigest is a digest's job, queued by the deadline keepers.
const EventDigest = "aftermath.digest"

// DigestJob is the body of a digest's job: the period [Start, End), and
// the team (its PagerDuty ID) whose digest it is ("" the managers' digest
// of every team).
type DigestJob struct {
	Team  string    `json:"team,omitempty"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// What QueueDigest did.
const (
	DigestQueued        = "queued"         // the job is in the queue
	DigestAlreadyQueued = "already_queued" // this period (or a later one) was queued before
	// DigestBeforeConfigured: the period ended before the target was first
	// seen configured (the first period after install, or after a team is
	// added): no backlog, its first digest is the next period's.
	DigestBeforeConfigured = "before_configured"
)

func (s *Store) digestKey(target string) string {
	return s.prefix + ":{queue}:digest:" + keyPart(target)
}

// queueDigestScript queues a digest's job once per target and period end.
// The first call for a target only marks when it was first seen: the
// period that ended before that is not sent. A period ending at or before
// the last one queued is not queued again.
//
// KEYS[1] stream, KEYS[2] the target's hash; ARGV[1] now (ms), ARGV[2] the
// period's end (ms), ARGV[3..] the entry's field/value pairs.
var queueDigestScript = redis.NewScript(`
local now, e = tonumber(ARGV[1]), tonumber(ARGV[2])
local since = tonumber(redis.call('HGET', KEYS[2], 'since') or '0')
if since == 0 then
  redis.call('HSET', KEYS[2], 'since', ARGV[1])
  since = now
end
if e <= since then return {'before_configured', ''} end
local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '0')
if e <= last then return {'already_queued', redis.call('HGET', KEYS[2], 'entry') or ''} end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
redis.call('HSET', KEYS[2], 'last', ARGV[2], 'entry', id)
return {'queued', id}
`)

// QueueDigest queues d, the digest job of target for the period ending at
// end, in one step with the target's marks (see queueDigestScript). It
// returns one of the Digest* outcomes and the stream entry (queued, or the
// one queued before).
func (s *Store) QueueDigest(ctx context.Context, target string, end time.Time, d Delivery) (outcome, entry string, err error) {
	res, err := queueDigestScript.Run(ctx, s.rdb, []string{s.streamKey(), s.digestKey(target)},
		append([]any{s.now().UnixMilli(), end.UnixMilli()}, entryFields(d)...)...).StringSlice()
	if err != nil {
		return "", "", fmt.Errorf("queue the digest %s: %w", d.EventID, err)
	}
	if len(res) != 2 {
		return "", "", fmt.Errorf("queue the digest %s: unexpected script reply %v", d.EventID, res)
	}
	return res[0], res[1], nil
}

// DigestMarks are a digest target's marks: when it was first seen
// configured, and the end of the last period queued (zero: none).
type DigestMarks struct {
	Since, Last time.Time
}

// DigestMarks reads a target's marks.
func (s *Store) DigestMarks(ctx context.Context, target string) (DigestMarks, error) {
	h, err := s.rdb.HGetAll(ctx, s.digestKey(target)).Result()
	if err != nil {
		return DigestMarks{}, fmt.Errorf("read the digest marks of %s: %w", target, err)
	}
	var m DigestMarks
	if ms, err := strconv.ParseInt(h["since"], 10, 64); err == nil {
		m.Since = time.UnixMilli(ms).UTC()
	}
	if ms, err := strconv.ParseInt(h["last"], 10, 64); err == nil {
		m.Last = time.UnixMilli(ms).UTC()
	}
	return m, nil
}
