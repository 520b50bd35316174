package workflow

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// Event types the resolution workflow acts on.
const (
	EventResolved  = "incident.resolved"
	EventTriggered = "incident.triggered"
)

// Step names, as the incident record shows them.
const (
	StepSeverity       = "severity"
	StepGroup          = "group"
	StepFinalSeverity  = "final_severity"
	StepResolveMembers = "resolve_members"
	StepTimeline       = "timeline"
	StepOwner          = "owner"
	StepPostmortem     = "postmortem"
	StepMemberNotes    = "member_notes"
	StepMemberNote     = "member_note" // in the member's own record
	StepLinkBack       = "link_back"
	StepMerge          = "merge"
	StepEvent          = "event"
)

// PagerDuty is what the workflow needs of PagerDuty.
type PagerDuty interface {
	Incident(ctx context.Context, id string) (pagerduty.Incident, error)
	Incidents(ctx context.Context, serviceIDs []string, since, until time.Time) ([]pagerduty.Incident, error)
	Related(ctx context.Context, id string) ([]string, error)
	LogEntries(ctx context.Context, id string, overview bool) ([]pagerduty.LogEntry, error)
	Notes(ctx context.Context, id string) ([]pagerduty.Note, error)
	User(ctx context.Context, id string) (pagerduty.User, error)
	PriorityByName(ctx context.Context, name string) (pagerduty.Priority, error)
	AddNote(ctx context.Context, id, content string) (pagerduty.Note, error)
	SetPriority(ctx context.Context, id, priorityID string) error
	Resolve(ctx context.Context, ids []string) error
	Merge(ctx context.Context, targetID string, sourceIDs []string) (pagerduty.Incident, error)
}

// Postmortems makes the post-mortem of a group (a Jira epic).
type Postmortems interface {
	// Ensure returns the group's post-mortem, creating it if it does not
	// exist yet. Called again after a failure or a crash, it must find
	// what an earlier call created rather than create it twice.
	Ensure(ctx context.Context, pm Postmortem) (PostmortemRef, error)
}

// PostmortemRef is a post-mortem once it exists.
type PostmortemRef struct {
	Key        string    `json:"key"`
	URL        string    `json:"url"`
	Owner      string    `json:"owner,omitempty"` // the owner's email
	MeetingDue time.Time `json:"meeting_due,omitzero"`
	// Incidents are the group's incidents the post-mortem was made with.
	Incidents []string `json:"incidents,omitempty"`
}

// Postmortem is what is known of a group when its post-mortem is made: the
// typed value the Jira side renders into the post-mortem page.
type Postmortem struct {
	Primary    pagerduty.Incident `json:"primary"`
	Members    []Member           `json:"members"`
	Severity   string             `json:"severity"` // the group's final severity
	Timeline   Timeline           `json:"timeline"`
	Owner      Owner              `json:"owner"`
	OwnerNote  string             `json:"owner_note,omitempty"` // why there is no owner
	MeetingDue time.Time          `json:"meeting_due,omitzero"`
	ReviewDue  time.Time          `json:"review_due,omitzero"`
}

// Member is an incident grouped under a primary.
type Member struct {
	Incident pagerduty.Incident `json:"incident"`
	Severity string             `json:"severity,omitempty"` // "" when its priority maps to none
}

// Owner is who owns a post-mortem, and where that came from.
type Owner struct {
	Email  string `json:"email,omitempty"`
	Name   string `json:"name,omitempty"`
	UserID string `json:"user_id,omitempty"` // the PagerDuty user, when the owner is one
	Source string `json:"source,omitempty"`  // override, resolver, last_assignee or fallback
	JiraID string `json:"jira_id,omitempty"` // the Jira user (accountId or name), when Jira matched one
}

// Checkpoints is what the workflow needs of the store.
type Checkpoints interface {
	Steps(ctx context.Context, incidentID string) (map[string]store.StepRecord, error)
	RecordStep(ctx context.Context, incidentID string, st store.StepRecord) error
	RecordEvent(ctx context.Context, incidentID string, ev store.EventRecord) error
	ClaimGroup(ctx context.Context, primary string, candidates []string) (store.IncidentGroup, error)
	GroupOf(ctx context.Context, id string) (store.IncidentGroup, bool, error)
	LockIncident(ctx context.Context, incidentID string, ttl time.Duration) (*store.Lock, error)
}

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

// Resolution is the resolution workflow: the Processor that turns a resolved
// SEV incident into its post-incident process. Each outside write is a step
// whose intent is recorded before it and whose result after it, so that a
// retry, a second replica or a restart after a crash resumes where the last
// attempt stopped and never writes twice.
type Resolution struct {
	PagerDuty PagerDuty
	Store     Checkpoints
	// Jira makes the post-mortem (epic, page, follow-ups). Postmortems is
	// the seam tests use instead; with neither, the post-mortem, member
	// notes and link-back are skipped.
	Jira        Jira
	Postmortems Postmortems
	Mode        Mode
	Log         *slog.Logger
	Now         func() time.Time
	// MemberLockWait bounds how long a member's note waits for the
	// member's own processing to release its lock (10s).
	MemberLockWait time.Duration
	// SearchLag is how long Jira's search may trail a create
	// (DefaultSearchLag).
	SearchLag time.Duration
}

// Process implements Processor.
func (r *Resolution) Process(ctx context.Context, job Job) error {
	d := job.Delivery
	if _, err := r.run(ctx, d.IncidentID, d.EventType, d.EventID, job.Rules); err != nil {
		return err
	}
	return r.Store.RecordEvent(ctx, d.IncidentID, store.EventRecord{
		EventID: d.EventID, EventType: d.EventType, WebhookID: d.WebhookID, EntryID: job.EntryID,
		OccurredAt: d.OccurredAt, ReceivedAt: d.ReceivedAt, ProcessedAt: r.now(),
	})
}

// Plan works out what processing the incident's resolution would do under
// rl, reading PagerDuty and Redis and writing nothing anywhere.
func (r *Resolution) Plan(ctx context.Context, incidentID string, rl *rules.Rules) (*Plan, error) {
	p := *r
	p.Mode = PlanOnly
	return p.run(ctx, incidentID, EventResolved, "", rl)
}

