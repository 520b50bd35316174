package workflow

import (
	"context"
	"time"

	"github.com/aftermath-dev/aftermath/store"
)

// Recorder is the processing this release does: it records each event in its
// incident's processing record and nothing else. The resolution workflow
// (severity, grouping, post-mortem, follow-ups) replaces it in later releases.
type Recorder struct {
	Store *store.Store
	Now   func() time.Time
}

// Process implements Processor.
func (r *Recorder) Process(ctx context.Context, job Job) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	d := job.Delivery
	if err := r.Store.RecordEvent(ctx, d.IncidentID, store.EventRecord{
		EventID: d.EventID, EventType: d.EventType, WebhookID: d.WebhookID, EntryID: job.EntryID,
		OccurredAt: d.OccurredAt, ReceivedAt: d.ReceivedAt, ProcessedAt: now(),
	}); err != nil {
		return err
	}
	return r.Store.RecordStep(ctx, d.IncidentID, store.StepRecord{
		Name: "record_event", Status: store.StepDone, EventID: d.EventID, UpdatedAt: now(),
		Detail: "event recorded; the resolution workflow is not part of this release",
	})
}
