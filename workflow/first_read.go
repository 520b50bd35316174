package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
)

// DefaultFreshness is how long after its occurred_at a resolve webhook's
// incident stands in for GET /incidents/{id} (Resolution.Freshness).
// PagerDuty sends a webhook within seconds of the event; a minute covers
// that, the queue's wait and a retry or two, while keeping short the time
// in which a person's change after the resolve (a priority set right
// after resolving) could go unseen. An older event (PagerDuty retrying
// for hours, a replay, the catch-up sweep) is read again.
const DefaultFreshness = 60 * time.Second

// firstRead is the incident the run starts from: the one the webhook
// carries when the event is fresh and the payload complete, else the one
// PagerDuty answers now. why says, for the record, where it came from
// ("" for a job without a webhook body, such as a plan).
func (x *run) firstRead(ctx context.Context) (in pagerduty.Incident, why string, err error) {
	ev, ok, why := x.freshIncident()
	if ok {
		return ev.Incident, why, nil
	}
	in, err = x.r.PagerDuty.Incident(ctx, x.id)
	return in, why, err
}

// freshIncident decodes the webhook's incident and says whether it may be
// used as the first read, and why (not).
func (x *run) freshIncident() (ev pagerduty.IncidentEvent, ok bool, why string) {
	bound := x.r.Freshness
	if bound == 0 {
		bound = DefaultFreshness
	}
	if len(x.body) == 0 || x.event != EventResolved {
		return ev, false, ""
	}
	if bound < 0 {
		return ev, false, "read from PagerDuty: the webhook's incident is never used (freshness off)"
	}
	ev, err := pagerduty.DecodeIncidentEvent(x.body)
	switch {
	case err != nil:
		return ev, false, "read from PagerDuty: the webhook's body holds no incident"
	case ev.Incident.ID != x.id || ev.EventType != EventResolved:
		return ev, false, fmt.Sprintf("read from PagerDuty: the webhook carries %s of %s", ev.EventType, ev.Incident.ID)
	case !ev.Complete():
		return ev, false, "read from PagerDuty: the webhook's incident lacks " + strings.Join(ev.Missing, ", ")
	}
	age := x.r.now().Sub(ev.OccurredAt)
	if age > bound || age < -bound {
		return ev, false, fmt.Sprintf("read from PagerDuty: the webhook is %s old, over the %s its incident is taken as read", roundAge(age), bound)
	}
	if ev.Incident.Open() {
		// A resolve event whose incident says open is no resolve to
		// trust: ask PagerDuty.
		return ev, false, "read from PagerDuty: the webhook's incident is " + ev.Incident.Status
	}
	return ev, true, fmt.Sprintf("as the webhook carried it (%s old, within %s)", roundAge(age), bound)
}

func roundAge(d time.Duration) time.Duration {
	if d < time.Second && d > -time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}