func (r *Resolution) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Resolution) run(ctx context.Context, incidentID, eventType, eventID string, rl *rules.Rules) (*Plan, error) {
	if rl == nil {
		rl = rules.Builtin()
	}
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &run{
		r: r, rules: rl, id: incidentID, eventID: eventID, log: log.With("incident", incidentID),
		plan:  &Plan{IncidentID: incidentID, Event: eventType, Mode: r.Mode},
		steps: map[string]map[string]store.StepRecord{},
	}
	var err error
	switch eventType {
	case EventResolved:
		err = x.resolved(ctx)
	case EventTriggered:
		err = x.triggered(ctx)
	default:
		err = x.record(ctx, incidentID, StepEvent, store.StepSkipped, "event type "+eventType+" needs no processing", "")
	}
	return x.plan, err
}

// run is one attempt at one incident.
type run struct {
	r       *Resolution
	rules   *rules.Rules
	id      string
	eventID string
	log     *slog.Logger
	plan    *Plan
	steps   map[string]map[string]store.StepRecord // by incident, then step
}

func (x *run) resolved(ctx context.Context) error {
	pd := x.r.PagerDuty
	in, err := pd.Incident(ctx, x.id)
	if err != nil {
		return x.failRead(ctx, StepSeverity, err)
	}
	x.plan.Incident = in
	if in.Open() && x.r.Mode == PlanOnly {
		x.plan.add(x.id, StepSeverity, "note", "the incident is still "+in.Status+": planned as if it resolved now")
	} else if in.Open() {
		// The webhook says resolved and PagerDuty says open: its API has
		// not caught up yet, or the incident was reopened. Retried with
		// backoff, then dead-lettered with this reason; never skipped.
		err := fmt.Errorf("PagerDuty shows incident %s %s, not resolved; will look again", x.id, in.Status)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := x.recordFull(rctx, x.id, store.StepRecord{Name: StepSeverity, Status: store.StepFailed, Error: err.Error()}); rerr != nil {
			return rerr
		}
		return err
	}

	sev, why, ok := x.rules.SeverityFor(in.PriorityName())
	x.plan.SeverityWhy = why
	g, inGroup, err := x.groupOf(ctx, x.id)
	if err != nil {
		return err
	}
	if inGroup && g.Primary != x.id {
		return x.attach(ctx, in, g)
	}
	isPrimary := inGroup && len(g.Members) > 1
	switch {
	case ok && x.rules.InProcess(sev.Name):
		x.plan.Severity = sev.Name
		if err := x.record(ctx, x.id, StepSeverity, store.StepDone, why, ""); err != nil {
			return err
		}
	case isPrimary:
		if ok {
			x.plan.Severity = sev.Name
		}
		if err := x.record(ctx, x.id, StepSeverity, store.StepDone, why+"; it is the primary of a group, whose highest severity decides", ""); err != nil {
			return err
		}
	default:
		reason := why
		if ok {
			x.plan.Severity = sev.Name
			reason = fmt.Sprintf("%s, which is not in process %v", why, x.rules.Process)
		}
		x.plan.Outcome = "skipped: " + reason
		return x.record(ctx, x.id, StepSeverity, store.StepSkipped, reason, "")
	}

	members, done, err := x.group(ctx, in)
	if err != nil || done {
		return err
	}
	x.plan.Primary = x.id
	final := x.finalSeverity(in, members)
	x.plan.FinalSeverity = final
	if err := x.setPriority(ctx, in, final); err != nil {
		return err
	}
	if err := x.resolveMembers(ctx, members); err != nil {
		return err
	}
	logs, tl, err := x.timeline(ctx, in, members)
	if err != nil {
		return err
	}
	x.plan.Timeline = &tl
	var accept func(context.Context, *Owner) (bool, error)
	if x.r.Jira != nil {
		accept = x.jiraUser
	}
	owner, ownerNote, err := x.owner(ctx, in, logs, accept)
	if err != nil {
		return err
	}
	x.plan.Owner = owner
	pm := Postmortem{Primary: in, Members: members, Severity: final, Timeline: tl, Owner: owner, OwnerNote: ownerNote}
	if due, err := x.rules.MeetingDeadline(final, x.resolvedAt(in)); err == nil {
		pm.MeetingDue = due
		pm.ReviewDue = x.rules.ReviewDeadline(due)
	}
	x.plan.MeetingDue = pm.MeetingDue
	ref, ok, err := x.postmortem(ctx, pm)
	if err != nil {
		return err
	}
	if !ok {
		why := "no post-mortem exists yet"
		if err := x.record(ctx, x.id, StepMemberNotes, store.StepSkipped, why+": member notes are written once it does", ""); err != nil {
			return err
		}
		return x.record(ctx, x.id, StepLinkBack, store.StepSkipped, why+": the link-back note is written once it does", "")
	}
	if err := x.memberNotes(ctx, in, ref); err != nil {
		return err
	}
	return x.linkBack(ctx, in, members, ref)
}

