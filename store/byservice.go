package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The post-mortems by service: one sorted set per PagerDuty service of the
// post-mortems whose group had an incident on it, by when their primary
// resolved. The recurrence check reads it on every resolution, so that
// whether an incident recurs is known from Redis alone, never by searching
// Jira on the webhook's path. Grouping scopes are the rules' business: the
// check reads the sets of every service of the incident's scopes.

// IndexHorizon is how long a post-mortem stays in the index after its
// primary resolved: the longest recurrence.window the rules accept (a
// year), and a day more.
const IndexHorizon = 366 * 24 * time.Hour

func (s *Store) serviceIndexKey(serviceID string) string {
	return s.prefix + ":{queue}:pmservice:" + keyPart(serviceID)
}

// IndexPostmortem files a registered post-mortem under each of its services
// by when its primary resolved, in one transaction. Idempotent: a second
// call (a retry, another replica) keeps the first entry (ZADD NX), so a
// post-mortem's place never moves. Entries resolved more than IndexHorizon
// before it leave the sets it is added to, which keeps them bounded.
func (s *Store) IndexPostmortem(ctx context.Context, pm Postmortem) error {
	if pm.Incident == "" || len(pm.Services) == 0 {
		return nil
	}
	at := pm.ResolvedAt.UnixMilli()
	old := "(" + strconv.FormatInt(pm.ResolvedAt.Add(-IndexHorizon).UnixMilli(), 10)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, svc := range pm.Services {
			if svc == "" {
				continue
			}
			k := s.serviceIndexKey(svc)
			p.ZAddNX(ctx, k, redis.Z{Score: float64(at), Member: pm.Incident})
			p.ZRemRangeByScore(ctx, k, "-inf", old)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index the post-mortem of %s by service: %w", pm.Incident, err)
	}
	return nil
}

// PostmortemsOn returns the tracked post-mortems filed under any of
// services whose primary resolved in [from, to], each once, as they stand
// (status, follow-up keys), the most recently resolved first.
func (s *Store) PostmortemsOn(ctx context.Context, services []string, from, to time.Time) ([]Deadline, error) {
	if len(services) == 0 {
		return nil, nil
	}
	lo, hi := strconv.FormatInt(from.UnixMilli(), 10), strconv.FormatInt(to.UnixMilli(), 10)
	ranges := make([]*redis.StringSliceCmd, len(services))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, svc := range services {
			ranges[i] = p.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.serviceIndexKey(svc), ByScore: true, Start: lo, Stop: hi})
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the post-mortems by service: %w", err)
	}
	var ids []string
	for _, r := range ranges {
		for _, id := range r.Val() {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	reads := make([]deadlineRead, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			reads[i] = s.queueDeadline(ctx, p, id)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the post-mortems by service: %w", err)
	}
	out := make([]Deadline, 0, len(ids))
	for i, id := range ids {
		d, found, err := reads[i].decode(id)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Deadline) int {
		return cmp.Or(b.ResolvedAt.Compare(a.ResolvedAt), cmp.Compare(a.Incident, b.Incident))
	})
	return out, nil
}
