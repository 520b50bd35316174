// Package catchup finds incident resolutions aftermath never heard of and
// queues them exactly as a late webhook would be queued.
//
// PagerDuty drops a webhook delivery after any 4xx but 429, disables a
// subscription after three dropped deliveries in a row and discards what it
// had queued, and gives up after 48 hours of retries. The sweep asks the
// API instead: every interval one replica (the claim is in Redis) lists the
// account's resolve_log_entry entries since the cursor, less a margin, and
// queues each incident aftermath has no record of. Replay (one incident, or
// a window) uses the same queueing.
package catchup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/store"
)

// PagerDuty is what the sweep and replay read.
type PagerDuty interface {
	// Resolutions lists the incidents resolved in [since, until), by the
	// time of their resolution.
	Resolutions(ctx context.Context, since, until time.Time) ([]pagerduty.Resolution, error)
	// Incident reads one incident.
	Incident(ctx context.Context, id string) (pagerduty.Incident, error)
}

// Queue is what the sweep and replay need of the store.
type Queue interface {
	ResolutionKnown(ctx context.Context, incidentID string) (string, error)
	EnqueueMissed(ctx context.Context, d store.Delivery) (store.MissedResult, error)
}

// ErrNotResolved says the incident is still open: there is no resolution
// to process yet.
var ErrNotResolved = errors.New("incident is not resolved")

// Outcome is what queueing one resolution did.
type Outcome struct {
	IncidentID string
	Title      string
	ResolvedAt time.Time
	// Known is how aftermath already knew of the resolution
	// (store.KnownRecorded, store.KnownQueued); "" when it was queued now.
	Known   string
	EntryID string // the entry queued now, or the one that queued it before
}

// Queued reports whether this call queued the resolution.
func (o Outcome) Queued() bool { return o.Known == "" }

// Enqueue reads the incident and queues its resolution through the same
// queue and dedupe as a webhook, unless aftermath already knows of it. It
// fails with ErrNotResolved for an open incident; a PagerDuty 404 comes
// back as the client's error (pagerduty.IsNotFound).
func Enqueue(ctx context.Context, pd PagerDuty, q Queue, incidentID string, now time.Time) (Outcome, error) {
	in, err := pd.Incident(ctx, incidentID)
	if err != nil {
		return Outcome{IncidentID: incidentID}, err
	}
	out := Outcome{IncidentID: in.ID, Title: in.Title, ResolvedAt: in.ResolvedAt}
	if in.Open() {
		return out, fmt.Errorf("incident %s (#%d) is %s: %w", in.ID, in.Number, in.Status, ErrNotResolved)
	}
	d, err := Delivery(in, now)
	if err != nil {
		return out, err
	}
	res, err := q.EnqueueMissed(ctx, d)
	if err != nil {
		return out, err
	}
	out.Known, out.EntryID = res.Known, res.ID
	return out, nil
}

// Delivery is the queue entry of a resolved incident found through the
// API: a V3 incident.resolved envelope, as PagerDuty would have sent it,
// under the incident's store.MissedEventID and without a webhook ID.
func Delivery(in pagerduty.Incident, now time.Time) (store.Delivery, error) {
	at := in.ResolvedAt
	if at.IsZero() {
		at = now
	}
	eventID := store.MissedEventID(in.ID)
	data := map[string]any{
		"id": in.ID, "type": "incident", "self": "", "html_url": in.HTMLURL,
		"number": in.Number, "status": in.Status, "title": in.Title,
		"created_at": in.CreatedAt.UTC().Format(time.RFC3339), "urgency": in.Urgency,
		"service": map[string]any{"id": in.Service.ID, "type": "service_reference", "summary": in.Service.Summary},
	}
	if in.Priority != nil {
		data["priority"] = map[string]any{"id": in.Priority.ID, "type": "priority_reference", "summary": in.Priority.Name}
	}
	body, err := json.Marshal(map[string]any{"event": map[string]any{
		"id": eventID, "event_type": store.EventResolved, "resource_type": "incident",
		"occurred_at": at.UTC().Format(time.RFC3339Nano), "agent": nil, "client": nil, "data": data,
	}})
	if err != nil {
		return store.Delivery{}, fmt.Errorf("encode resolution of %s: %w", in.ID, err)
	}
	return store.Delivery{
		EventID: eventID, EventType: store.EventResolved, IncidentID: in.ID,
		OccurredAt: at, ReceivedAt: now, Body: body,
	}, nil
}

// Unrecorded lists the incidents resolved in [since, until) that aftermath
// has no record of (replay --since), oldest resolution first.
func Unrecorded(ctx context.Context, pd PagerDuty, q Queue, since, until time.Time) ([]pagerduty.Resolution, error) {
	rs, err := resolutions(ctx, pd, since, until)
	if err != nil {
		return nil, err
	}
	var out []pagerduty.Resolution
	for _, r := range rs {
		known, err := q.ResolutionKnown(ctx, r.IncidentID)
		if err != nil {
			return nil, err
		}
		if known == "" {
			out = append(out, r)
		}
	}
	return out, nil
}