// group finds the incident's related incidents and claims the group. done
// is true when the incident turned out to be a member of another group.
func (x *run) group(ctx context.Context, in pagerduty.Incident) (members []Member, done bool, err error) {
	cands, notes, err := x.candidates(ctx, in)
	if err != nil {
		return nil, false, err
	}
	eligible, err := x.eligiblePrimaries(ctx, in, cands)
	if err != nil {
		return nil, false, err
	}
	primary := choosePrimary(x.rules, eligible)
	ids := []string{in.ID}
	for _, c := range cands {
		ids = append(ids, c.ID)
	}
	var g store.IncidentGroup
	if x.r.Mode == Live {
		g, err = x.r.Store.ClaimGroup(ctx, primary.ID, ids)
	} else {
		g, err = x.wouldClaim(ctx, primary.ID, ids)
	}
	if err != nil {
		return nil, false, err
	}
	if !slices.Contains(g.Members, in.ID) {
		// This incident already holds a group of its own (claimed by a
		// member that resolved first): that group is its truth.
		own, ok, err := x.groupOf(ctx, in.ID)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			own = store.IncidentGroup{Primary: in.ID, Members: []string{in.ID}}
		}
		g = own
	}
	if g.Primary != in.ID {
		return nil, true, x.attach(ctx, in, g)
	}
	byID := map[string]pagerduty.Incident{}
	for _, c := range cands {
		byID[c.ID] = c
	}
	var left []string
	for _, id := range g.Members {
		if id == in.ID {
			continue
		}
		c, ok := byID[id]
		if !ok {
			// Joined earlier by another incident's processing, and not
			// found by this search: read it.
			c, err = x.r.PagerDuty.Incident(ctx, id)
			if pagerduty.IsNotFound(err) {
				notes = append(notes, "member "+id+" no longer exists in PagerDuty")
				continue
			}
			if err != nil {
				return nil, false, x.failRead(ctx, StepGroup, err)
			}
		}
		members = append(members, Member{Incident: c, Severity: severityName(x.rules, c)})
	}
	for _, c := range cands {
		if !slices.Contains(g.Members, c.ID) {
			left = append(left, "#"+strconv.Itoa(c.Number))
		}
	}
	slices.SortFunc(members, func(a, b Member) int { return a.Incident.CreatedAt.Compare(b.Incident.CreatedAt) })
	x.plan.Members = members
	detail := "primary of a group of " + strconv.Itoa(len(members)+1)
	if len(members) == 0 {
		detail = "no related incidents; the incident is its own group"
	} else {
		var names []string
		for _, m := range members {
			names = append(names, fmt.Sprintf("#%d (%s, %s)", m.Incident.Number, orNone(m.Severity), m.Incident.Status))
		}
		detail += ": " + strings.Join(names, ", ")
	}
	if len(left) > 0 {
		detail += "; already in other groups: " + strings.Join(left, ", ")
	}
	if len(notes) > 0 {
		detail += "; " + strings.Join(notes, "; ")
	}
	return members, false, x.record(ctx, x.id, StepGroup, store.StepDone, detail, "")
}

// candidates are the incidents related to in: those of its scope created
// within the window of its lifetime, and PagerDuty's related incidents when
// the rules ask. notes say what could not be used.
func (x *run) candidates(ctx context.Context, in pagerduty.Incident) (cands []pagerduty.Incident, notes []string, err error) {
	pd := x.r.PagerDuty
	seen := map[string]bool{in.ID: true}
	if scope := x.rules.ScopeOf(in.Service.ID); scope != nil {
		w := x.rules.Window()
		// Earlier incidents still open when this one triggered are related
		// too: look back further, then keep the related ones.
		list, err := pd.Incidents(ctx, scope.Services, in.CreatedAt.Add(-w-lookback), x.resolvedAt(in).Add(w))
		if err != nil {
			return nil, nil, x.failRead(ctx, StepGroup, err)
		}
		for _, c := range list {
			if !seen[c.ID] && c.MergedInto == "" && x.related(in, c, w) {
				seen[c.ID] = true
				cands = append(cands, c)
			}
		}
	} else {
		notes = append(notes, "service "+in.Service.ID+" is in no grouping scope")
	}
	if x.rules.Grouping.RelatedIncidentsAPI {
		ids, err := pd.Related(ctx, in.ID)
		switch st := pagerduty.StatusOf(err); {
		case errors.Is(err, pagerduty.ErrUnavailable) || st == http.StatusForbidden || st == http.StatusNotFound:
			// 402: not on this plan; 403: not for this token; 404: not
			// for this incident. Grouping goes on without it.
			notes = append(notes, "PagerDuty's related incidents are not available on this account ("+err.Error()+")")
		case err != nil:
			return nil, nil, x.failRead(ctx, StepGroup, err)
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			c, err := pd.Incident(ctx, id)
			if pagerduty.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, nil, x.failRead(ctx, StepGroup, err)
			}
			// PagerDuty relates incidents across any time; an old one
			// is history, not part of this outage.
			if c.MergedInto == "" && x.related(in, c, x.rules.Window()) {
				cands = append(cands, c)
			}
		}
	}
	// Members an earlier processing put in this incident's group.
	if g, ok, err := x.groupOf(ctx, in.ID); err != nil {
		return nil, nil, err
	} else if ok && g.Primary == in.ID {
		for _, id := range g.Members {
			if !seen[id] {
				seen[id] = true
				c, err := pd.Incident(ctx, id)
				if err == nil {
					cands = append(cands, c)
				} else if !pagerduty.IsNotFound(err) {
					return nil, nil, x.failRead(ctx, StepGroup, err)
				}
			}
		}
	}
	return cands, notes, nil
}

// eligiblePrimaries are the incidents that may lead in's group: in itself,
// and the candidates whose own processing runs or ran as a primary: one still
// open whose severity is in process (its resolution will run the process), or
// one that already holds a group. A resolved candidate that holds none (it
// was skipped, dead-lettered, or resolved before aftermath saw it) may join
// the group but never lead it: nothing would ever run its process. When in
// already holds a group of its own, it stays its primary.
func (x *run) eligiblePrimaries(ctx context.Context, in pagerduty.Incident, cands []pagerduty.Incident) ([]pagerduty.Incident, error) {
	out := []pagerduty.Incident{in}
	if g, ok, err := x.groupOf(ctx, in.ID); err != nil {
		return nil, err
	} else if ok && g.Primary == in.ID {
		return out, nil
	}
	for _, c := range cands {
		if c.Open() {
			if sev := severityName(x.rules, c); sev != "" && x.rules.InProcess(sev) {
				out = append(out, c)
			}
			continue
		}
		if g, ok, err := x.groupOf(ctx, c.ID); err != nil {
			return nil, err
		} else if ok && g.Primary == c.ID {
			out = append(out, c)
		}
	}
	return out, nil
}

// lookback is how long before an incident triggered a related incident may
// have triggered: one whose lifetime, widened by the window, covers this
// one's start.
const lookback = 24 * time.Hour

// related reports whether a and b are related by time: one triggered within
// the window of the other's lifetime (from window before it triggered to
// window after it resolved, or until now while it is open).
func (x *run) related(a, b pagerduty.Incident, w time.Duration) bool {
	within := func(t time.Time, of pagerduty.Incident) bool {
		return !t.Before(of.CreatedAt.Add(-w)) && !t.After(x.resolvedAt(of).Add(w))
	}
	return within(b.CreatedAt, a) || within(a.CreatedAt, b)
}

