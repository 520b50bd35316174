package render

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The notes aftermath writes on PagerDuty incidents. PagerDuty shows a
// note as plain text (no markup to escape); each note ends with the marker
// it is given, by which a retry finds it and the timeline leaves it out
// (workflow/markers.go builds the markers).

// Epic is a post-mortem's epic as the notes point at it.
type Epic struct {
	Key string // PM-12
	URL string
}

// MemberNote is the note on a member incident: it is grouped under the
// primary, whose post-mortem covers it.
func MemberNote(primary Incident, epic Epic, marker string) string {
	return fmt.Sprintf("This incident is grouped under #%d %q (%s), whose post-mortem covers it.\nPost-mortem: %s (%s)\n%s",
		primary.Number, primary.Title, primary.URL, epic.URL, epic.Key, marker)
}

// LinkBack is what the note on the primary incident says.
type LinkBack struct {
	Epic       Epic
	Owner      string    // the owner's email; "" when nobody owns the post-mortem
	MeetingDue time.Time // zero: no deadline
	Zone       *time.Location
	Members    []int // the numbers of the incidents grouped under the primary
}

// LinkBackNote is the note on the primary incident: the post-mortem's link,
// its owner, the meeting's deadline and the incidents grouped under it.
func LinkBackNote(l LinkBack, marker string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Post-mortem: %s (%s)\n", l.Epic.URL, l.Epic.Key)
	owner := l.Owner
	if owner == "" {
		owner = "none"
	}
	fmt.Fprintf(&b, "Owner: %s\n", owner)
	if !l.MeetingDue.IsZero() {
		fmt.Fprintf(&b, "Post-mortem meeting due: %s\n", Day(l.MeetingDue, l.Zone))
	}
	if len(l.Members) > 0 {
		nums := make([]string, 0, len(l.Members))
		for _, n := range l.Members {
			nums = append(nums, "#"+strconv.Itoa(n))
		}
		fmt.Fprintf(&b, "Related incidents grouped under this one: %s\n", strings.Join(nums, ", "))
	}
	b.WriteString(marker)
	return b.String()
}
