package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// Telling people. The resolution's notify step only queues a job of its
// own (EventNotify) holding what the messages say: sending mail and Slack
// messages, and retrying them with the queue's backoff, never delays the
// post-mortem's other steps. Each message to each recipient is its own
// once write (checkpoint.go): the SMTP relay and Slack cannot be asked
// whether a message arrived, so a message whose earlier attempt may have
// been sent (a crash between sending and recording, an answer lost) is not
// sent again, and one the server refused (Unapplied) is. A recipient that
// refuses for good is recorded failed on its step and the others go on; a
// failure a retry can fix fails the job, which the worker retries, and the
// messages already sent are skipped.

// EventNotify is the job that sends a new post-mortem's messages.
const EventNotify = "aftermath.notify"

// Notifier is what the workflow needs to tell people: email and Slack
// incoming webhooks (integrations/notify).
type Notifier interface {
	MailEnabled() bool
	Email(ctx context.Context, e notify.Email) error
	// Slack posts to the webhook whose URL is in the environment variable env.
	Slack(ctx context.Context, env string, m notify.SlackMessage) error
}

// notifyJob queues the new post-mortem's messages (the creation message to
// the rules' recipients, the calendar hold to the owner) as a job of their
// own. The job's facts are the step's result: reminders and the Reviewed
// message read them there.
func (x *run) notify(ctx context.Context, in pagerduty.Incident, members []Member, logs map[string]incidentLog, tl Timeline, ref PostmortemRef, pm Postmortem) error {
	if x.r.Notifier == nil {
		return x.trace(ctx, StepNotify, store.StepSkipped, "no notifier is configured", "")
	}
	if !x.r.Notifier.MailEnabled() && len(x.rules.Notify) == 0 {
		return x.trace(ctx, StepNotify, store.StepSkipped, "nobody to tell: no SMTP_ADDR and no notify entries", "")
	}
	f := x.factsOf(in, ref, pm)
	body, _ := json.Marshal(f)
	_, err := x.write(ctx, write{incident: x.id, name: StepNotify, intent: fmt.Sprintf("queue the messages of %s (%d invitees)", ref.Key, len(f.Invitees)),
		do: func(ctx context.Context) (string, error) {
			// Queued once per incident: the event ID is the dedupe key.
			_, err := x.store.Enqueue(ctx, store.Delivery{EventID: EventNotify + ":" + x.id, EventType: EventNotify, IncidentID: x.id,
				OccurredAt: x.r.now(), ReceivedAt: x.r.now(), Body: body})
			return string(body), err
		}})
	return err
}

// factsOf is what the messages say of the post-mortem.
func (x *run) factsOf(in pagerduty.Incident, ref PostmortemRef, pm Postmortem) notify.Facts {
	return notify.Facts{
		Incident: in.ID, Number: in.Number, Title: in.Title, IncidentURL: in.HTMLURL, Severity: pm.Severity, Services: pm.Services,
		Key: ref.Key, EpicURL: ref.URL, Owner: ref.Owner, TriggeredAt: in.CreatedAt, ResolvedAt: x.resolvedAt(in),
		ReviewDue: pm.ReviewDue, MeetingDue: pm.MeetingDue, TZ: x.rules.Location().String(), Invitees: pm.Invitees,
	}
}

// sendCreated runs an EventNotify job: the creation message to every
// matching recipient, and the meeting's hold to the owner.
func (x *run) sendCreated(ctx context.Context) error {
	var f notify.Facts
	if err := json.Unmarshal(x.body, &f); err != nil || f.Key == "" {
		return Permanent(fmt.Errorf("notify job of %s: not a post-mortem's facts: %q", x.id, x.body))
	}
	if x.r.Notifier == nil {
		return x.trace(ctx, "notify_created", store.StepSkipped, "no notifier is configured", "")
	}
	errs := x.sendAll(ctx, "notify_created", f, notify.Created(f), nil)
	if f.Owner != "" && x.r.Notifier.MailEnabled() && !f.MeetingDue.IsZero() {
		start := notify.MeetingSlot(f.MeetingDue, x.rules.Location(), x.rules.IsBusinessDay)
		m := notify.MeetingHold(f)
		e := notify.Email{To: []string{f.Owner}, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
			Attachments: []notify.Attachment{{Name: "postmortem-" + f.Key + ".ics", ContentType: "text/calendar; method=REQUEST; charset=utf-8",
				Data: notify.Hold(f, start, x.r.now(), f.Owner)}}}
		errs = append(errs, x.send(ctx, "notify_created_hold", "send the meeting hold for "+x.at(start)+" to the owner", "email",
			func(ctx context.Context) error { return x.r.Notifier.Email(ctx, e) }))
	}
	return retryOnly(errors.Join(errs...))
}