// wouldClaim is ClaimGroup without writing: what the claim would return.
func (x *run) wouldClaim(ctx context.Context, primary string, ids []string) (store.IncidentGroup, error) {
	g, ok, err := x.groupOf(ctx, primary)
	if err != nil {
		return g, err
	}
	if !ok {
		g = store.IncidentGroup{Primary: primary, Members: []string{primary}}
	}
	for _, id := range ids {
		if slices.Contains(g.Members, id) {
			continue
		}
		if _, in, err := x.groupOf(ctx, id); err != nil {
			return g, err
		} else if !in {
			g.Members = append(g.Members, id)
		}
	}
	slices.Sort(g.Members)
	return g, nil
}

// attach records that in is a member of g: its own resolution starts no
// process. When the group's post-mortem already exists, in gets its member
// note now (the primary's processing may have run before in joined).
func (x *run) attach(ctx context.Context, in pagerduty.Incident, g store.IncidentGroup) error {
	x.plan.Primary = g.Primary
	pst, err := x.stepsOf(ctx, g.Primary)
	if err != nil {
		return err
	}
	pmStep, pmDone := pst[StepPostmortem]
	pmDone = pmDone && pmStep.Status == store.StepDone && pmStep.Result != ""
	var detail string
	switch {
	case pmDone:
		detail = "member of the group of " + g.Primary + "; attached to its post-mortem"
	default:
		detail = "member of the group of " + g.Primary + "; its post-mortem will include this incident"
	}
	x.plan.Outcome = detail
	if err := x.record(ctx, x.id, StepGroup, store.StepDone, detail, g.Primary); err != nil {
		return err
	}
	if !pmDone {
		return nil
	}
	var ref PostmortemRef
	if err := json.Unmarshal([]byte(pmStep.Result), &ref); err != nil {
		return Permanent(fmt.Errorf("decode the post-mortem of %s: %w", g.Primary, err))
	}
	primary, err := x.r.PagerDuty.Incident(ctx, g.Primary)
	if err != nil {
		return x.failRead(ctx, StepMemberNote, err)
	}
	// This run holds in's lock already.
	if err := x.memberNote(ctx, primary, in, ref); err != nil && !refused(err) {
		return err
	}
	if x.r.Jira != nil && !slices.Contains(ref.Incidents, in.ID) {
		// It joined after the post-mortem was made: the epic gets its
		// label and a comment.
		if err := x.attachToEpic(ctx, primary, in, ref); err != nil && !refused(err) {
			return err
		}
	}
	return nil
}

// refused reports whether PagerDuty refused a write as such (a 4xx other
// than 429): the failure is recorded on its step, and asking again would
// not help.
func refused(err error) bool {
	return err != nil && !retryable(err)
}

// retryable reports whether err may go away on a later attempt: what the
// PagerDuty or Jira client says, and yes for anything else (Redis, time).
func retryable(err error) bool {
	var pe *pagerduty.Error
	if errors.As(err, &pe) {
		return pe.Retryable
	}
	var je *jira.Error
	if errors.As(err, &je) {
		return je.Retryable
	}
	return true
}

// finalSeverity is the highest severity in the group.
func (x *run) finalSeverity(in pagerduty.Incident, members []Member) string {
	best := severityName(x.rules, in)
	for _, m := range members {
		if m.Severity != "" && (best == "" || x.rules.Rank(m.Severity) < x.rules.Rank(best)) {
			best = m.Severity
		}
	}
	return best
}

// setPriority writes the final severity back as the primary's priority.
func (x *run) setPriority(ctx context.Context, in pagerduty.Incident, final string) error {
	sev, ok := x.rules.Severity(final)
	if !ok || len(sev.Priorities) == 0 {
		return x.record(ctx, x.id, StepFinalSeverity, store.StepSkipped, "severity "+final+" names no PagerDuty priority", "")
	}
	if slices.Contains(sev.Priorities, in.PriorityName()) {
		detail := fmt.Sprintf("%s; priority %s already matches", final, in.PriorityName())
		if x.earlierIntent(ctx, StepFinalSeverity) {
			detail = fmt.Sprintf("%s; priority set to %s by an earlier attempt", final, in.PriorityName())
		}
		return x.record(ctx, x.id, StepFinalSeverity, store.StepDone, detail, "")
	}
	want := sev.Priorities[0]
	x.plan.PriorityChange = fmt.Sprintf("%s → %s", orNone(in.PriorityName()), want)
	_, err := x.write(ctx, write{
		incident: x.id, name: StepFinalSeverity,
		intent: fmt.Sprintf("set the priority of #%d from %s to %s (final severity %s)", in.Number, orNone(in.PriorityName()), want, final),
		do: func(ctx context.Context) (string, error) {
			p, err := x.r.PagerDuty.PriorityByName(ctx, want)
			if err != nil {
				return "", err
			}
			return p.ID, x.r.PagerDuty.SetPriority(ctx, in.ID, p.ID)
		},
	})
	if refused(err) {
		// PagerDuty refused (for instance a priority change on a resolved
		// incident on some accounts): that is recorded, and the process
		// goes on with the final severity it computed.
		x.log.Warn("PagerDuty refused the final priority; going on", "err", err)
		return nil
	}
	return err
}

// resolveMembers resolves the group's open members when the rules say so.
func (x *run) resolveMembers(ctx context.Context, members []Member) error {
	var open []string
	var nums []string
	for _, m := range members {
		if m.Incident.Open() {
			open = append(open, m.Incident.ID)
			nums = append(nums, "#"+strconv.Itoa(m.Incident.Number))
		}
	}
	switch {
	case len(open) == 0 && x.earlierIntent(ctx, StepResolveMembers):
		return x.record(ctx, x.id, StepResolveMembers, store.StepDone, "open members resolved by an earlier attempt", "")
	case len(open) == 0:
		return x.record(ctx, x.id, StepResolveMembers, store.StepSkipped, "no open members", "")
	case !x.rules.Grouping.ResolveOpenMembers:
		return x.record(ctx, x.id, StepResolveMembers, store.StepSkipped, "resolve_open_members is off; open: "+strings.Join(nums, ", "), "")
	}
	_, err := x.write(ctx, write{
		incident: x.id, name: StepResolveMembers, intent: "resolve the open members " + strings.Join(nums, ", "),
		do: func(ctx context.Context) (string, error) {
			return strings.Join(open, ","), x.r.PagerDuty.Resolve(ctx, open)
		},
	})
	if refused(err) {
		// Recorded; the members stay open and still get their notes.
		x.log.Warn("PagerDuty refused to resolve the open members; going on", "err", err)
		return nil
	}
	return err
}

