package workflow

import (
	"context"
	"fmt"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
)

// linkBack writes the note on the primary with the post-mortem's URL, owner
// and meeting deadline.
func (x *run) linkBack(ctx context.Context, in pagerduty.Incident, members []Member, ref PostmortemRef) error {
	marker := noteMarker("postmortem", in.ID)
	l := render.LinkBack{Epic: render.Epic{Key: ref.Key, URL: ref.URL}, Owner: ref.Owner, MeetingDue: ref.MeetingDue, Zone: x.rules.Location()}
	for _, m := range members {
		l.Members = append(l.Members, m.Incident.Number)
	}
	_, err := x.write(ctx, write{
		incident: x.id, name: StepLinkBack,
		intent: fmt.Sprintf("add the post-mortem link note to #%d (%s)", in.Number, ref.Key),
		lookup: x.findNote(in.ID, marker),
		do:     x.addNote(in.ID, render.LinkBackNote(l, marker)),
	})
	return err
}
