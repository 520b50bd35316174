package queue

import (
	"errors"
	"time"
)

// The hints a Processor's error gives the worker about its retry. The worker
// looks for each with errors.As anywhere in the error's chain, so wrapping
// keeps them; it knows no error type of its own. An error with no hint is
// retried with the growing backoff until the retry horizon.
type (
	// PermanentHint is an error a retry cannot fix when Permanent reports
	// true: the entry goes straight to the dead-letter stream.
	PermanentHint interface{ Permanent() bool }
	// RetryAtHint says when a retry can succeed, such as a rate limit's
	// Retry-After: the retry waits until then and never less than the
	// growing backoff either, so a service that keeps saying "retry in 0s"
	// is not asked again every second for days. The zero time says nothing.
	RetryAtHint interface{ RetryAt() time.Time }
	// ExactRetryHint marks the RetryAt of an error as exact when
	// RetryAtExact reports true: waiting longer helps nothing (a search
	// index that will have caught up by then, say), so the retry is then,
	// no sooner than Config.BackoffBase, whatever the backoff has grown to.
	ExactRetryHint interface{ RetryAtExact() bool }
	// ProgressHint is a failed attempt that got further than the one before
	// when Progressed reports true (it did an outside write): the backoff
	// starts again from its base, so that a flaky API slows each write a
	// little, not the whole process exponentially.
	ProgressHint interface{ Progressed() bool }
)

// permanent reports whether err says a retry cannot fix it.
func permanent(err error) bool {
	var h PermanentHint
	return errors.As(err, &h) && h.Permanent()
}

// retryAt is when a retry of err can succeed, when err says so. The zero
// time says nothing.
func retryAt(err error) (time.Time, bool) {
	var h RetryAtHint
	if errors.As(err, &h) && !h.RetryAt().IsZero() {
		return h.RetryAt(), true
	}
	return time.Time{}, false
}

// exactRetry reports whether err says its retry time is exact.
func exactRetry(err error) bool {
	var h ExactRetryHint
	return errors.As(err, &h) && h.RetryAtExact()
}

// progressed reports whether the failed attempt behind err made progress.
func progressed(err error) bool {
	var h ProgressHint
	return errors.As(err, &h) && h.Progressed()
}
