package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// Job is one queued event handed to a Processor.
type Job struct {
	EntryID  string
	Attempt  int // 1 for the first attempt
	Delivery store.Delivery
	// Log is the worker's logger, narrowed to the entry, the incident, the
	// event and the attempt.
	Log *slog.Logger
	// Rules are the rules in force when the attempt started; a reload during
	// the attempt does not change them.
	Rules *rules.Rules
}

// Processor does the work for one queued event. It must be safe to run again
// for the same job: the queue is at-least-once. Its error says how to retry
// through the hints (PermanentHint, RetryAtHint, ...); an error that says
// nothing is retried with a growing backoff until the retry horizon.
type Processor interface {
	Process(ctx context.Context, job Job) error
}

// ProcessorFunc adapts a function to Processor.
type ProcessorFunc func(ctx context.Context, job Job) error

// Process implements Processor.
func (f ProcessorFunc) Process(ctx context.Context, job Job) error { return f(ctx, job) }

// Store is what the worker needs of Redis; store.Store implements it. Besides
// the queue's entries it holds the per-incident locks, which the heartbeat
// renews with the entry, and the incident's record of events received and
// attempts made, whose outcomes only the worker knows.
type Store interface {
	// The consumer group.
	EnsureGroup(ctx context.Context) error
	RemoveConsumer(ctx context.Context, consumer string) error
	// The entries: taken, kept, handed back or ended.
	Read(ctx context.Context, consumer string, count int, block time.Duration) ([]store.Entry, []error, error)
	Reclaim(ctx context.Context, consumer string, minIdle time.Duration, count int, start string) ([]store.Entry, []error, string, error)
	Touch(ctx context.Context, consumer, id string) error
	Release(ctx context.Context, consumer, id string, uncount bool) error
	Park(ctx context.Context, consumer, id string, at time.Time) error
	Ack(ctx context.Context, id string) error
	DeadLetter(ctx context.Context, consumer, id, reason string, attempts int) (string, error)
	// An entry's attempts, counted in Redis so that a crash counts too.
	StartAttempt(ctx context.Context, id string) (store.Attempts, error)
	EndAttempt(ctx context.Context, id string, progressed bool) error
	// The incident's lock and record.
	LockIncident(ctx context.Context, incidentID string, ttl time.Duration) (*store.Lock, error)
	RecordEvent(ctx context.Context, incidentID string, ev store.EventRecord) error
	RecordAttempt(ctx context.Context, incidentID string, a store.AttemptRecord) error
}
