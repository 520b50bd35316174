package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// Postmortem is what is known of a group when its post-mortem is made: the
// typed value the post-mortem page is rendered from.
type Postmortem struct {
	Primary    pagerduty.Incident `json:"primary"`
	Members    []Member           `json:"members"`
	Severity   string             `json:"severity"` // the group's final severity
	Timeline   Timeline           `json:"timeline"`
	Owner      Owner              `json:"owner"`
	OwnerNote  string             `json:"owner_note,omitempty"` // why there is no owner
	MeetingDue time.Time          `json:"meeting_due,omitzero"`
	ReviewDue  time.Time          `json:"review_due,omitzero"`
	// Services are the PagerDuty services of the group, primary's first.
	Services []string `json:"services,omitempty"`
	// Invitees are who to invite to the post-mortem meeting (invitees.go).
	Invitees []notify.Invitee `json:"invitees,omitempty"`
	// Earlier are the earlier post-mortems the group's incidents recur
	// (recurrence.go): the page lists them, and the epic is labelled
	// RecurrenceLabel.
	Earlier []EarlierPostmortem `json:"earlier,omitempty"`
}

// PostmortemRef is a post-mortem once it exists.
type PostmortemRef struct {
	Key        string    `json:"key"`
	URL        string    `json:"url"`
	Owner      string    `json:"owner,omitempty"`      // the owner's email; "" when the epic is unassigned
	OwnerName  string    `json:"owner_name,omitempty"` // the owner's name, as PagerDuty or the rules give it
	OwnerJira  string    `json:"owner_jira,omitempty"` // the owner's Jira user
	MeetingDue time.Time `json:"meeting_due,omitzero"`
	// Incidents are the group's incidents the epic is labelled with.
	Incidents []string `json:"incidents,omitempty"`
}

// postmortemOf gathers what the steps so far found into the post-mortem,
// with its deadlines and the meeting's invitees.
func (x *run) postmortemOf(ctx context.Context, in pagerduty.Incident, members []Member, final string, tl Timeline, logs map[string]incidentLog, owner Owner, ownerNote string) Postmortem {
	pm := Postmortem{Primary: in, Members: members, Severity: final, Timeline: tl, Owner: owner, OwnerNote: ownerNote, Services: []string{in.Service.ID}}
	if due, err := x.rules.MeetingDeadline(final, x.resolvedAt(in)); err == nil {
		pm.MeetingDue = due
		pm.ReviewDue = x.rules.ReviewDeadline(due)
	}
	for _, m := range members {
		if id := m.Incident.Service.ID; id != "" && !slices.Contains(pm.Services, id) {
			pm.Services = append(pm.Services, id)
		}
	}
	// Emails only matter to the messages: without a notifier, no user is
	// read for them.
	pm.Invitees = x.invitees(ctx, final, pm.Services, logs, tl, x.r.Notifier != nil)
	x.plan.MeetingDue = pm.MeetingDue
	return pm
}

// postmortem makes the group's post-mortem in Jira, each write once: the
// epic (epic.go), its follow-up tickets (followups.go), the page again with
// their keys (epic_page.go), and a comment when nobody could be assigned
// (owner.go). made is false when there is no post-mortem to point at (Jira
// is not configured, or a dry run).
func (x *run) postmortem(ctx context.Context, pm Postmortem) (ref PostmortemRef, made bool, err error) {
	if x.r.Jira == nil {
		if err := x.trace(ctx, StepPostmortem, store.StepSkipped, "Jira is not configured (JIRA_BASE_URL and credentials)", ""); err != nil {
			return ref, false, err
		}
		return ref, false, x.noPostmortem(ctx)
	}
	pm, err = x.asMade(ctx, pm)
	if err != nil {
		return ref, false, err
	}
	d := x.draft(pm)
	epic, made, err := x.epic(ctx, pm, d)
	if err != nil {
		return ref, false, err
	}
	if !made {
		for _, f := range d.followups {
			x.plan.add(x.id, StepFollowups, store.StepPlanned, "would create the follow-up "+strconv.Quote(f.item))
		}
		x.planConfluencePage(d)
		return ref, false, x.noPostmortem(ctx)
	}
	owner, ownerNote := pm.Owner, pm.OwnerNote
	if epic.OwnerRefused != "" {
		// Recorded with the epic: a retry after a crash knows it too.
		ownerNote = render.OwnerRefused(owner.Email, epic.OwnerRefused)
		owner = Owner{}
	}
	created, refusedItems, err := x.followupTickets(ctx, pm.Primary, epic.Key, d.followups)
	if err != nil {
		return ref, false, err
	}
	rest, fit, err := x.setPage(ctx, epic, d, created, refusedItems, owner, ownerNote)
	if err != nil {
		return ref, false, err
	}
	if err := x.pageRest(ctx, epic.Key, rest, fit); err != nil {
		return ref, false, err
	}
	if owner.JiraID == "" {
		if err := x.ownerComment(ctx, pm.Primary, epic.Key, ownerNote); err != nil {
			return ref, false, err
		}
	}
	ref = PostmortemRef{Key: epic.Key, URL: x.r.Jira.BrowseURL(epic.Key), MeetingDue: pm.MeetingDue, Incidents: epic.Incidents}
	if owner.JiraID != "" {
		ref.Owner, ref.OwnerName, ref.OwnerJira = owner.Email, owner.Name, owner.JiraID
	}
	x.plan.Postmortem = &ref
	detail := fmt.Sprintf("%s %s with %d follow-up tickets", ref.Key, ref.URL, len(created))
	return ref, true, x.trace(ctx, StepPostmortem, store.StepDone, detail, ref.Key)
}

// noPostmortem records that the notes pointing at the post-mortem wait for
// one to exist.
func (x *run) noPostmortem(ctx context.Context) error {
	why := "no post-mortem exists yet"
	if err := x.trace(ctx, StepMemberNotes, store.StepSkipped, why+": member notes are written once it does", ""); err != nil {
		return err
	}
	return x.settle(ctx, StepLinkBack, store.StepSkipped, why+": the link-back note is written once it does")
}

// postmortemRef is the post-mortem of the group primary leads, once it is
// complete (its trace says done); ok is false before.
func (x *run) postmortemRef(ctx context.Context, primary string) (ref PostmortemRef, ok bool, err error) {
	trace, err := x.store.Trace(ctx, primary)
	if err != nil {
		return ref, false, err
	}
	steps, err := x.store.Steps(ctx, primary)
	if err != nil || x.r.Jira == nil {
		return ref, false, err
	}
	if st := steps[StepPostmortem]; st.Status == store.StepDone && st.Result != "" {
		// Recorded by a release that kept the post-mortem as a checkpoint.
		err := json.Unmarshal([]byte(st.Result), &ref)
		return ref, err == nil, err
	}
	if st := trace[StepPostmortem]; st.Status != store.StepDone {
		return ref, false, nil
	}
	er, ok := decodeEpic(steps[StepEpic].Result)
	if !ok {
		return ref, false, Permanent(fmt.Errorf("decode the post-mortem epic of %s: %q", primary, steps[StepEpic].Result))
	}
	incidents := slices.Clone(er.Incidents)
	for name, st := range steps {
		// The incidents labelled after the epic was made.
		if ids, ok := relabelled(name, st); ok {
			incidents = append(incidents, ids...)
		}
	}
	return PostmortemRef{Key: er.Key, URL: x.r.Jira.BrowseURL(er.Key), Incidents: incidents}, true, nil
}
