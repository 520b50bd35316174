package workflow

import (
	"context"
	"fmt"
	"slices"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// attach records that in is a member of g: its own resolution starts no
// process. When the group's post-mortem already exists, in gets its member
// note now (the primary's processing may have run before in joined).
func (x *run) attach(ctx context.Context, in pagerduty.Incident, g store.IncidentGroup) error {
	x.plan.Primary = g.Primary
	ref, made, err := x.postmortemRef(ctx, g.Primary)
	if err != nil {
		return err
	}
	detail := "member of the group of " + g.Primary + "; its post-mortem will include this incident"
	if made {
		detail = "member of the group of " + g.Primary + "; attached to its post-mortem"
	}
	x.plan.Outcome = detail
	if err := x.trace(ctx, StepGroup, store.StepDone, detail, g.Primary); err != nil {
		return err
	}
	if !made {
		return nil
	}
	primary, err := x.r.PagerDuty.Incident(ctx, g.Primary)
	if err != nil {
		return x.failRead(ctx, StepMemberNote, err)
	}
	// This run holds in's lock already.
	if err := x.memberNote(ctx, primary, in, ref); err != nil && !refused(err) {
		return err
	}
	if !slices.Contains(ref.Incidents, in.ID) {
		// It joined after the post-mortem was made: the epic gets its
		// label and a comment.
		if err := x.attachToEpic(ctx, primary, in, ref); err != nil && !refused(err) {
			return err
		}
	}
	return nil
}

// attachToEpic adds a late member to its group's epic: its label, and a
// comment saying it joined.
func (x *run) attachToEpic(ctx context.Context, primary, m pagerduty.Incident, ref PostmortemRef) error {
	marker := commentMarker("member", m.ID)
	text := render.JoinedComment(render.Incident{Number: m.Number, Title: m.Title, URL: m.HTMLURL}, primary.Number, m.ResolvedAt, x.rules.Location(), marker)
	_, err := x.write(ctx, write{
		incident: m.ID, name: StepEpicAttach, intent: fmt.Sprintf("add #%d to post-mortem %s (label and comment)", m.Number, ref.Key),
		lookup: x.findComment(ref.Key, marker),
		do: func(ctx context.Context) (string, error) {
			if err := x.r.Jira.AddIncidents(ctx, ref.Key, []string{m.ID}); err != nil {
				return "", err
			}
			return ref.Key, x.r.Jira.AddComment(ctx, ref.Key, text)
		},
	})
	return err
}