// timeline reads the log entries and notes of the primary and its members.
func (x *run) timeline(ctx context.Context, in pagerduty.Incident, members []Member) (map[string]incidentLog, Timeline, error) {
	read := func(inc pagerduty.Incident) (incidentLog, error) {
		entries, err := x.r.PagerDuty.LogEntries(ctx, inc.ID, false)
		if err != nil {
			return incidentLog{}, err
		}
		notes, err := x.r.PagerDuty.Notes(ctx, inc.ID)
		if err != nil {
			return incidentLog{}, err
		}
		return incidentLog{Incident: inc, Entries: entries, Notes: notes}, nil
	}
	logs := map[string]incidentLog{}
	primary, err := read(in)
	if err != nil {
		return nil, Timeline{}, x.failRead(ctx, StepTimeline, err)
	}
	logs[in.ID] = primary
	var ms []incidentLog
	for _, m := range members {
		l, err := read(m.Incident)
		if err != nil {
			return nil, Timeline{}, x.failRead(ctx, StepTimeline, err)
		}
		logs[m.Incident.ID] = l
		ms = append(ms, l)
	}
	var markers []string
	if x.rules.Followups.FromNotes {
		markers = x.rules.Followups.Markers
	}
	tl := buildTimeline(primary, ms, markers)
	entries := len(primary.Entries)
	for _, l := range ms {
		entries += len(l.Entries)
	}
	detail := fmt.Sprintf("%d key events from %d log entries of %d incidents; %d responders; %d TODO items",
		len(tl.Events), entries, len(ms)+1, len(tl.Responders), len(tl.TODOs))
	if tl.Resolution != nil {
		detail += "; resolution note found"
	}
	return logs, tl, x.record(ctx, x.id, StepTimeline, store.StepDone, detail, "")
}

// owner picks the post-mortem's owner: the first of the rules' sources, in
// order, that gives an email and that accept takes (with Jira: a Jira user
// has that email; nil takes the first). Every source tried is said in the
// step's record. No owner is not an error: the post-mortem is then made
// unassigned, with the reason.
func (x *run) owner(ctx context.Context, in pagerduty.Incident, logs map[string]incidentLog, accept func(context.Context, *Owner) (bool, error)) (Owner, string, error) {
	var tried []string
	for _, c := range x.rules.OwnerCandidates(in.Service.ID) {
		o := Owner{Email: c.Email, Source: c.Source}
		if o.Email == "" {
			var user pagerduty.Ref
			switch c.Source {
			case rules.SourceResolver:
				user = resolver(in, logs[in.ID].Entries)
			case rules.SourceLastAssignee:
				user = lastAssignee(in, logs[in.ID].Entries)
			}
			if user.ID == "" || !isUser(user) {
				tried = append(tried, c.Source+": nobody")
				continue
			}
			u, err := x.r.PagerDuty.User(ctx, user.ID)
			if refused(err) {
				tried = append(tried, c.Source+": PagerDuty user "+user.ID+" cannot be read ("+err.Error()+")")
				continue
			}
			if err != nil {
				return Owner{}, "", x.failRead(ctx, StepOwner, err)
			}
			if u.Email == "" {
				tried = append(tried, c.Source+": "+u.Name+" has no email")
				continue
			}
			o = Owner{Email: u.Email, Name: u.Name, UserID: u.ID, Source: c.Source}
		}
		if accept != nil {
			ok, err := accept(ctx, &o)
			if err != nil {
				return Owner{}, "", x.failRead(ctx, StepOwner, err)
			}
			if !ok {
				tried = append(tried, c.Source+": no Jira user has the email "+o.Email)
				continue
			}
		}
		who := o.Email
		if o.Name != "" {
			who = o.Name + " <" + o.Email + ">"
		}
		detail := c.Source + ": " + who
		if len(tried) > 0 {
			detail += " (after " + strings.Join(tried, "; ") + ")"
		}
		return o, "", x.record(ctx, x.id, StepOwner, store.StepDone, detail, "")
	}
	why := "no owner: " + strings.Join(tried, "; ")
	if len(tried) == 0 {
		why = "no owner: the rules name no owner source"
	}
	return Owner{}, why, x.record(ctx, x.id, StepOwner, store.StepDone, why+"; the post-mortem is made unassigned", "")
}

// postmortem makes the group's post-mortem once.
func (x *run) postmortem(ctx context.Context, pm Postmortem) (PostmortemRef, bool, error) {
	if x.r.Jira != nil {
		return x.jiraPostmortem(ctx, pm)
	}
	if x.r.Postmortems == nil {
		return PostmortemRef{}, false, x.record(ctx, x.id, StepPostmortem, store.StepSkipped, "Jira is not configured (JIRA_BASE_URL and credentials)", "")
	}
	res, err := x.write(ctx, write{
		incident: x.id, name: StepPostmortem,
		intent: fmt.Sprintf("create the %s post-mortem of #%d with %d members", pm.Severity, pm.Primary.Number, len(pm.Members)),
		do: func(ctx context.Context) (string, error) {
			ref, err := x.r.Postmortems.Ensure(ctx, pm)
			if err != nil {
				return "", err
			}
			b, err := json.Marshal(ref)
			return string(b), err
		},
		// No lookup: Ensure itself finds what an earlier call made.
	})
	if err != nil || res == "" {
		return PostmortemRef{}, false, err
	}
	var ref PostmortemRef
	if err := json.Unmarshal([]byte(res), &ref); err != nil {
		return PostmortemRef{}, false, Permanent(fmt.Errorf("decode the recorded post-mortem: %w", err))
	}
	x.plan.Postmortem = &ref
	return ref, true, nil
}

