package workflow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// remind runs a reminder the deadline scheduler queued: a comment on the
// epic that mentions the owner. It is a checkpointed write named after the
// reminder, so a retry, a second replica or a second copy of the job never
// comments twice; a post-mortem that reached Reviewed or Closed meanwhile
// gets none.
func (x *run) remind(ctx context.Context) error {
	var job store.ReminderJob
	if err := json.Unmarshal(x.body, &job); err != nil || job.Kind == "" || job.N < 1 {
		return Permanent(fmt.Errorf("reminder job of %s: not a reminder: %q", x.id, x.body))
	}
	step := fmt.Sprintf("reminder_%s_%d", job.Kind, job.N)
	d, found, err := x.store.Deadline(ctx, x.id)
	switch {
	case err != nil:
		return err
	case !found:
		return x.trace(ctx, step, store.StepSkipped, "no post-mortem of "+x.id+" is tracked", "")
	case d.Status == store.StatusReviewed || d.Status == store.StatusClosed:
		x.r.Metrics.reminder("skipped")
		return x.trace(ctx, step, store.StepSkipped, "the post-mortem is "+d.Status+": no more reminders", "")
	case x.r.Jira == nil:
		return x.trace(ctx, step, store.StepSkipped, "Jira is not configured", "")
	}
	who, err := x.mention(ctx, d.OwnerJira)
	if err != nil {
		return x.failRead(ctx, step, err)
	}
	r := render.Reminder{Review: job.Kind == store.ReminderReview, N: job.N, Last: job.N >= x.rules.Reminders.MaxOverdue, Mention: who,
		MeetingDue: d.MeetingDue, Status: d.Status, Zone: x.rules.Location()}
	marker := commentMarker("reminder-"+job.Kind+"-"+fmt.Sprint(job.N), x.id)
	text := render.ReminderComment(r, marker)
	_, err = x.write(ctx, write{
		incident: x.id, name: step, intent: fmt.Sprintf("remind the owner on %s: %s", d.Key, r.What()),
		lookup: x.findComment(d.Key, marker),
		do:     func(ctx context.Context) (string, error) { return d.Key, x.r.Jira.AddComment(ctx, d.Key, text) },
	})
	if err != nil {
		x.r.Metrics.reminder("failed")
		return err
	}
	x.r.Metrics.reminder("sent")
	if err := x.store.NoteReminder(ctx, x.id, store.Sent{Kind: job.Kind, N: job.N, At: x.r.now(), Note: "comment on " + d.Key}); err != nil {
		return err
	}
	return x.tellReminder(ctx, job, d)
}

// mention is the markup that mentions the owner; "" when there is none.
func (x *run) mention(ctx context.Context, jiraID string) (string, error) {
	if jiraID == "" {
		return "", nil
	}
	return x.r.Jira.Mention(ctx, jiraID)
}
