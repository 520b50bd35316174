package workflow

import (
	"context"
	"strconv"
	"strings"

	"github.com/aftermath-dev/aftermath/store"
)

// resolveMembers resolves the group's open members when the rules say so.
func (x *run) resolveMembers(ctx context.Context, members []Member) error {
	var open, nums []string
	for _, m := range members {
		if m.Incident.Open() {
			open = append(open, m.Incident.ID)
			nums = append(nums, "#"+strconv.Itoa(m.Incident.Number))
		}
	}
	switch {
	case len(open) == 0 && x.earlierIntent(ctx, StepResolveMembers):
		return x.settle(ctx, StepResolveMembers, store.StepDone, "open members resolved by an earlier attempt")
	case len(open) == 0:
		return x.settle(ctx, StepResolveMembers, store.StepSkipped, "no open members")
	case !x.rules.Grouping.ResolveOpenMembers:
		return x.settle(ctx, StepResolveMembers, store.StepSkipped, "resolve_open_members is off; open: "+strings.Join(nums, ", "))
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