// memberNotes writes each member's note pointing at the primary and its
// post-mortem. The group is read again: an incident that joined while this
// run went on is included.
func (x *run) memberNotes(ctx context.Context, primary pagerduty.Incident, ref PostmortemRef) error {
	g, _, err := x.groupOf(ctx, x.id)
	if err != nil {
		return err
	}
	n := 0
	var failed []string
	for _, id := range g.Members {
		if id == x.id {
			continue
		}
		m, err := x.r.memberIncident(ctx, x.plan.Members, id)
		if pagerduty.IsNotFound(err) {
			continue
		}
		if err != nil {
			return x.failRead(ctx, StepMemberNotes, err)
		}
		if err := x.lockedMemberNote(ctx, primary, m, ref, x.r.Jira != nil && !slices.Contains(ref.Incidents, id)); err != nil {
			if !refused(err) {
				return err
			}
			// PagerDuty refuses this member's note (another team's
			// service, a full note list): recorded on the member, and
			// the others and the link-back still get written.
			x.log.Warn("PagerDuty refused a member's note; going on", "member", id, "err", err)
			failed = append(failed, "#"+strconv.Itoa(m.Number))
			continue
		}
		n++
	}
	if len(failed) > 0 {
		return x.record(ctx, x.id, StepMemberNotes, store.StepFailed,
			fmt.Sprintf("%d member notes in place; PagerDuty refused the notes of %s (see their records)", n, strings.Join(failed, ", ")), "")
	}
	return x.record(ctx, x.id, StepMemberNotes, store.StepDone, fmt.Sprintf("%d member notes in place", n), "")
}

func (r *Resolution) memberIncident(ctx context.Context, known []Member, id string) (pagerduty.Incident, error) {
	for _, m := range known {
		if m.Incident.ID == id {
			return m.Incident, nil
		}
	}
	return r.PagerDuty.Incident(ctx, id)
}

// lockedMemberNote writes a member's note under the member's incident lock:
// the member's own processing may be writing the same note.
func (x *run) lockedMemberNote(ctx context.Context, primary, m pagerduty.Incident, ref PostmortemRef, joinEpic bool) error {
	note := func(ctx context.Context) error {
		if err := x.memberNote(ctx, primary, m, ref); err != nil {
			return err
		}
		if joinEpic {
			// It joined the group while this process ran, after the
			// epic was made: it joins the epic too.
			return x.attachToEpic(ctx, primary, m, ref)
		}
		return nil
	}
	if x.r.Mode != Live {
		return note(ctx)
	}
	wait := x.r.MemberLockWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		lock, err := x.r.Store.LockIncident(ctx, m.ID, memberLockTTL)
		if err == nil {
			return x.holding(ctx, lock, note)
		}
		if !errors.Is(err, store.ErrLocked) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("member %s stays locked by its own processing; will retry: %w", m.ID, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// memberLockTTL is the member lock's lifetime; it is refreshed every third
// of it while the note is written, however long PagerDuty makes us wait.
const memberLockTTL = 10 * time.Second

// holding runs f while keeping lock alive, then releases it. If the lock
// cannot be refreshed, f's context is cancelled: another process may take
// the member over.
func (x *run) holding(ctx context.Context, lock *store.Lock, f func(context.Context) error) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(memberLockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := lock.Refresh(fctx, memberLockTTL); err != nil {
					x.log.Warn("lost a member's lock while writing its note", "err", err)
					cancel()
					return
				}
			}
		}
	}()
	err := f(fctx)
	close(done)
	_ = lock.Release(context.WithoutCancel(ctx))
	return err
}

// memberNote writes one member's note, once; the checkpoint is in the
// member's own record.
func (x *run) memberNote(ctx context.Context, primary, m pagerduty.Incident, ref PostmortemRef) error {
	marker := noteMarker("member", primary.ID)
	text := fmt.Sprintf("This incident is grouped under #%d %q (%s), whose post-mortem covers it.\nPost-mortem: %s (%s)\n%s",
		primary.Number, primary.Title, primary.HTMLURL, ref.URL, ref.Key, marker)
	_, err := x.write(ctx, write{
		incident: m.ID, name: StepMemberNote,
		intent: fmt.Sprintf("add a note to #%d pointing at #%d and post-mortem %s", m.Number, primary.Number, ref.Key),
		lookup: x.findNote(m.ID, marker),
		do:     x.addNote(m.ID, text),
	})
	return err
}

// linkBack writes the note on the primary with the post-mortem's URL, owner
// and meeting deadline.
func (x *run) linkBack(ctx context.Context, in pagerduty.Incident, members []Member, ref PostmortemRef) error {
	marker := noteMarker("postmortem", in.ID)
	var b strings.Builder
	fmt.Fprintf(&b, "Post-mortem: %s (%s)\n", ref.URL, ref.Key)
	fmt.Fprintf(&b, "Owner: %s\n", orNone(ref.Owner))
	if !ref.MeetingDue.IsZero() {
		fmt.Fprintf(&b, "Post-mortem meeting due: %s\n", ref.MeetingDue.In(x.rules.Location()).Format("Mon 2 Jan 2006 15:04 MST"))
	}
	if len(members) > 0 {
		var nums []string
		for _, m := range members {
			nums = append(nums, "#"+strconv.Itoa(m.Incident.Number))
		}
		fmt.Fprintf(&b, "Related incidents grouped under this one: %s\n", strings.Join(nums, ", "))
	}
	b.WriteString(marker)
	_, err := x.write(ctx, write{
		incident: x.id, name: StepLinkBack,
		intent: fmt.Sprintf("add the post-mortem link note to #%d (%s)", in.Number, ref.Key),
		lookup: x.findNote(in.ID, marker),
		do:     x.addNote(in.ID, b.String()),
	})
	return err
}

func (x *run) findNote(incidentID, marker string) func(context.Context) (string, bool, error) {
	return func(ctx context.Context) (string, bool, error) {
		notes, err := x.r.PagerDuty.Notes(ctx, incidentID)
		if err != nil {
			return "", false, err
		}
		for _, n := range notes {
			if strings.Contains(n.Content, marker) {
				return n.ID, true, nil
			}
		}
		return "", false, nil
	}
}

func (x *run) addNote(incidentID, text string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		n, err := x.r.PagerDuty.AddNote(ctx, incidentID, text)
		return n.ID, err
	}
}

