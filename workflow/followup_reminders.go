package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// StepFollowupReminder names an overdue follow-up's reminder, in its
// post-mortem's record: followup_reminder_<ticket>_<due date>_<number>
// (followup_reminder_PM-7_20261220_1).
const StepFollowupReminder = "followup_reminder"

// What became of a follow-up reminder (aftermath_followup_reminders_total).
const (
	fuReminderSent    = "sent"
	fuReminderDone    = "skipped_done"  // done or deleted since it was queued
	fuReminderMoved   = "skipped_moved" // its due date moved since it was queued
	fuReminderUnknown = "skipped_unknown"
	fuReminderFailed  = "failed"
)

// remindFollowup runs an overdue follow-up's reminder, which the deadline
// keeper queued (store.ClaimFollowupReminder): one comment on the ticket
// naming its post-mortem and how late it is, mentioning the assignee. It is
// a checkpointed write named after the ticket, its due date and the
// reminder's number, whose lookup is the comment's marker: a retry, a
// second replica, a second copy of the job or a worker killed after the
// claim never comments twice. A follow-up the index shows done, deleted or
// due on another date since the job was queued gets none.
func (x *run) remindFollowup(ctx context.Context) error {
	var job store.FollowupReminderJob
	if err := json.Unmarshal(x.body, &job); err != nil || job.Key == "" || job.N < 1 {
		return Permanent(fmt.Errorf("follow-up reminder job of %s: not a follow-up reminder: %q", x.id, x.body))
	}
	due, err := time.Parse(time.DateOnly, job.Due)
	if err != nil {
		return Permanent(fmt.Errorf("follow-up reminder job of %s: due date %q: %w", x.id, job.Due, err))
	}
	compact := strings.ReplaceAll(job.Due, "-", "")
	step := fmt.Sprintf("%s_%s_%s_%d", StepFollowupReminder, job.Key, compact, job.N)
	fus, err := x.store.Followups(ctx, x.id)
	if err != nil {
		return err
	}
	var f store.Followup
	for _, g := range fus {
		if g.Key == job.Key {
			f = g
		}
	}
	skip := func(outcome, why string) error {
		x.r.Metrics.followupReminder(outcome)
		return x.trace(ctx, step, store.StepSkipped, why, "")
	}
	switch {
	case f.Key == "":
		return skip(fuReminderUnknown, job.Key+" is not among the follow-ups of "+x.id)
	case f.Done || f.Deleted:
		return skip(fuReminderDone, job.Key+" is done or deleted: no more reminders")
	case !f.Due.Equal(due):
		return skip(fuReminderMoved, fmt.Sprintf("%s is now due %s, not %s: its reminders follow the new date", job.Key, dateOrNone(f.Due), job.Due))
	case x.r.Jira == nil:
		return x.trace(ctx, step, store.StepSkipped, "Jira is not configured", "")
	}
	d, found, err := x.store.Deadline(ctx, x.id)
	if err != nil {
		return err
	}
	if !found {
		return skip(fuReminderUnknown, "no post-mortem of "+x.id+" is tracked")
	}
	who, err := x.assigneeMention(ctx, f.Assignee)
	if err != nil {
		return x.failRead(ctx, step, err)
	}
	r := render.FollowupReminder{Mention: who, Epic: d.Key, Number: d.Number, Title: d.Title, URL: d.EpicURL, Due: due,
		DaysLate: daysLate(due, x.r.now(), x.rules.Location()), N: job.N, Max: x.rules.Followups.MaxReminders}
	marker := commentMarker("followup-reminder-"+compact+"-"+fmt.Sprint(job.N), f.Key)
	text := render.FollowupReminderComment(r, marker)
	_, err = x.write(ctx, write{
		incident: x.id, name: step,
		intent: fmt.Sprintf("remind on %s that it was due %s (reminder %d)", f.Key, job.Due, job.N),
		lookup: x.findComment(f.Key, marker),
		do:     func(ctx context.Context) (string, error) { return f.Key, x.r.Jira.AddComment(ctx, f.Key, text) },
	})
	if err != nil {
		x.r.Metrics.followupReminder(fuReminderFailed)
		return err
	}
	if x.dry {
		return nil
	}
	x.r.Metrics.followupReminder(fuReminderSent)
	return x.store.NoteFollowupReminder(ctx, x.id, job)
}

// assigneeMention is the markup that mentions a follow-up's assignee, as
// the index keeps it (email, or the Jira user ID when Jira hides the
// email); "" when nobody is assigned or the email maps to no Jira user.
func (x *run) assigneeMention(ctx context.Context, assignee string) (string, error) {
	if assignee == "" {
		return "", nil
	}
	if !strings.Contains(assignee, "@") {
		return x.r.Jira.Mention(ctx, assignee)
	}
	u, found, err := x.r.Jira.UserByEmail(ctx, assignee)
	if err != nil || !found {
		return "", err
	}
	return x.r.Jira.Mention(ctx, u.ID)
}

// daysLate is how many days after the date due now is, in zone: 1 on the
// day after.
func daysLate(due, now time.Time, zone *time.Location) int {
	y, m, d := now.In(zone).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return max(1, int(today.Sub(due).Hours()/24))
}

func dateOrNone(t time.Time) string {
	if t.IsZero() {
		return "no date"
	}
	return t.Format(time.DateOnly)
}

// NoteFollowupReminder records nothing.
func (s readOnly) NoteFollowupReminder(context.Context, string, store.FollowupReminderJob) error {
	return nil
}
