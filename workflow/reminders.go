package workflow

import (
	"context"
	"encoding/json"
	"fmt"

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
	marker := commentMarker("reminder-"+job.Kind+"-"+fmt.Sprint(job.N), x.id)
	text := x.reminderText(job, d, who) + "\n" + marker
	_, err = x.write(ctx, write{
		incident: x.id, name: step, intent: fmt.Sprintf("remind the owner on %s: %s", d.Key, reminderWhat(job)),
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

// mention is the markup that mentions the owner, or says there is none.
func (x *run) mention(ctx context.Context, jiraID string) (string, error) {
	if jiraID == "" {
		return "Nobody owns this post-mortem yet: whoever picks it up,", nil
	}
	return x.r.Jira.Mention(ctx, jiraID)
}

func reminderWhat(job store.ReminderJob) string {
	if job.Kind == store.ReminderReview {
		return "the review is due"
	}
	return fmt.Sprintf("the meeting is overdue (reminder %d)", job.N)
}

// reminderText is the comment's words.
func (x *run) reminderText(job store.ReminderJob, d store.Deadline, who string) string {
	if job.Kind == store.ReminderReview {
		return fmt.Sprintf("%s the draft of this post-mortem is due for review now: post it for review before the post-mortem meeting, due %s.",
			who, x.at(d.MeetingDue))
	}
	last := ""
	if job.N >= x.rules.Reminders.MaxOverdue {
		last = " This is the last reminder."
	}
	return fmt.Sprintf("%s the post-mortem meeting was due %s, and the post-mortem is still %s. Hold the meeting and move this epic to Reviewed (%s).%s",
		who, x.at(d.MeetingDue), d.Status, reminderWhat(job), last)
}
