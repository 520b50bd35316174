package workflow

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
)

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
