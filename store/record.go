package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxAttemptsKept bounds an incident's attempt history.
const maxAttemptsKept = 100

// EventRecord is one event an incident received, as processing saw it.
type EventRecord struct {
	EventID     string    `json:"event_id"`
	EventType   string    `json:"event_type"`
	WebhookID   string    `json:"webhook_id,omitempty"`
	EntryID     string    `json:"entry_id"`
	OccurredAt  time.Time `json:"occurred_at"`
	ReceivedAt  time.Time `json:"received_at"`
	ProcessedAt time.Time `json:"processed_at,omitzero"` // zero until processing finished
}

// Attempt outcomes.
const (
	OutcomeDone         = "done"
	OutcomeRetry        = "retry"
	OutcomeDeadLettered = "dead_lettered"
	OutcomeReleased     = "released"
)

// AttemptRecord is one processing attempt of one queue entry.
type AttemptRecord struct {
	EntryID      string    `json:"entry_id"`
	EventID      string    `json:"event_id"`
	Attempt      int       `json:"attempt"`
	Consumer     string    `json:"consumer"`
	StartedAt    time.Time `json:"started_at"`
	FinishedAt   time.Time `json:"finished_at"`
	Outcome      string    `json:"outcome"`
	Error        string    `json:"error,omitempty"`
	RetryAfter   string    `json:"retry_after,omitempty"`
	DeadLetterID string    `json:"dead_letter_id,omitempty"`
}

// Step statuses.
const (
	// StepStarted: the intent of an outside write is recorded and its result
	// is not. A later attempt must look the effect up before writing again.
	StepStarted = "started"
	StepDone    = "done"
	StepSkipped = "skipped"
	StepFailed  = "failed"
	// StepPlanned: what a dry run would have done.
	StepPlanned = "planned"
)

