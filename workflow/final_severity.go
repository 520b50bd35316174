package workflow

import (
	"context"
	"fmt"
	"slices"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/store"
)

// finalSeverity is the group's highest severity, written back to the
// primary as its PagerDuty priority when it differs.
func (x *run) finalSeverity(ctx context.Context, in pagerduty.Incident, members []Member) (string, error) {
	final := severityName(x.rules, in)
	for _, m := range members {
		if m.Severity != "" && (final == "" || x.rules.Rank(m.Severity) < x.rules.Rank(final)) {
			final = m.Severity
		}
	}
	x.plan.FinalSeverity = final
	return final, x.setPriority(ctx, in, final)
}

// setPriority writes the final severity back as the primary's priority.
func (x *run) setPriority(ctx context.Context, in pagerduty.Incident, final string) error {
	sev, ok := x.rules.Severity(final)
	if !ok || len(sev.Priorities) == 0 {
		return x.settle(ctx, StepFinalSeverity, store.StepSkipped, "severity "+final+" names no PagerDuty priority")
	}
	if slices.Contains(sev.Priorities, in.PriorityName()) {
		detail := fmt.Sprintf("%s; priority %s already matches", final, in.PriorityName())
		if x.earlierIntent(ctx, StepFinalSeverity) {
			detail = fmt.Sprintf("%s; priority set to %s by an earlier attempt", final, in.PriorityName())
		}
		return x.settle(ctx, StepFinalSeverity, store.StepDone, detail)
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
