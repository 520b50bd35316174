package workflow

import (
	"context"
	"fmt"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// severity reads the incident (or takes a fresh webhook's, firstRead) and
// maps its priority to a severity. proceed
// is false when the incident gets no process of its own: its severity is
// not in the rules' process (skipped, with the reason), or it is a member
// of another incident's group (attached to it).
func (x *run) severity(ctx context.Context) (in pagerduty.Incident, proceed bool, err error) {
	in, source, err := x.firstRead(ctx)
	if err != nil {
		return in, false, x.failRead(ctx, StepSeverity, err)
	}
	x.plan.Incident = in
	if in.Open() {
		if !x.openOK {
			return in, false, x.stillOpen(ctx, in)
		}
		x.plan.add(x.id, StepSeverity, "note", "the incident is still "+in.Status+": planned as if it resolved now")
	}
	sev, why, ok := x.rules.SeverityFor(in.PriorityName())
	x.plan.SeverityWhy = why
	// The record says whether the webhook stood for the read.
	sourced := func(detail string) string {
		if source == "" {
			return detail
		}
		return detail + "; incident " + source
	}
	if ok {
		x.plan.Severity = sev.Name
	}
	g, inGroup, err := x.store.GroupOf(ctx, x.id)
	if err != nil {
		return in, false, err
	}
	if inGroup && g.Primary != x.id {
		return in, false, x.attach(ctx, in, g)
	}
	switch {
	case ok && x.rules.InProcess(sev.Name):
		return in, true, x.trace(ctx, StepSeverity, store.StepDone, sourced(why), "")
	case inGroup && len(g.Members) > 1:
		return in, true, x.trace(ctx, StepSeverity, store.StepDone, sourced(why+"; it is the primary of a group, whose highest severity decides"), "")
	}
	reason := why
	if ok {
		reason = fmt.Sprintf("%s, which is not in process %v", why, x.rules.Process)
	}
	x.plan.Outcome = "skipped: " + reason
	return in, false, x.trace(ctx, StepSeverity, store.StepSkipped, sourced(reason), "")
}

// stillOpen: the webhook says resolved and PagerDuty says open. Its API has
// not caught up yet, or the incident was reopened. Retried with backoff,
// then dead-lettered with this reason; never skipped.
func (x *run) stillOpen(ctx context.Context, in pagerduty.Incident) error {
	err := fmt.Errorf("PagerDuty shows incident %s %s, not resolved; will look again", x.id, in.Status)
	if rerr := x.traceFailure(ctx, StepSeverity, "", err); rerr != nil {
		return rerr
	}
	return err
}

// severityName is the severity an incident's priority maps to, or "".
func severityName(rl *rules.Rules, in pagerduty.Incident) string {
	if s, _, ok := rl.SeverityFor(in.PriorityName()); ok {
		return s.Name
	}
	return ""
}
