package workflow

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
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
	StepEpicPage       = "epic_page"       // epic_page.go
	StepEpicPageRest   = "epic_page_rest"  // epic_page.go: what the page leaves out, one comment per part (epic_page_rest_1, ...)
	StepEpicIncidents  = "epic_incidents"  // epic.go: the labels of incidents that joined later, one step per set (epic_incidents_<digest of the set>)
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
	// reminder_overdue_2: reminders.go).
	// StepLiaison is the comment asking the customer liaison to post the
	// page's external message, when the post-mortem is Reviewed
	// (liaison_comment.go).
	StepLiaison = "liaison_comment"
	// StepLanguageReview is the comment listing "outage" in the External
	// section and blame-shaped phrases, when the post-mortem goes to In
	// Review (language_review.go).
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
	// confluence is the page for Confluence (confluence_page.go).
	confluence confluenceDraft
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

// at names the step the requests made under ctx belong to, for
// aftermath_api_requests_total; a write names its own (write, writeBulk).
// Names that stand for an incident set or carry a count are labelled by their kind
// (epic_incidents_3f2a... as epic_incidents, reminder_overdue_2 as
// reminder_overdue), so the label's values stay few.
func at(ctx context.Context, step string) context.Context {
	if strings.HasPrefix(step, StepEpicIncidents) {
		step = StepEpicIncidents
	}
	if strings.HasPrefix(step, StepFollowupReminder) {
		step = StepFollowupReminder
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

// at formats a time for people, in the rules' zone.
func (x *run) at(t time.Time) string {
	return render.At(t, x.rules.Location())
}
