package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// Telling people of a post-mortem's deadlines and status: the reminders
// and the Reviewed message go by email and Slack too, besides the Jira
// comments, to the owner and the rules' matching recipients. Each message
// is a once write (see notify.go), so no retry, replica or copy of the job
// sends it twice.

// postmortemFacts are what the messages say of the post-mortem: what its
// notify step recorded. ok is false when nothing is told (no notifier,
// nobody to tell, or no post-mortem told yet).
func (x *run) postmortemFacts(ctx context.Context) (f notify.Facts, ok bool, err error) {
	if x.r.Notifier == nil {
		return f, false, nil
	}
	st, seen, err := x.checkpointOf(ctx, x.id, StepNotify)
	if err != nil || !seen || st.Status != store.StepDone {
		return f, false, err
	}
	if err := json.Unmarshal([]byte(st.Result), &f); err != nil || f.Key == "" {
		return f, false, nil
	}
	return f, true, nil
}

// tellReminder sends a reminder to the owner and the rules' recipients.
func (x *run) tellReminder(ctx context.Context, job store.ReminderJob, d store.Deadline) error {
	f, ok, err := x.postmortemFacts(ctx)
	if err != nil || !ok {
		return err
	}
	m := notify.Review(f)
	if job.Kind == store.ReminderOverdue {
		m = notify.Overdue(f, d.Status, job.N, job.N >= x.rules.Reminders.MaxOverdue)
	}
	return retryOnly(errors.Join(x.sendAll(ctx, fmt.Sprintf("notify_%s_%d", job.Kind, job.N), f, m, owner(f))...))
}

// tellReviewed sends the Reviewed message, with the results (the page's
// external message, when it has one), to the owner and the rules'
// recipients.
func (x *run) tellReviewed(ctx context.Context) error {
	f, ok, err := x.postmortemFacts(ctx)
	if err != nil || !ok {
		return err
	}
	results := ""
	if x.r.Jira != nil {
		page, err := x.r.Jira.Page(ctx, f.Key)
		if err != nil {
			return x.failRead(ctx, "notify_reviewed", err)
		}
		results, _ = render.ExternalMessage(page)
	}
	return retryOnly(errors.Join(x.sendAll(ctx, "notify_reviewed", f, notify.Reviewed(f, results), owner(f))...))
}

func owner(f notify.Facts) []string {
	if f.Owner == "" {
		return nil
	}
	return []string{f.Owner}
}
