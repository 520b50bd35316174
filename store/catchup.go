package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// What replay and the catch-up sweep know of a resolution (ResolutionKnown).
const (
	// KnownRecorded: processing has seen a resolved event of the incident.
	KnownRecorded = "recorded"
	// KnownQueued: a webhook, a replay or the sweep queued its resolution
	// in the last 72 hours.
	KnownQueued = "queued"
)

// MissedEventID is the event ID under which replay and the catch-up sweep
// queue an incident's resolution: one per incident, so that they queue it
// at most once between them.
func MissedEventID(incidentID string) string { return "aftermath-missed-resolution-" + incidentID }

func (s *Store) sweepClaimKey() string  { return s.prefix + ":catchup:claim" }
func (s *Store) sweepCursorKey() string { return s.prefix + ":catchup:cursor" }

// ResolutionKnown says whether aftermath already knows of the incident's
// resolution and how (one of the Known* constants), or "" when it does not.
func (s *Store) ResolutionKnown(ctx context.Context, incidentID string) (string, error) {
	known, _, err := s.resolutionKnown(ctx, incidentID)
	return known, err
}

// resolutionKnown is ResolutionKnown with, for KnownQueued, the entry that
// queued the resolution. Belonging to a group does not count: a member's
// own resolved event still has work to do (it joins the primary's
// post-mortem), and processing it again changes nothing.
func (s *Store) resolutionKnown(ctx context.Context, incidentID string) (known, entryID string, err error) {
	var events *redis.MapStringStringCmd
	var queued *redis.StringCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		events = p.HGetAll(ctx, s.incidentKey(incidentID, "events"))
		queued = p.Get(ctx, s.resolvedKey(incidentID))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", "", fmt.Errorf("look up incident %s: %w", incidentID, err)
	}
	for _, raw := range events.Val() {
		var ev EventRecord
		if json.Unmarshal([]byte(raw), &ev) == nil && ev.EventType == EventResolved {
			return KnownRecorded, "", nil
		}
	}
	if queued.Err() == nil {
		return KnownQueued, queued.Val(), nil
	}
	return "", "", nil
}

// MissedResult says what EnqueueMissed did.
type MissedResult struct {
	// Known is how aftermath already knew of the resolution (a Known*
	// constant); then nothing was queued. "" when the entry was queued.
	Known string
	ID    string // the entry queued, or the one that queued it before, when known
}

// EnqueueMissed queues d, a resolution aftermath heard of from PagerDuty's
// API rather than a webhook, unless aftermath already knows of it. The last
// check and the append are one atomic step against the queue's dedupe keys,
// so concurrent sweeps, replays and webhooks queue it at most once between
// the sweeps and replays; a webhook that comes later is processed as a
// repeat, which changes nothing. d.EventID must be MissedEventID.
func (s *Store) EnqueueMissed(ctx context.Context, d Delivery) (MissedResult, error) {
	if d.EventID != MissedEventID(d.IncidentID) || d.EventType != EventResolved {
		return MissedResult{}, fmt.Errorf("enqueue missed resolution: want event %s of type %s, got %s of %s", MissedEventID(d.IncidentID), EventResolved, d.EventID, d.EventType)
	}
	known, id, err := s.resolutionKnown(ctx, d.IncidentID)
	if err != nil || known != "" {
		return MissedResult{Known: known, ID: id}, err
	}
	keys := []string{s.seenEventKey(d.EventID), s.resolvedKey(d.IncidentID)}
	res, err := s.enqueue(ctx, d, keys, len(keys))
	if err != nil {
		return MissedResult{}, err
	}
	if res.Duplicate {
		return MissedResult{Known: KnownQueued, ID: res.ID}, nil
	}
	return MissedResult{ID: res.ID}, nil
}

// ClaimSweep claims the catch-up sweep of the current interval for owner:
// true for exactly one caller until ttl has passed.
func (s *Store) ClaimSweep(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.sweepClaimKey(), owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claim catch-up sweep: %w", err)
	}
	return ok, nil
}

// SweepCursor returns the time up to which the catch-up sweep has looked;
// ok is false before the first sweep.
func (s *Store) SweepCursor(ctx context.Context) (t time.Time, ok bool, err error) {
	v, err := s.rdb.Get(ctx, s.sweepCursorKey()).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read catch-up cursor: %w", err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read catch-up cursor: %q is not a time in milliseconds", v)
	}
	return time.UnixMilli(ms).UTC(), true, nil
}

// advanceScript moves the cursor forward only: a slow sweep that finishes
// after a later one never moves it back.
//
// KEYS[1] cursor; ARGV[1] new value in Unix milliseconds.
var advanceScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(ARGV[1])
if new > cur then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
return 0
`)

// AdvanceSweepCursor moves the catch-up cursor to t unless it is already
// later. The cursor has no expiry: it survives restarts.
func (s *Store) AdvanceSweepCursor(ctx context.Context, t time.Time) error {
	if err := advanceScript.Run(ctx, s.rdb, []string{s.sweepCursorKey()}, t.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("advance catch-up cursor: %w", err)
	}
	return nil
}