// noteMarker is the last line of every note aftermath writes: how a retry
// finds a note an earlier attempt wrote, and how the timeline leaves
// aftermath's own notes out.
func noteMarker(kind, primaryID string) string {
	return "[aftermath:" + kind + ":" + primaryID + "]"
}

func isOurNote(content string) bool { return strings.Contains(content, "[aftermath:") }

// triggered handles incident.triggered with merge_while_open: an incident
// related to an open SEV primary is merged into it.
func (x *run) triggered(ctx context.Context) error {
	if !x.rules.Grouping.MergeWhileOpen {
		return x.record(ctx, x.id, StepMerge, store.StepSkipped, "merge_while_open is off", "")
	}
	pd := x.r.PagerDuty
	in, err := pd.Incident(ctx, x.id)
	if err != nil {
		return x.failRead(ctx, StepMerge, err)
	}
	x.plan.Incident = in
	if in.MergedInto != "" {
		return x.record(ctx, x.id, StepMerge, store.StepDone, "already merged into "+in.MergedInto, in.MergedInto)
	}
	if !in.Open() {
		return x.record(ctx, x.id, StepMerge, store.StepSkipped, "the incident is already resolved", "")
	}
	var target pagerduty.Incident
	if g, ok, err := x.groupOf(ctx, x.id); err != nil {
		return err
	} else if ok && g.Primary != x.id {
		if target, err = pd.Incident(ctx, g.Primary); err != nil {
			return x.failRead(ctx, StepMerge, err)
		}
	} else {
		scope := x.rules.ScopeOf(in.Service.ID)
		if scope == nil {
			return x.record(ctx, x.id, StepMerge, store.StepSkipped, "service "+in.Service.ID+" is in no grouping scope", "")
		}
		w := x.rules.Window()
		list, err := pd.Incidents(ctx, scope.Services, in.CreatedAt.Add(-w-lookback), in.CreatedAt.Add(time.Second))
		if err != nil {
			return x.failRead(ctx, StepMerge, err)
		}
		var open []pagerduty.Incident
		for _, c := range list {
			sev := severityName(x.rules, c)
			if c.ID != in.ID && c.Open() && c.MergedInto == "" && !c.CreatedAt.After(in.CreatedAt) && sev != "" && x.rules.InProcess(sev) && x.related(in, c, w) {
				open = append(open, c)
			}
		}
		if len(open) == 0 {
			return x.record(ctx, x.id, StepMerge, store.StepSkipped, "no open SEV incident in its scope to merge into", "")
		}
		target = choosePrimary(x.rules, open)
		if x.r.Mode == Live {
			g, err := x.r.Store.ClaimGroup(ctx, target.ID, []string{in.ID})
			if err != nil {
				return err
			}
			if !slices.Contains(g.Members, x.id) {
				// Another replica grouped it elsewhere meanwhile.
				if g, _, err = x.groupOf(ctx, x.id); err != nil {
					return err
				}
			}
			if g.Primary == x.id || g.Primary == "" {
				return x.record(ctx, x.id, StepMerge, store.StepSkipped, "the incident is the primary of its own group", "")
			}
			if g.Primary != target.ID {
				if target, err = pd.Incident(ctx, g.Primary); err != nil {
					return x.failRead(ctx, StepMerge, err)
				}
			}
		}
	}
	x.plan.Primary = target.ID
	_, err = x.write(ctx, write{
		incident: x.id, name: StepMerge,
		intent: fmt.Sprintf("merge #%d into the open primary #%d", in.Number, target.Number),
		lookup: func(ctx context.Context) (string, bool, error) {
			cur, err := pd.Incident(ctx, in.ID)
			if err != nil {
				return "", false, err
			}
			return cur.MergedInto, cur.MergedInto == target.ID, nil
		},
		do: func(ctx context.Context) (string, error) {
			_, err := pd.Merge(ctx, target.ID, []string{in.ID})
			return target.ID, err
		},
	})
	if refused(err) && pagerduty.StatusOf(err) == 400 {
		// Typically the target resolved meanwhile ("The target incident
		// must be open"): the incident stays grouped under it, and its own
		// resolution attaches it to the primary's post-mortem.
		x.log.Info("PagerDuty refused the merge; the incident stays grouped", "target", target.ID, "err", err)
		return nil
	}
	return err
}

// write is one outside write.
type write struct {
	incident string // whose record holds the checkpoint
	name     string
	intent   string
	// lookup finds the effect of an earlier attempt that recorded the
	// intent but not the result. nil: do is safe to repeat (idempotent by
	// itself, like setting a priority or Postmortems.Ensure).
	lookup func(ctx context.Context) (result string, found bool, err error)
	do     func(ctx context.Context) (result string, err error)
	// intentAt is when the intent still in force was first recorded, and
	// writeEndedAt when its last unanswered write attempt ended.
	intentAt, writeEndedAt time.Time
}

// write runs w once across attempts: done steps are not repeated, the intent
// is recorded before the write, and the result after it.
func (x *run) write(ctx context.Context, w write) (string, error) {
	steps, err := x.stepsOf(ctx, w.incident)
	if err != nil {
		return "", err
	}
	prev, seen := steps[w.name]
	if seen && prev.Status == store.StepDone {
		x.plan.add(w.incident, w.name, store.StepDone, "already done: "+prev.Detail)
		return prev.Result, nil
	}
	if x.r.Mode != Live {
		if seen && prev.Status != store.StepPlanned {
			// A live attempt's intent must survive a dry run: the next
			// live run looks its effect up.
			x.plan.add(w.incident, w.name, store.StepPlanned, "would "+w.intent+" (an earlier live attempt left it "+prev.Status+")")
			return "", nil
		}
		return "", x.record(ctx, w.incident, w.name, store.StepPlanned, "would "+w.intent, "")
	}
	if seen && (prev.Status == store.StepStarted || prev.Status == store.StepFailed) && !prev.IntentAt.IsZero() {
		w.intentAt, w.writeEndedAt = prev.IntentAt, prev.WriteEndedAt
	}
	if seen && (prev.Status == store.StepStarted || prev.Status == store.StepFailed) && w.lookup != nil {
		res, found, err := w.lookup(ctx)
		if err != nil {
			return "", x.fail(ctx, w, fmt.Errorf("look for the effect of an earlier attempt: %w", err))
		}
		if found {
			x.log.Info("found the write of an earlier attempt; not writing again", "step", w.name)
			return res, x.recordFull(ctx, w.incident, store.StepRecord{Name: w.name, Status: store.StepDone, Intent: w.intent, Result: res,
				Detail: w.intent + " (found, written by an earlier attempt)"})
		}
	}
	w.intentAt, w.writeEndedAt = x.r.now(), time.Time{}
	if err := x.recordFull(ctx, w.incident, store.StepRecord{Name: w.name, Status: store.StepStarted, Intent: w.intent, IntentAt: w.intentAt, Detail: w.intent}); err != nil {
		return "", err
	}
	res, err := w.do(ctx)
	if err != nil {
		w.writeEndedAt = x.r.now()
		return "", x.fail(ctx, w, err)
	}
	return res, x.recordFull(ctx, w.incident, store.StepRecord{Name: w.name, Status: store.StepDone, Intent: w.intent, Result: res, Detail: w.intent})
}