// StepRecord is the latest result of one processing step for an incident.
type StepRecord struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
	// Refused says the outside system refused the write as such (a 4xx
	// other than 429, an SMTP 5xx): the same request would be refused
	// again, so it is not retried. Detail says so to people.
	Refused bool `json:"refused,omitempty"`
	// Intent is the outside write the step is about to make or made, and
	// IntentAt when that intent was first recorded (kept across failed
	// attempts, so a retry knows how old an unanswered write is).
	Intent   string    `json:"intent,omitempty"`
	IntentAt time.Time `json:"intent_at,omitzero"`
	// WriteEndedAt is when the last attempt at the write itself ended
	// without an answer (a retrying client may have held it for minutes):
	// a lagging search is judged from the later of the two.
	WriteEndedAt time.Time `json:"write_ended_at,omitzero"`
	// Result identifies what the write produced (a note ID, an issue key).
	Result    string    `json:"result,omitempty"`
	EventID   string    `json:"event_id,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// IncidentRecord is everything recorded about one incident's processing.
type IncidentRecord struct {
	IncidentID string          `json:"incident_id"`
	Events     []EventRecord   `json:"events"`
	Attempts   []AttemptRecord `json:"attempts"`
	Steps      []StepRecord    `json:"steps"`
	// Postmortem is the post-mortem the incident leads, when it is
	// tracked: its deadlines, status history and reminders sent.
	Postmortem *Deadline `json:"postmortem,omitempty"`
}

// RecordEvent saves ev under the incident, keyed by event ID so that
// processing the same event again replaces rather than repeats it.
func (s *Store) RecordEvent(ctx context.Context, incidentID string, ev EventRecord) error {
	return s.writeRecord(ctx, incidentID, "events", func(p redis.Pipeliner, key string, b []byte) {
		p.HSet(ctx, key, ev.EventID, b)
	}, ev)
}

// RecordAttempt appends a to the incident's attempt history, keeping the last
// 100.
func (s *Store) RecordAttempt(ctx context.Context, incidentID string, a AttemptRecord) error {
	return s.writeRecord(ctx, incidentID, "attempts", func(p redis.Pipeliner, key string, b []byte) {
		p.RPush(ctx, key, b)
		p.LTrim(ctx, key, -maxAttemptsKept, -1)
	}, a)
}

// RecordStep saves the latest result of a step, keyed by step name.
func (s *Store) RecordStep(ctx context.Context, incidentID string, st StepRecord) error {
	return s.writeRecord(ctx, incidentID, "steps", func(p redis.Pipeliner, key string, b []byte) {
		p.HSet(ctx, key, st.Name, b)
	}, st)
}

// Steps reads an incident's step records, by name.
func (s *Store) Steps(ctx context.Context, incidentID string) (map[string]StepRecord, error) {
	return s.readSteps(ctx, incidentID, "steps")
}

// RecordTrace saves what a read step found (severity, group, timeline,
// owner), keyed by step name. The trace is kept apart from the steps, which
// are the checkpoints of outside writes: a retry trusts only checkpoints.
// The incident's record shows both.
func (s *Store) RecordTrace(ctx context.Context, incidentID string, st StepRecord) error {
	return s.writeRecord(ctx, incidentID, "trace", func(p redis.Pipeliner, key string, b []byte) {
		p.HSet(ctx, key, st.Name, b)
	}, st)
}

// Trace reads an incident's trace records, by name.
func (s *Store) Trace(ctx context.Context, incidentID string) (map[string]StepRecord, error) {
	return s.readSteps(ctx, incidentID, "trace")
}

func (s *Store) readSteps(ctx context.Context, incidentID, what string) (map[string]StepRecord, error) {
	raw, err := s.rdb.HGetAll(ctx, s.incidentKey(incidentID, what)).Result()
	if err != nil {
		return nil, fmt.Errorf("read %s of incident %s: %w", what, incidentID, err)
	}
	out := make(map[string]StepRecord, len(raw))
	for name, b := range raw {
		var st StepRecord
		if err := json.Unmarshal([]byte(b), &st); err != nil {
			return nil, fmt.Errorf("decode %s %s of incident %s: %w", what, name, incidentID, err)
		}
		out[name] = st
	}
	return out, nil
}

func (s *Store) writeRecord(ctx context.Context, incidentID, what string, write func(redis.Pipeliner, string, []byte), v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s record of incident %s: %w", what, incidentID, err)
	}
	key := s.incidentKey(incidentID, what)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		write(p, key, b)
		p.Expire(ctx, key, RecordTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %s of incident %s: %w", what, incidentID, err)
	}
	return nil
}

// IncidentRecord reads the incident's record; found is false when nothing was
// ever recorded for it.
func (s *Store) IncidentRecord(ctx context.Context, incidentID string) (rec IncidentRecord, found bool, err error) {
	var events, steps, trace *redis.MapStringStringCmd
	var attempts *redis.StringSliceCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		events = p.HGetAll(ctx, s.incidentKey(incidentID, "events"))
		attempts = p.LRange(ctx, s.incidentKey(incidentID, "attempts"), 0, -1)
		steps = p.HGetAll(ctx, s.incidentKey(incidentID, "steps"))
		trace = p.HGetAll(ctx, s.incidentKey(incidentID, "trace"))
		return nil
	})
	if err != nil {
		return rec, false, fmt.Errorf("read record of incident %s: %w", incidentID, err)
	}
	rec = IncidentRecord{IncidentID: incidentID, Events: []EventRecord{}, Attempts: []AttemptRecord{}, Steps: []StepRecord{}}
	var errs []error
	for _, raw := range events.Val() {
		var e EventRecord
		errs = appendErr(errs, json.Unmarshal([]byte(raw), &e))
		rec.Events = append(rec.Events, e)
	}
	for _, raw := range attempts.Val() {
		var a AttemptRecord
		errs = appendErr(errs, json.Unmarshal([]byte(raw), &a))
		rec.Attempts = append(rec.Attempts, a)
	}
	// The record shows reads and writes as one list of steps, in time order.
	for _, raw := range append(slices.Collect(maps.Values(steps.Val())), slices.Collect(maps.Values(trace.Val()))...) {
		var st StepRecord
		errs = appendErr(errs, json.Unmarshal([]byte(raw), &st))
		rec.Steps = append(rec.Steps, st)
	}
	if len(errs) > 0 {
		return rec, false, fmt.Errorf("decode record of incident %s: %w", incidentID, errs[0])
	}
	sort.Slice(rec.Events, func(i, j int) bool { return rec.Events[i].OccurredAt.Before(rec.Events[j].OccurredAt) })
	sort.Slice(rec.Steps, func(i, j int) bool { return rec.Steps[i].UpdatedAt.Before(rec.Steps[j].UpdatedAt) })
	if d, ok, err := s.Deadline(ctx, incidentID); err != nil {
		return rec, false, err
	} else if ok {
		rec.Postmortem = &d
	}
	found = len(rec.Events)+len(rec.Attempts)+len(rec.Steps) > 0
	return rec, found, nil
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}
