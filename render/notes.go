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

// Recurred is an earlier post-mortem whose follow-ups were still open when
// an incident on its services resolved, as the recurrence note names it.
type Recurred struct {
	Epic     Epic
	Incident Incident  // its primary
	Resolved time.Time // when its primary resolved
	Status   string    // Draft, In Review, Reviewed or Closed
	Open     []string  // the keys of its open follow-ups
}

// RecurrenceNote is the note on an incident that resolved while earlier
// post-mortems on its services (or in their grouping scope) still had open
// follow-ups: each with its epic, its incident, when that resolved (its
// date in zone), its status and the follow-ups open. Titles are cut to 200
// characters and at most 20 keys are named per post-mortem.
func RecurrenceNote(earlier []Recurred, zone *time.Location, marker string) string {
	var b strings.Builder
	b.WriteString("Recurrence: this incident resolved while earlier post-mortems on its services still have open follow-ups.\n")
	for _, e := range earlier {
		fmt.Fprintf(&b, "- %s (%s), post-mortem of #%d %q (%s) resolved %s, %s: %s open\n", e.Epic.Key, e.Epic.URL,
			e.Incident.Number, Clip(e.Incident.Title, 200), e.Incident.URL, e.Resolved.In(orUTC(zone)).Format("2006-01-02"), e.Status,
			keysAre(e.Open, func(s string) string { return s }))
	}
	b.WriteString(marker)
	return b.String()
}
