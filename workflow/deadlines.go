package workflow

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/store"
)

// deadlines starts keeping the post-mortem's deadlines: it goes into the
// deadline index, whose scheduler sends the reminders (reminders.go). Done
// on every run that reaches it: registering again changes nothing.
func (x *run) deadlines(ctx context.Context, in pagerduty.Incident, members []Member, ref PostmortemRef, pm Postmortem) error {
	if pm.MeetingDue.IsZero() {
		return x.trace(ctx, StepDeadlines, store.StepSkipped, "severity "+pm.Severity+" has no meeting deadline", "")
	}
	group := []string{in.ID}
	services := []string{in.Service.ID}
	var teams []store.Team
	addTeams := func(refs []pagerduty.Ref) {
		for _, t := range refs {
			if t.ID != "" && !slices.ContainsFunc(teams, func(k store.Team) bool { return k.ID == t.ID }) {
				teams = append(teams, store.Team{ID: t.ID, Name: t.Summary})
			}
		}
	}
	addTeams(in.Teams)
	for _, m := range members {
		group = append(group, m.Incident.ID)
		if id := m.Incident.Service.ID; id != "" && !slices.Contains(services, id) {
			services = append(services, id)
		}
		addTeams(m.Incident.Teams)
	}
	// The follow-ups' keys, as the followups step recorded them: the status
	// sync counts how many are done.
	fu, _, err := x.checkpointOf(ctx, x.id, StepFollowups)
	if err != nil {
		return err
	}
	followups := slices.Sorted(maps.Values(decodeResult(fu.Result, map[string]string{})))
	registered, err := x.store.Register(ctx, store.Postmortem{
		Incident: in.ID, Number: in.Number, Title: in.Title, URL: in.HTMLURL, Group: group, Severity: pm.Severity,
		Key: ref.Key, EpicURL: ref.URL, Owner: ref.Owner, OwnerName: ref.OwnerName, OwnerJira: ref.OwnerJira,
		ResolvedAt: x.resolvedAt(in), ReviewDue: pm.ReviewDue, MeetingDue: pm.MeetingDue,
		Followups: followups, Services: services, Teams: teams,
	}, x.rules.Reminders.MaxOverdue)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("review due %s, meeting due %s", x.at(pm.ReviewDue), x.at(pm.MeetingDue))
	if !registered {
		detail += "; tracked already"
	}
	return x.trace(ctx, StepDeadlines, store.StepDone, detail, "")
}
