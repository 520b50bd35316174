package workflow

import (
	"fmt"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
)

// A rate limit's Retry-After is when the worker retries; an error that
// names no time leaves the worker's own backoff.
func TestRetryAtRateLimit(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 12, 0, time.UTC)
	err := fmt.Errorf("comment on OPS-1: %w", &jira.Error{Op: "comment", Status: 429, Transient: true, Until: at, RetryAfter: 12 * time.Second})
	if got, ok := retryAt(err); !ok || !got.Equal(at) {
		t.Fatalf("retryAt = %s, %v; want %s", got, ok, at)
	}
	if got, ok := retryAt(fmt.Errorf("x: %w", &jira.Error{Op: "comment", Status: 429})); ok {
		t.Fatalf("retryAt of a 429 without Retry-After = %s, want none", got)
	}
	if !unapplied(err) || !retryable(err) {
		t.Fatal("a 429 is retryable and unapplied")
	}
}
