// Package clock holds the one way aftermath waits on the real clock while
// honouring a context: the pacing of outside APIs, Jira's per-issue write
// spacing and the workers' backoff all sleep through it.
package clock

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx is done, whichever comes first: nil when d
// elapsed, ctx's error when ctx ended first. A d of zero or less returns nil
// at once, without looking at ctx: there is nothing to wait for. Unlike
// time.After, the timer is released as soon as Sleep returns.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
