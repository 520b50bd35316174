package workflow

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/queue"
)

// hints is what the queue's worker reads from an error, as it reads it:
// each hint with errors.As anywhere in the chain.
type hints struct {
	permanent, exact, progressed bool
	retryAt                      time.Time
}

func hintsOf(err error) hints {
	var h hints
	var p queue.PermanentHint
	h.permanent = errors.As(err, &p) && p.Permanent()
	var e queue.ExactRetryHint
	h.exact = errors.As(err, &e) && e.RetryAtExact()
	var g queue.ProgressHint
	h.progressed = errors.As(err, &g) && g.Progressed()
	var r queue.RetryAtHint
	if errors.As(err, &r) {
		h.retryAt = r.RetryAt()
	}
	return h
}

// A rate limit's Retry-After is when the worker retries, and not exactly:
// the worker's growing backoff still counts. An error that names no time
// leaves the worker's own backoff.
func TestRetryAtRateLimit(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 12, 0, time.UTC)
	err := fmt.Errorf("comment on OPS-1: %w", &jira.Error{Op: "comment", Status: 429, Transient: true, Until: at, RetryAfter: 12 * time.Second})
	if got := hintsOf(err); !got.retryAt.Equal(at) || got.exact || got.permanent || got.progressed {
		t.Fatalf("hints = %+v; want a retry at %s, not exact", got, at)
	}
	if got := hintsOf(fmt.Errorf("x: %w", &jira.Error{Op: "comment", Status: 429})); !got.retryAt.IsZero() {
		t.Fatalf("retry at of a 429 without Retry-After = %s, want none", got.retryAt)
	}
	if !unapplied(err) || !retryable(err) {
		t.Fatal("a 429 is retryable and unapplied")
	}
}

// The workflow's errors tell the worker how to retry; the integrations'
// refusals do not by themselves make an error permanent (the workflow marks
// them so where no retry can help).
func TestErrorsGiveTheWorkerItsHints(t *testing.T) {
	trust := time.Date(2026, 3, 2, 9, 1, 0, 0, time.UTC)
	refused := &pagerduty.Error{Op: "add note", Status: 400}
	for _, tc := range []struct {
		name string
		err  error
		want hints
	}{
		{"permanent", stepError(StepEpic, "Q1", Permanent(refused)), hints{permanent: true}},
		{"a refusal not marked permanent", stepError(StepEpic, "Q1", refused), hints{}},
		{"search lag: retry exactly then", stepError(StepEpic, "Q1", &searchLagError{trustAt: trust}), hints{exact: true, retryAt: trust}},
		{"progress", progressError{stepError(StepFollowups, "Q1", errors.New("jira answered 500"))}, hints{progressed: true}},
		{"progress, then search lag", progressError{&searchLagError{trustAt: trust}}, hints{exact: true, progressed: true, retryAt: trust}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hintsOf(tc.err); got != tc.want {
				t.Fatalf("hints of %q = %+v, want %+v", tc.err, got, tc.want)
			}
		})
	}
}
