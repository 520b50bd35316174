package workflow

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/store"
)

// merge handles incident.triggered with merge_while_open: an incident
// related to an open SEV primary is merged into it (PagerDuty refuses to
// merge into a resolved incident, so this is the only time a real merge is
// possible).
func (x *run) merge(ctx context.Context) error {
	if !x.rules.Grouping.MergeWhileOpen {
		return x.settle(ctx, StepMerge, store.StepSkipped, "merge_while_open is off")
	}
	pd := x.r.PagerDuty
	in, err := pd.Incident(ctx, x.id)
	if err != nil {
		return x.failRead(ctx, StepMerge, err)
	}
	x.plan.Incident = in
	switch {
	case in.MergedInto != "":
		return x.checkpoint(ctx, x.id, store.StepRecord{Name: StepMerge, Status: store.StepDone, Detail: "already merged into " + in.MergedInto, Result: in.MergedInto})
	case !in.Open():
		return x.settle(ctx, StepMerge, store.StepSkipped, "the incident is already resolved")
	}
	target, why, err := x.mergeTarget(ctx, in)
	if err != nil || why != "" {
		if err == nil {
			err = x.settle(ctx, StepMerge, store.StepSkipped, why)
		}
		return err
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

// mergeTarget is the open primary to merge in into: the primary of the
// group in already belongs to, or else the open SEV incident of its scope
// that the rules choose, whose group in then joins. why says why there is
// none.
func (x *run) mergeTarget(ctx context.Context, in pagerduty.Incident) (target pagerduty.Incident, why string, err error) {
	pd := x.r.PagerDuty
	if g, ok, err := x.store.GroupOf(ctx, x.id); err != nil {
		return target, "", err
	} else if ok && g.Primary != x.id {
		target, err = pd.Incident(ctx, g.Primary)
		if err != nil {
			return target, "", x.failRead(ctx, StepMerge, err)
		}
		return target, "", nil
	}
	scope := x.rules.ScopeOf(in.Service.ID)
	if scope == nil {
		return target, "service " + in.Service.ID + " is in no grouping scope", nil
	}
	w := x.rules.Window()
	list, err := pd.Incidents(ctx, scope.Services, in.CreatedAt.Add(-w-lookback), in.CreatedAt.Add(time.Second))
	if err != nil {
		return target, "", x.failRead(ctx, StepMerge, err)
	}
	var open []pagerduty.Incident
	for _, c := range list {
		sev := severityName(x.rules, c)
		if c.ID != in.ID && c.Open() && c.MergedInto == "" && !c.CreatedAt.After(in.CreatedAt) && sev != "" && x.rules.InProcess(sev) && x.related(in, c, w) {
			open = append(open, c)
		}
	}
	if len(open) == 0 {
		return target, "no open SEV incident in its scope to merge into", nil
	}
	target = choosePrimary(x.rules, open)
	g, err := x.store.ClaimGroup(ctx, target.ID, []string{in.ID})
	if err == nil && !slices.Contains(g.Members, x.id) {
		// Another replica grouped it elsewhere meanwhile.
		g, _, err = x.store.GroupOf(ctx, x.id)
	}
	switch {
	case err != nil:
		return target, "", err
	case g.Primary == x.id || g.Primary == "":
		return target, "the incident is the primary of its own group", nil
	case g.Primary != target.ID:
		if target, err = pd.Incident(ctx, g.Primary); err != nil {
			return target, "", x.failRead(ctx, StepMerge, err)
		}
	}
	return target, "", nil
}
