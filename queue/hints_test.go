package queue

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A rate limit's Retry-After is when the worker retries; an error that
// names no time leaves the worker's own backoff.
func TestRetryAtRateLimit(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 12, 0, time.UTC)
	err := fmt.Errorf("comment on OPS-1: %w", &rateLimited{until: at})
	if got, ok := retryAt(err); !ok || !got.Equal(at) {
		t.Fatalf("retryAt = %s, %v; want %s", got, ok, at)
	}
	if exactRetry(err) {
		t.Fatal("a rate limit's Retry-After is not exact: the growing backoff still counts")
	}
	if got, ok := retryAt(fmt.Errorf("x: %w", &rateLimited{})); ok {
		t.Fatalf("retryAt of a 429 without Retry-After = %s, want none", got)
	}
}

// The worker reads each hint anywhere in the error's chain, wrapped or
// joined, and only when the hint says yes.
func TestHintsAreFoundInTheChain(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 12, 0, time.UTC)
	plain := errors.New("jira answered 503")
	for _, tc := range []struct {
		name                         string
		err                          error
		perm, exact, progress, hasAt bool
	}{
		{"nothing said", fmt.Errorf("epic of Q1: %w", plain), false, false, false, false},
		{"permanent, wrapped", fmt.Errorf("epic of Q1: %w", permanentErr(plain)), true, false, false, false},
		{"permanent, joined", errors.Join(plain, permanentErr(plain)), true, false, false, false},
		{"exact time, wrapped twice", progress{fmt.Errorf("epic of Q1: %w", &lagged{until: at})}, false, true, true, true},
		{"a hint that says no", fmt.Errorf("x: %w", saysNo{}), false, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, hasAt := retryAt(tc.err)
			if got := [4]bool{permanent(tc.err), exactRetry(tc.err), progressed(tc.err), hasAt}; got != [4]bool{tc.perm, tc.exact, tc.progress, tc.hasAt} {
				t.Fatalf("permanent, exact, progressed, retryAt = %v, want %v", got, [4]bool{tc.perm, tc.exact, tc.progress, tc.hasAt})
			}
		})
	}
}

// saysNo carries every hint, each saying no.
type saysNo struct{}

func (saysNo) Error() string      { return "no" }
func (saysNo) Permanent() bool    { return false }
func (saysNo) RetryAtExact() bool { return false }
func (saysNo) Progressed() bool   { return false }
func (saysNo) RetryAt() time.Time { return time.Time{} }
