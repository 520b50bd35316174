// Package workflow is aftermath's process: the steps that turn a resolved
// SEV incident into its post-mortem, and the jobs that follow it (messages,
// reminders, status changes). Resolution lists the steps in order; each step
// is a method in the file named after it. The queue package runs Resolution
// as its Processor, with the locks, heartbeats and retries.
package workflow

import (
	"context"
	"log/slog"
	"time"

	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// Event types the resolution workflow acts on: PagerDuty's, and aftermath's
// own jobs (store.EventReminder, store.EventStatus).
const (
	EventResolved  = "incident.resolved"
	EventTriggered = "incident.triggered"
)

// Resolution is the resolution workflow: the queue.Processor that turns a
// resolved SEV incident into its post-incident process (docs/workflow.md).
type Resolution struct {
	PagerDuty PagerDuty
	Store     Store
	// Jira keeps the post-mortem (epic, page, follow-ups). Without it the
	// post-mortem, member notes and link-back are skipped.
	Jira Jira
	Mode Mode
	Log  *slog.Logger
	Now  func() time.Time
	// Metrics counts the reminders and messages (nil: not counted).
	Metrics *Metrics
	// Notifier sends email and Slack messages (nil: nobody is told).
	Notifier Notifier
	// MemberLockWait bounds how long a member's note waits for the
	// member's own processing to release its lock (10s).
	MemberLockWait time.Duration
	// SearchLag is how long Jira's search may trail a create
	// (DefaultSearchLag).
	SearchLag time.Duration
	// Freshness is how long after its occurred_at a resolve webhook's
	// incident is used instead of reading it (DefaultFreshness; negative:
	// always read).
	Freshness time.Duration
	// Confluence keeps the post-mortem page when the rules say
	// page.target: confluence (nil: the page stays in the epic).
	Confluence Confluence
	// OverviewURL is the overview page on aftermath's public address
	// (AFTERMATH_PUBLIC_URL + /postmortems), which the digest links to; ""
	// names the path only.
	OverviewURL string
}

// Process implements queue.Processor.
func (r *Resolution) Process(ctx context.Context, job queue.Job) error {
	_, err := r.process(ctx, job)
	return err
}

func (r *Resolution) process(ctx context.Context, job queue.Job) (*Plan, error) {
	d := job.Delivery
	x := r.newRun(d.IncidentID, d.EventType, d.EventID, job.Rules, job.Log)
	x.body = d.Body
	if err := x.dispatch(ctx); err != nil {
		if x.progress {
			err = progressError{err}
		}
		return x.plan, err
	}
	return x.plan, x.store.RecordEvent(ctx, d.IncidentID, store.EventRecord{
		EventID: d.EventID, EventType: d.EventType, WebhookID: d.WebhookID, EntryID: job.EntryID,
		OccurredAt: d.OccurredAt, ReceivedAt: d.ReceivedAt, ProcessedAt: r.now(),
	})
}

// Plan works out what processing the incident's resolution would do under
// rl, reading PagerDuty and Redis and writing nothing anywhere. An incident
// still open is planned as if it resolved now.
func (r *Resolution) Plan(ctx context.Context, incidentID string, rl *rules.Rules) (*Plan, error) {
	p := *r
	p.Mode = PlanOnly
	x := p.newRun(incidentID, EventResolved, "", rl, nil)
	x.openOK = true
	return x.plan, x.dispatch(ctx)
}

func (r *Resolution) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (x *run) dispatch(ctx context.Context) error {
	switch x.event {
	case EventResolved:
		return x.resolved(ctx)
	case EventTriggered:
		return x.merge(at(ctx, StepMerge))
	case store.EventReminder:
		return x.remind(at(ctx, "reminder"))
	case store.EventFollowupReminder:
		return x.remindFollowup(at(ctx, StepFollowupReminder))
	case store.EventStatus:
		return x.statusChanged(at(ctx, "status"))
	case EventNotify:
		return x.sendCreated(at(ctx, StepNotify))
	case store.EventDigest:
		return x.digest(at(ctx, StepDigest))
	default:
		return x.trace(ctx, StepEvent, store.StepSkipped, "event type "+x.event+" needs no processing", "")
	}
}

// resolved is the post-incident process of a resolved incident, step by
// step, as docs/workflow.md tells it.
func (x *run) resolved(ctx context.Context) error {
	in, proceed, err := x.severity(at(ctx, StepSeverity))
	if err != nil {
		return err
	}
	if !proceed {
		// Skipped: it may recur an earlier post-mortem all the same (an
		// incident attached to another group is left to its primary).
		_, err := x.recurrence(at(ctx, StepRecurrence), in, nil)
		return err
	}
	members, proceed, err := x.group(at(ctx, StepGroup), in)
	if err != nil {
		return err
	}
	earlier, err := x.recurrence(at(ctx, StepRecurrence), in, members)
	if err != nil || !proceed {
		return err
	}
	final, err := x.finalSeverity(at(ctx, StepFinalSeverity), in, members)
	if err != nil {
		return err
	}
	if err := x.resolveMembers(at(ctx, StepResolveMembers), members); err != nil {
		return err
	}
	logs, tl, err := x.timeline(at(ctx, StepTimeline), in, members)
	if err != nil {
		return err
	}
	owner, ownerNote, err := x.owner(at(ctx, StepOwner), in, logs)
	if err != nil {
		return err
	}
	pm := x.postmortemOf(ctx, in, members, final, tl, logs, owner, ownerNote)
	pm.Earlier = earlier
	ref, made, err := x.postmortem(at(ctx, StepPostmortem), pm)
	if err != nil || !made {
		return err
	}
	if err := x.deadlines(at(ctx, StepDeadlines), in, members, ref, pm); err != nil {
		return err
	}
	if err := x.indexByService(at(ctx, StepDeadlines)); err != nil {
		return err
	}
	if err := x.notify(at(ctx, StepNotify), in, members, logs, tl, ref, pm); err != nil {
		return err
	}
	if err := x.memberNotes(at(ctx, StepMemberNotes), in, ref); err != nil {
		return err
	}
	if err := x.linkBack(at(ctx, StepLinkBack), in, members, ref); err != nil {
		return err
	}
	return x.confluencePage(at(ctx, StepConfluencePage), ref)
}
