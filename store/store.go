// Package store is everything aftermath keeps in Redis: webhook dedupe, the
// stream that queues events, the dead-letter stream, per-incident locks and
// per-incident processing records.
//
// Every multi-key change is one atomic round trip (a Lua script or MULTI). The
// queue's keys share the hash tag {queue} so that those scripts also run on
// Redis Cluster.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DedupeTTL is how long a delivery's webhook ID and event ID are remembered.
// PagerDuty retries for up to 48 hours; a day more covers clock skew and a
// delivery that started just before the window closed.
const DedupeTTL = 72 * time.Hour

// RecordTTL is how long an incident's processing record is kept after its last
// change. Post-mortem deadlines run for weeks; a quarter covers the review.
const RecordTTL = 90 * 24 * time.Hour

// Group is the consumer group every worker reads the queue through.
const Group = "workers"

// Store is aftermath's Redis state under one key prefix.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
	batch  *enqueueBatcher // Enqueue's shared round trips
}

// New returns a Store whose keys all start with prefix + ":".
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix, now: time.Now, batch: &enqueueBatcher{}}
}

// WithClock makes the store read the time from now (tests, and every
// deadline it computes): it returns s.
func (s *Store) WithClock(now func() time.Time) *Store {
	s.now = now
	return s
}

// Client returns the underlying Redis client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.prefix }

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// ProbeQueue checks that the queue can be written: it sets P:{queue}:ready
// to the time, a write to the same hash slot, hence the same node, as an
// enqueue. A PING proves less: on a cluster it goes to any node, and a
// server that answers may still refuse writes (a replica, OOM, too few
// replicas for min-replicas-to-write).
func (s *Store) ProbeQueue(ctx context.Context) error {
	return s.rdb.Set(ctx, s.prefix+":{queue}:ready", s.now().UnixMilli(), time.Minute).Err()
}

func (s *Store) streamKey() string   { return s.prefix + ":{queue}:events" }
func (s *Store) deadKey() string     { return s.prefix + ":{queue}:dead" }
func (s *Store) attemptsKey() string { return s.prefix + ":{queue}:attempts" }
func (s *Store) retryKey() string    { return s.prefix + ":{queue}:retry" }
func (s *Store) seenEventKey(id string) string {
	return s.prefix + ":{queue}:seen:event:" + keyPart(id)
}
func (s *Store) seenWebhookKey(id string) string {
	return s.prefix + ":{queue}:seen:webhook:" + keyPart(id)
}
func (s *Store) resolvedKey(incidentID string) string {
	return s.prefix + ":{queue}:seen:resolved:" + keyPart(incidentID)
}
func (s *Store) incidentKey(id, what string) string {
	return s.prefix + ":incident:" + keyPart(id) + ":" + what
}
func (s *Store) lockKey(incidentID string) string {
	return s.prefix + ":lock:incident:" + keyPart(incidentID)
}

// keyPart makes outside input safe as part of a key name: short printable
// values are kept for readability, anything else is replaced by its hash.
func keyPart(s string) string {
	if len(s) > 0 && len(s) <= 100 && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == '{' || r == '}' || r == '*' || r > '~'
	}) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + hex.EncodeToString(sum[:16])
}
