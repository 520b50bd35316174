// Package workflow is aftermath's process: the steps that turn a resolved
// SEV incident into its post-mortem, and the jobs that follow it (messages,
// reminders, status changes). Resolution lists the steps in order; each step
// is a method in the file named after it. The queue package runs Resolution
// as its Processor, with the locks, heartbeats and retries.
package workflow

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/internal/outbound"
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

// Step names, as the incident record shows them. Each step is a method in
// the file named after it.
const (
	StepSeverity       = "severity"        // severity.go (trace)
	StepGroup          = "group"           // group.go (trace)
	StepFinalSeverity  = "final_severity"  // final_severity.go
	StepResolveMembers = "resolve_members" // resolve_members.go
	StepTimeline       = "timeline"        // timeline.go (trace)
	StepOwner          = "owner"           // owner.go (trace)
	StepPostmortem     = "postmortem"      // postmortem.go (trace): the steps below
	StepEpic           = "epic"            // epic.go
	StepFollowups      = "followups"       // followups.go
	StepEpicPage       = "epic_page"       // page.go
	StepEpicPageRest   = "epic_page_rest"  // page.go: what the page leaves out, one comment per part (epic_page_rest_1, ...)
	StepEpicIncidents  = "epic_incidents"  // epic.go: the labels of incidents that joined later, one step per set
	StepOwnerComment   = "owner_comment"   // owner.go
	StepDeadlines      = "deadlines"       // deadlines.go (trace)
	StepNotify         = "notify"          // notify.go: queues the messages' job (EventNotify), whose steps are notify_created_*
	StepMemberNotes    = "member_notes"    // member_notes.go (trace)
	StepMemberNote     = "member_note"     // member_notes.go, in the member's own record
	StepEpicAttach     = "epic_attach"     // attach.go, in a late member's record
	StepLinkBack       = "link_back"       // link_back.go
	StepMerge          = "merge"           // merge.go, for incident.triggered
	StepEvent          = "event"           // an event type that needs nothing (trace)
	// A reminder's step is named after it (reminder_review_1,
	// reminder_overdue_2: reminders.go), and so is the liaison's comment
	// (status.go).
	StepLiaison = "liaison_comment"
	// StepLanguageReview is the comment listing "outage" in the External
	// section and blame-shaped phrases, when the post-mortem goes to In
	// Review (status.go).
	StepLanguageReview = "language_review"
)

// Mode says what a run may write.
type Mode int

const (
	// Live writes to PagerDuty (and Jira) and records every step.
	Live Mode = iota
	// DryRun reads PagerDuty, writes nothing outside and records the plan
	// (AFTERMATH_DRY_RUN).
	DryRun
	// PlanOnly reads PagerDuty and Redis and writes nothing anywhere
	// (aftermath plan).
	PlanOnly
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

// run is one attempt at one incident. Steps share what they found through
// its fields and their return values.
type run struct {
	r      *Resolution
	store  Store // read-only in a dry run or a plan
	dry    bool  // writes nothing outside: only write and writeBulk look
	openOK bool  // plan an open incident as if it resolved now
	// progress is set once this attempt did an outside write (or found one
	// an earlier attempt did).
	progress bool
	rules    *rules.Rules
	id       string
	eventID  string
	event    string
	body     []byte // the queued event's body: aftermath's own jobs carry their parameters in it
	log      *slog.Logger
	plan     *Plan
	steps    map[string]map[string]store.StepRecord // checkpoints read, by incident, then step
	// own is aftermath's own PagerDuty user, when the timeline step had
	// reason to ask who it is (ownUserIn).
	own ownUser
}

func (r *Resolution) newRun(incidentID, eventType, eventID string, rl *rules.Rules, log *slog.Logger) *run {
	if rl == nil {
		rl = rules.Builtin()
	}
	if log == nil {
		// The worker's logger names the incident already.
		log = cmp.Or(r.Log, slog.New(slog.DiscardHandler)).With("incident", incidentID)
	}
	x := &run{
		r: r, store: r.Store, rules: rl, id: incidentID, eventID: eventID, event: eventType, log: log,
		plan:  &Plan{IncidentID: incidentID, Event: eventType, Mode: r.Mode},
		steps: map[string]map[string]store.StepRecord{},
	}
	if r.Mode != Live {
		x.store, x.dry = readOnly{Store: r.Store, plan: r.Mode == PlanOnly}, true
	}
	return x
}

func (x *run) dispatch(ctx context.Context) error {
	switch x.event {
	case EventResolved:
		return x.resolved(ctx)
	case EventTriggered:
		return x.merge(at(ctx, StepMerge))
	case store.EventReminder:
		return x.remind(at(ctx, "reminder"))
	case store.EventStatus:
		return x.statusChanged(at(ctx, "status"))
	case EventNotify:
		return x.sendCreated(at(ctx, StepNotify))
	default:
		return x.trace(ctx, StepEvent, store.StepSkipped, "event type "+x.event+" needs no processing", "")
	}
}

// resolved is the post-incident process of a resolved incident, step by
// step, as docs/workflow.md tells it.
func (x *run) resolved(ctx context.Context) error {
	in, proceed, err := x.severity(at(ctx, StepSeverity))
	if err != nil || !proceed {
		return err
	}
	members, proceed, err := x.group(at(ctx, StepGroup), in)
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
	ref, made, err := x.postmortem(at(ctx, StepPostmortem), pm)
	if err != nil || !made {
		return err
	}
	if err := x.deadlines(at(ctx, StepDeadlines), in, members, ref, pm); err != nil {
		return err
	}
	if err := x.notify(at(ctx, StepNotify), in, members, logs, tl, ref, pm); err != nil {
		return err
	}
	if err := x.memberNotes(at(ctx, StepMemberNotes), in, ref); err != nil {
		return err
	}
	return x.linkBack(at(ctx, StepLinkBack), in, members, ref)
}

// at names the step the requests made under ctx belong to, for
// aftermath_api_requests_total; a write names its own (write, writeBulk).
// Names that carry an incident set or a count are labelled by their kind
// (epic_incidents_P1_P2 as epic_incidents, reminder_overdue_2 as
// reminder_overdue), so the label's values stay few.
func at(ctx context.Context, step string) context.Context {
	if strings.HasPrefix(step, StepEpicIncidents) {
		step = StepEpicIncidents
	}
	for {
		i := strings.LastIndexByte(step, '_')
		if i <= 0 || strings.Trim(step[i+1:], "0123456789") != "" || i == len(step)-1 {
			break
		}
		step = step[:i]
	}
	return outbound.WithStep(ctx, step)
}

// resolvedAt is when the incident resolved, or now while it is open.
func (x *run) resolvedAt(in pagerduty.Incident) time.Time {
	if !in.ResolvedAt.IsZero() {
		return in.ResolvedAt
	}
	if in.Open() {
		return x.r.now()
	}
	return in.CreatedAt
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
