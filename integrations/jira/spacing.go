package jira

import (
	"context"
	"sync"
	"time"

	"github.com/aftermath-dev/aftermath/internal/clock"
)

// issueSpacer spaces one client's writes to each issue by an interval,
// because Jira Cloud limits the writes to one issue whoever makes them.
// Within a process this is enough: across replicas, the workflow already
// writes one incident's (so one post-mortem's) issues from one worker at a
// time, under the incident's lock in Redis. It runs on the real clock:
// spacing is about real requests, not the clock a test injects.
type issueSpacer struct {
	mu   sync.Mutex
	next map[string]time.Time // issue key → earliest time of its next write
}

// wait returns when a write to key may go, having reserved its slot, or
// with ctx's error.
func (s *issueSpacer) wait(ctx context.Context, key string, interval time.Duration) error {
	if interval <= 0 {
		return nil
	}
	s.mu.Lock()
	now := time.Now()
	if s.next == nil {
		s.next = map[string]time.Time{}
	}
	if len(s.next) > 1000 {
		for k, t := range s.next {
			if t.Before(now) {
				delete(s.next, k)
			}
		}
	}
	at := now
	if t := s.next[key]; t.After(now) {
		at = t
	}
	s.next[key] = at.Add(interval)
	s.mu.Unlock()
	return clock.Sleep(ctx, at.Sub(now))
}