// sendAll sends m to the owner (to, when not "") and the rules' matching
// recipients, each one step named prefix_email_N or prefix_slack_N.
func (x *run) sendAll(ctx context.Context, prefix string, f notify.Facts, m notify.Message, to []string) []error {
	var errs []error
	if len(to) > 0 && x.r.Notifier.MailEnabled() {
		e := notify.Email{To: to, Subject: m.Subject, Text: m.Text, HTML: m.HTML}
		errs = append(errs, x.send(ctx, prefix+"_email_owner", "email the owner: "+m.Subject, "email",
			func(ctx context.Context) error { return x.r.Notifier.Email(ctx, e) }))
	}
	for i, n := range x.rules.NotifyFor(f.Severity, f.Services) {
		switch {
		case len(n.Email) > 0 && x.r.Notifier.MailEnabled():
			e := notify.Email{To: n.Email, Subject: m.Subject, Text: m.Text, HTML: m.HTML}
			errs = append(errs, x.send(ctx, fmt.Sprintf("%s_email_%d", prefix, i+1), fmt.Sprintf("email %d recipients: %s", len(n.Email), m.Subject), "email",
				func(ctx context.Context) error { return x.r.Notifier.Email(ctx, e) }))
		case n.SlackWebhookEnv != "":
			env := n.SlackWebhookEnv
			errs = append(errs, x.send(ctx, fmt.Sprintf("%s_slack_%d", prefix, i+1), "post to Slack ("+env+"): "+m.Subject, "slack",
				func(ctx context.Context) error { return x.r.Notifier.Slack(ctx, env, m.Slack) }))
		}
	}
	return errs
}

// send is one message, a once write. A message refused for good is
// recorded on its step and not tried again; the error is returned for the
// caller to tell apart (retryOnly).
func (x *run) send(ctx context.Context, step, intent, channel string, do func(context.Context) error) error {
	if prev, seen, err := x.checkpointOf(ctx, x.id, step); err != nil {
		return err
	} else if seen && prev.Status == store.StepFailed && prev.Refused {
		// Refused as such earlier: recorded, not tried again. (A record
		// of the release before Refused is tried once more: a refused
		// message was not sent, so that sends nothing twice.)
		return nil
	}
	res, err := x.write(ctx, write{incident: x.id, name: step, intent: intent, once: true,
		do: func(ctx context.Context) (string, error) { return "sent", do(ctx) }})
	switch {
	case err != nil:
		x.r.Metrics.notification(channel, "failed")
		x.log.Warn("a message failed", "step", step, "err", err)
	case res == MaybeWritten:
		x.r.Metrics.notification(channel, "unknown")
	case res != "": // "" is a dry run's planned write
		x.r.Metrics.notification(channel, "sent")
	}
	return err
}

// retryOnly keeps the errors a retry can fix: a permanent failure is
// recorded on its step and must not fail the job (the other messages went).
func retryOnly(err error) error {
	if err == nil {
		return nil
	}
	var keep []error
	for _, e := range unjoin(err) {
		if !IsPermanent(e) && retryable(e) {
			keep = append(keep, e)
		}
	}
	return errors.Join(keep...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

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
		// Where people write it: the Confluence page when the page lives there.
		page, _, err := x.reviewedPage(ctx, f.Key)
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
