package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The recurrence log: each time an incident resolved on a service whose
// earlier post-mortem still had open follow-ups, once per pair of the
// incident and that post-mortem, by when the incident resolved. The
// overview and the digest read it.

// Recurrence is an incident that resolved while an earlier post-mortem on
// its services still had open follow-ups.
type Recurrence struct {
	Incident   string    `json:"incident"` // the new incident
	Number     int       `json:"number"`
	Title      string    `json:"title"`
	URL        string    `json:"url,omitempty"`
	Severity   string    `json:"severity,omitempty"` // "" when its priority maps to none
	Service    string    `json:"service"`
	ResolvedAt time.Time `json:"resolved_at"`
	// Earlier is the earlier post-mortem's primary incident, EarlierKey
	// its epic, Open the keys of its follow-ups open at the time.
	Earlier    string   `json:"earlier"`
	EarlierKey string   `json:"earlier_key"`
	Open       []string `json:"open"`
}

func (s *Store) recurrencesKey() string    { return s.prefix + ":{queue}:recurrences" }
func (s *Store) recurrenceDataKey() string { return s.prefix + ":{queue}:recurrences:data" }

// recordRecurrenceScript records a recurrence once per (incident, earlier).
// KEYS[1] data hash, KEYS[2] log by time; ARGV[1] member, ARGV[2] data,
// ARGV[3] resolved at (ms).
var recordRecurrenceScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`)

// RecordRecurrence records r; recorded is false when this incident's
// recurrence of that post-mortem was recorded before.
func (s *Store) RecordRecurrence(ctx context.Context, r Recurrence) (recorded bool, err error) {
	data, err := json.Marshal(r)
	if err != nil {
		return false, fmt.Errorf("encode the recurrence of %s: %w", r.Incident, err)
	}
	n, err := recordRecurrenceScript.Run(ctx, s.rdb, []string{s.recurrenceDataKey(), s.recurrencesKey()},
		r.Incident+"/"+r.Earlier, data, r.ResolvedAt.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("record the recurrence of %s: %w", r.Incident, err)
	}
	return n == 1, nil
}

// Recurrences returns the recurrences whose incident resolved in [from,
// to), oldest first (zero from or to: unbounded).
func (s *Store) Recurrences(ctx context.Context, from, to time.Time) ([]Recurrence, error) {
	lo, hi := "-inf", "+inf"
	if !from.IsZero() {
		lo = strconv.FormatInt(from.UnixMilli(), 10)
	}
	if !to.IsZero() {
		hi = "(" + strconv.FormatInt(to.UnixMilli(), 10)
	}
	members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.recurrencesKey(), ByScore: true, Start: lo, Stop: hi}).Result()
	if err != nil || len(members) == 0 {
		return nil, wrapRead(err)
	}
	raws, err := s.rdb.HMGet(ctx, s.recurrenceDataKey(), members...).Result()
	if err != nil {
		return nil, wrapRead(err)
	}
	out := make([]Recurrence, 0, len(raws))
	for i, raw := range raws {
		str, ok := raw.(string)
		if !ok {
			continue
		}
		var r Recurrence
		if err := json.Unmarshal([]byte(str), &r); err != nil {
			return nil, fmt.Errorf("decode recurrence %s: %w", members[i], err)
		}
		out = append(out, r)
	}
	return out, nil
}

// RecurrencesOf returns the recurrences of the post-mortem whose primary is
// earlier, and those in which incident is the new incident, oldest first.
func (s *Store) RecurrencesOf(ctx context.Context, incident string) ([]Recurrence, error) {
	all, err := s.Recurrences(ctx, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(r Recurrence) bool { return r.Earlier != incident && r.Incident != incident }), nil
}

func wrapRead(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("read the recurrences: %w", err)
}