func (x *run) fail(ctx context.Context, w write, err error) error {
	st := store.StepRecord{Name: w.name, Status: store.StepFailed, Intent: w.intent, IntentAt: w.intentAt, WriteEndedAt: w.writeEndedAt, Detail: w.intent, Error: err.Error()}
	if !retryable(err) {
		st.Detail += " (not retried)"
	}
	// Recorded even when the attempt's context is done.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := x.recordFull(rctx, w.incident, st); rerr != nil {
		x.log.Warn("recording a failed step failed", "step", w.name, "err", rerr)
	}
	err = fmt.Errorf("%s: %w", w.name, err)
	if !retryable(err) {
		// PagerDuty refused the request as such (a 4xx): the same request
		// later would be refused again.
		return Permanent(err)
	}
	return err
}

// failRead records a failed read and returns the error, permanent when the
// incident is gone.
func (x *run) failRead(ctx context.Context, step string, err error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	st := store.StepRecord{Name: step, Status: store.StepFailed, Error: err.Error()}
	if pagerduty.IsNotFound(err) {
		st.Detail = "the incident no longer exists in PagerDuty"
	}
	if rerr := x.recordFull(rctx, x.id, st); rerr != nil {
		x.log.Warn("recording a failed step failed", "step", step, "err", rerr)
	}
	if pagerduty.IsNotFound(err) || !retryable(err) {
		return Permanent(err)
	}
	return err
}

func (x *run) record(ctx context.Context, incident, name, status, detail, result string) error {
	return x.recordFull(ctx, incident, store.StepRecord{Name: name, Status: status, Detail: detail, Result: result})
}

// recordFull saves a step (except in PlanOnly mode) and adds it to the plan.
func (x *run) recordFull(ctx context.Context, incident string, st store.StepRecord) error {
	x.plan.add(incident, st.Name, st.Status, cmp.Or(st.Detail, st.Error))
	if x.r.Mode == PlanOnly {
		return nil
	}
	if x.r.Mode == DryRun && st.Status != store.StepPlanned {
		st.Detail = "dry run: " + st.Detail
	}
	st.EventID, st.UpdatedAt = x.eventID, x.r.now()
	if err := x.r.Store.RecordStep(ctx, incident, st); err != nil {
		return err
	}
	if m, ok := x.steps[incident]; ok {
		m[st.Name] = st
	}
	return nil
}

// earlierIntent reports whether an earlier attempt recorded the intent of
// this incident's step without its result.
func (x *run) earlierIntent(ctx context.Context, name string) bool {
	steps, err := x.stepsOf(ctx, x.id)
	if err != nil {
		return false
	}
	st, ok := steps[name]
	return ok && (st.Status == store.StepStarted || st.Status == store.StepFailed) && st.Intent != ""
}

func (x *run) stepsOf(ctx context.Context, incident string) (map[string]store.StepRecord, error) {
	if m, ok := x.steps[incident]; ok {
		return m, nil
	}
	m, err := x.r.Store.Steps(ctx, incident)
	if err != nil {
		return nil, err
	}
	x.steps[incident] = m
	return m, nil
}

func (x *run) groupOf(ctx context.Context, id string) (store.IncidentGroup, bool, error) {
	return x.r.Store.GroupOf(ctx, id)
}

// choosePrimary picks a group's primary: the earliest triggered of the
// incidents whose severity is in process (so an incident that gets no
// process never holds a group), then the most severe, then the lowest ID, so
// that every replica picks the same one. The group's highest severity is
// then written back to it as its final severity.
func choosePrimary(rl *rules.Rules, incs []pagerduty.Incident) pagerduty.Incident {
	inProcess := func(in pagerduty.Incident) int {
		if s := severityName(rl, in); s != "" && rl.InProcess(s) {
			return 0
		}
		return 1
	}
	return slices.MinFunc(incs, func(a, b pagerduty.Incident) int {
		return cmp.Or(
			cmp.Compare(inProcess(a), inProcess(b)),
			a.CreatedAt.Compare(b.CreatedAt),
			cmp.Compare(rl.Rank(severityName(rl, a)), rl.Rank(severityName(rl, b))),
			cmp.Compare(a.ID, b.ID),
		)
	})
}

func severityName(rl *rules.Rules, in pagerduty.Incident) string {
	if s, _, ok := rl.SeverityFor(in.PriorityName()); ok {
		return s.Name
	}
	return ""
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

// resolver is who resolved the incident: the agent of its resolve entry, or
// whoever changed its status last.
func resolver(in pagerduty.Incident, entries []pagerduty.LogEntry) pagerduty.Ref {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Type == "resolve_log_entry" && entries[i].Agent.ID != "" {
			return entries[i].Agent
		}
	}
	return in.LastStatusChangeBy
}

// lastAssignee is the last user the incident was assigned to.
func lastAssignee(in pagerduty.Incident, entries []pagerduty.LogEntry) pagerduty.Ref {
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if (e.Type == "assign_log_entry" || e.Type == "escalate_log_entry" || e.Type == "delegate_log_entry") && len(e.Assignees) > 0 {
			return e.Assignees[len(e.Assignees)-1]
		}
	}
	if len(in.Assignees) > 0 {
		return in.Assignees[len(in.Assignees)-1]
	}
	return pagerduty.Ref{}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
