package workflow

import (
	"errors"
	"fmt"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/queue"
)

// The workflow's errors tell the queue's worker how to retry through its
// hints; the worker knows none of these types.
var (
	_ queue.PermanentHint  = (*permanentError)(nil)
	_ queue.ProgressHint   = progressError{}
	_ queue.RetryAtHint    = (*searchLagError)(nil)
	_ queue.ExactRetryHint = (*searchLagError)(nil)
)

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent implements queue.PermanentHint.
func (e *permanentError) Permanent() bool { return true }

// Permanent marks err as one a retry cannot fix: the entry goes straight to the
// dead-letter stream.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryable reports whether err may go away on a later attempt. The
// integrations' errors say so themselves (Retryable: a 429, a 5xx or a
// transport error may; a 4xx will not); anything else (Redis, a deadline)
// may.
func retryable(err error) bool {
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	return true
}

// refused reports whether an outside system refused a request as such (a
// 4xx other than 429): the failure is recorded on its step, and asking again
// would not help.
func refused(err error) bool {
	return err != nil && !retryable(err)
}

// unapplied reports whether a write that failed with err took no effect as
// far as anyone can tell: the outside system answered that it did not do it
// (Unapplied), rather than the answer being lost.
func unapplied(err error) bool {
	var u interface{ Unapplied() bool }
	return errors.As(err, &u) && u.Unapplied()
}

// progressError is a failed attempt that got further than the one before:
// it did at least one outside write (or found it done). The worker's backoff
// starts again from its base after it, so that a flaky API slows each write
// a little, not the whole process exponentially.
type progressError struct{ error }

func (e progressError) Unwrap() error { return e.error }

// Progressed implements queue.ProgressHint.
func (e progressError) Progressed() bool { return true }

// stepError says which step of which incident failed: what the attempt's
// record and a dead letter's reason show.
func stepError(step, incidentID string, err error) error {
	return fmt.Errorf("%s of %s: %w", step, incidentID, err)
}

// searchLagError is a lookup that found nothing where Jira's search may
// not show yet what an earlier attempt created: the search can be trusted
// from trustAt on. Waiting more than that helps nothing, so the worker
// retries then rather than after a growing backoff.
type searchLagError struct{ trustAt time.Time }

func (e *searchLagError) Error() string {
	return "an earlier attempt may have created it and Jira's search may not show it yet; looking again at " + e.trustAt.UTC().Format(time.RFC3339)
}

// RetryAt is when a retry can succeed (queue.RetryAtHint).
func (e *searchLagError) RetryAt() time.Time { return e.trustAt }

// RetryAtExact says that RetryAt is no sooner and no later than needed
// (queue.ExactRetryHint).
func (e *searchLagError) RetryAtExact() bool { return true }

// isGone reports whether a read failed because the incident no longer
// exists.
func isGone(err error) bool { return pagerduty.IsNotFound(err) }
