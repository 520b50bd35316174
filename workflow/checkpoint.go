package workflow

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aftermath-dev/aftermath/store"
)

// Every outside write is a checkpointed step: its intent is recorded before
// the request and its result after it, so that a retry, a second replica or a
// restart after a crash resumes where the last attempt stopped and never
// writes twice. write (one request) and writeBulk (several items in one) are
// the only code that records intents and results, and the only code that
// knows whether this run may write at all. What reads found goes into the
// incident's trace instead (trace), which no retry relies on.

// DefaultSearchLag is how long after an unanswered create a search that does
// not find the issue is not trusted: Jira's search index trails its writes
// by seconds, so a retry soon after a lost answer waits for the index
// instead of creating a second issue.
const DefaultSearchLag = 30 * time.Second

// MaybeWritten is the result of a once write whose earlier attempt may have
// taken effect: it was not written again.
const MaybeWritten = "maybe"

// write is one outside write.
type write struct {
	incident string // whose record holds the checkpoint
	name     string
	intent   string
	// lookup finds the effect of an earlier attempt that recorded the
	// intent but not the result. nil: do is safe to repeat (idempotent by
	// itself, like setting a priority).
	lookup func(ctx context.Context) (result string, found bool, err error)
	// searched says lookup reads a search index that trails the writes
	// (Jira's): not finding the effect soon after an unanswered write
	// proves nothing yet.
	searched bool
	do       func(ctx context.Context) (result string, err error)
	// once marks a write whose effect cannot be looked up (an email, a
	// Slack message): after an attempt that may have taken effect (a crash
	// after the intent, a lost answer) it is not written again, so that it
	// is never sent twice; only an attempt the outside system answered it
	// did not do (Unapplied) is repeated.
	once bool
	// intentAt is when the intent still in force was first recorded, and
	// writeEndedAt when its last unanswered write attempt ended.
	intentAt, writeEndedAt time.Time
}

// write runs w once across attempts: done steps are not repeated, the intent
// is recorded before the write, and the result after it. In a dry run or a
// plan it records what it would do and returns "".
func (x *run) write(ctx context.Context, w write) (string, error) {
	ctx = at(ctx, w.name)
	prev, seen, err := x.checkpointOf(ctx, w.incident, w.name)
	if err != nil {
		return "", err
	}
	if seen && prev.Status == store.StepDone {
		x.plan.add(w.incident, w.name, store.StepDone, "already done: "+prev.Detail)
		return prev.Result, nil
	}
	if x.dry {
		return "", x.planned(ctx, w, prev, seen)
	}
	if unfinished(prev, seen) {
		w.intentAt, w.writeEndedAt = prev.IntentAt, prev.WriteEndedAt
		if w.lookup != nil {
			res, found, err := w.lookup(ctx)
			switch {
			case err != nil:
				return "", x.fail(ctx, w, "", fmt.Errorf("look for the effect of an earlier attempt: %w", err))
			case found:
				x.log.Info("found the write of an earlier attempt; not writing again", "step", w.name)
				x.progress = true
				return res, x.checkpoint(ctx, w.incident, store.StepRecord{Name: w.name, Status: store.StepDone, Intent: w.intent, Result: res,
					Detail: w.intent + " (found, written by an earlier attempt)"})
			case w.searched && x.lagging(w):
				return "", x.fail(ctx, w, "", x.lagError(w))
			}
		}
		if w.once && !x.trustAt(w).IsZero() {
			x.log.Warn("an earlier attempt may have written this; not writing again", "step", w.name)
			return MaybeWritten, x.checkpoint(ctx, w.incident, store.StepRecord{Name: w.name, Status: store.StepDone, Intent: w.intent, Result: MaybeWritten,
				Detail: w.intent + " (not sent again: an earlier attempt may have sent it and its outcome is unknown)"})
		}
	}
	earlier := w
	if err := x.begin(ctx, &w, ""); err != nil {
		return "", err
	}
	res, err := w.do(ctx)
	if err != nil {
		x.ended(&w, earlier, err)
		return "", x.fail(ctx, w, "", err)
	}
	x.progress = true
	return res, x.checkpoint(ctx, w.incident, store.StepRecord{Name: w.name, Status: store.StepDone, Intent: w.intent, Result: res, Detail: w.intent})
}

// ended notes when a write that failed with err ended. One the outside
// system answered it did not do (unapplied) leaves the times of the earlier
// writes that may have taken effect: a search need not wait for this one.
func (x *run) ended(w *write, earlier write, err error) {
	if unapplied(err) {
		w.intentAt, w.writeEndedAt = earlier.intentAt, earlier.writeEndedAt
		return
	}
	w.writeEndedAt = x.r.now()
}

// bulkWrite is an outside write of several items in one request (the
// follow-up tickets): each item, told apart by its key, is written once.
type bulkWrite struct {
	write
	keys []string
	// find returns the items an earlier attempt wrote, by key (a search:
	// see write.searched).
	find func(ctx context.Context) (map[string]string, error)
	// create writes the missing items: what it wrote by key, the keys the
	// outside system refused as such, and an error when the rest may
	// succeed later.
	create func(ctx context.Context, missing []string) (written map[string]string, refused []string, err error)
	// detail describes the outcome for the record.
	detail func(written map[string]string, refused []string) string
}

// writeBulk runs b once across attempts, item by item: the result recorded
// with its intent (and after a failure) holds what is already written, and a
// retry looks for the rest before writing it. Items refused as such are
// reported (the step is recorded failed, without an error, and not retried).
func (x *run) writeBulk(ctx context.Context, b bulkWrite) (map[string]string, []string, error) {
	ctx = at(ctx, b.name)
	written := map[string]string{}
	prev, seen, err := x.checkpointOf(ctx, b.incident, b.name)
	if err != nil {
		return nil, nil, err
	}
	if seen && (prev.Status == store.StepDone || prev.Status == store.StepFailed && prev.Error == "") {
		// Done, or done with refusals reported.
		x.plan.add(b.incident, b.name, prev.Status, "already done: "+prev.Detail)
		return decodeResult(prev.Result, written), nil, nil
	}
	if x.dry {
		return written, nil, x.planned(ctx, b.write, prev, seen)
	}
	if unfinished(prev, seen) {
		b.intentAt, b.writeEndedAt = prev.IntentAt, prev.WriteEndedAt
		decodeResult(prev.Result, written)
		found, err := b.find(ctx)
		if err != nil {
			return nil, nil, x.fail(ctx, b.write, encodeResult(written), err)
		}
		maps.Copy(written, found)
		if len(written) < len(b.keys) && x.lagging(b.write) {
			return nil, nil, x.fail(ctx, b.write, encodeResult(written), x.lagError(b.write))
		}
	}
	var missing, refusedKeys []string
	for _, k := range b.keys {
		if written[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		earlier := b.write
		if err := x.begin(ctx, &b.write, encodeResult(written)); err != nil {
			return nil, nil, err
		}
		got, refused, err := b.create(ctx, missing)
		refusedKeys = refused
		maps.Copy(written, got)
		x.progress = x.progress || len(got) > 0
		if err != nil {
			x.ended(&b.write, earlier, err)
			return nil, nil, x.fail(ctx, b.write, encodeResult(written), err)
		}
	}
	x.progress = true
	status := store.StepDone
	if len(refusedKeys) > 0 {
		status = store.StepFailed
	}
	return written, refusedKeys, x.checkpoint(ctx, b.incident, store.StepRecord{Name: b.name, Status: status, Intent: b.intent,
		Detail: b.detail(written, refusedKeys), Result: encodeResult(written)})
}

// decodeResult reads a bulk write's recorded result (key → what was
// written) into into, and returns it.
func decodeResult(result string, into map[string]string) map[string]string {
	if result != "" {
		_ = json.Unmarshal([]byte(result), &into)
	}
	return into
}

func encodeResult(written map[string]string) string {
	b, _ := json.Marshal(written)
	return string(b)
}

// unfinished reports whether an earlier attempt recorded the intent of a
// write without its result: it may or may not have taken effect.
func unfinished(prev store.StepRecord, seen bool) bool {
	return seen && (prev.Status == store.StepStarted || prev.Status == store.StepFailed)
}

// begin records the intent, just before the write.
func (x *run) begin(ctx context.Context, w *write, result string) error {
	w.intentAt, w.writeEndedAt = x.r.now(), time.Time{}
	return x.checkpoint(ctx, w.incident, store.StepRecord{Name: w.name, Status: store.StepStarted, Intent: w.intent, IntentAt: w.intentAt,
		Detail: w.intent, Result: result})
}

// planned records what a dry run or a plan would write. A live attempt's
// intent must survive a dry run: the next live run looks its effect up.
func (x *run) planned(ctx context.Context, w write, prev store.StepRecord, seen bool) error {
	if seen && prev.Status != store.StepPlanned {
		x.plan.add(w.incident, w.name, store.StepPlanned, "would "+w.intent+" (an earlier live attempt left it "+prev.Status+")")
		return nil
	}
	return x.checkpoint(ctx, w.incident, store.StepRecord{Name: w.name, Status: store.StepPlanned, Detail: "would " + w.intent})
}

// fail records a failed write (with what is known to be written, for a
// bulk write) and returns err, wrapped with the step and marked permanent
// when asking again would not help.
func (x *run) fail(ctx context.Context, w write, result string, err error) error {
	st := store.StepRecord{Name: w.name, Status: store.StepFailed, Intent: w.intent, IntentAt: w.intentAt, WriteEndedAt: w.writeEndedAt,
		Detail: w.intent, Result: result, Error: err.Error()}
	if !retryable(err) {
		st.Refused = true
		st.Detail += " (not retried)" // for people: the record's reader reads Refused
	}
	// Recorded even when the attempt's context is done.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := x.checkpoint(rctx, w.incident, st); rerr != nil {
		x.log.Warn("recording a failed step failed", "step", w.name, "err", rerr)
	}
	err = stepError(w.name, w.incident, err)
	if !retryable(err) {
		// Refused as such (a 4xx): the same request later would be
		// refused again.
		return Permanent(err)
	}
	return err
}

// lagging reports whether a search that does not find what w created may
// just be behind: it is before trustAt.
func (x *run) lagging(w write) bool {
	t := x.trustAt(w)
	return !t.IsZero() && x.r.now().Before(t)
}

// trustAt is when a search that does not find what w created can be
// trusted: the search lag after the write was last attempted (a crashed
// write: after its intent; a failed one: after it gave up). Zero when no
// write that may have taken effect was attempted.
func (x *run) trustAt(w write) time.Time {
	at := w.intentAt
	if w.writeEndedAt.After(at) {
		at = w.writeEndedAt
	}
	if at.IsZero() {
		return at
	}
	return at.Add(cmp.Or(x.r.SearchLag, DefaultSearchLag))
}

func (x *run) lagError(w write) error { return &searchLagError{trustAt: x.trustAt(w)} }

// settle records the outcome of a write step that needs no write (nothing
// to do, or done by an earlier attempt).
func (x *run) settle(ctx context.Context, name, status, detail string) error {
	return x.checkpoint(ctx, x.id, store.StepRecord{Name: name, Status: status, Detail: detail})
}

// checkpoint saves a write step's record and adds it to the plan.
func (x *run) checkpoint(ctx context.Context, incident string, st store.StepRecord) error {
	x.plan.add(incident, st.Name, st.Status, cmp.Or(st.Detail, st.Error))
	st.EventID, st.UpdatedAt = x.eventID, x.r.now()
	if err := x.store.RecordStep(ctx, incident, st); err != nil {
		return err
	}
	if m, ok := x.steps[incident]; ok {
		m[st.Name] = st
	}
	return nil
}

// checkpointOf reads a write step's record.
func (x *run) checkpointOf(ctx context.Context, incident, name string) (store.StepRecord, bool, error) {
	m, ok := x.steps[incident]
	if !ok {
		var err error
		if m, err = x.store.Steps(ctx, incident); err != nil {
			return store.StepRecord{}, false, err
		}
		x.steps[incident] = m
	}
	st, seen := m[name]
	return st, seen, nil
}

// earlierIntent reports whether an earlier attempt recorded the intent of
// this incident's write step without its result.
func (x *run) earlierIntent(ctx context.Context, name string) bool {
	st, seen, err := x.checkpointOf(ctx, x.id, name)
	return err == nil && unfinished(st, seen) && st.Intent != ""
}

// trace records what a read step found, in the incident's trace.
func (x *run) trace(ctx context.Context, name, status, detail, result string) error {
	x.plan.add(x.id, name, status, detail)
	return x.store.RecordTrace(ctx, x.id, store.StepRecord{Name: name, Status: status, Detail: detail, Result: result,
		EventID: x.eventID, UpdatedAt: x.r.now()})
}

// failRead traces a failed read and returns the error, wrapped with its step
// and permanent when the incident is gone or the read was refused.
func (x *run) failRead(ctx context.Context, step string, err error) error {
	detail := ""
	if isGone(err) {
		detail = "the incident no longer exists in PagerDuty"
	}
	if rerr := x.traceFailure(ctx, step, detail, err); rerr != nil {
		x.log.Warn("recording a failed step failed", "step", step, "err", rerr)
	}
	err = stepError(step, x.id, err)
	if isGone(err) || !retryable(err) {
		return Permanent(err)
	}
	return err
}

// traceFailure records a failed read step in the trace, even when the
// attempt's context is done.
func (x *run) traceFailure(ctx context.Context, step, detail string, err error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	x.plan.add(x.id, step, store.StepFailed, cmp.Or(detail, err.Error()))
	return x.store.RecordTrace(rctx, x.id, store.StepRecord{Name: step, Status: store.StepFailed, Detail: detail, Error: err.Error(),
		EventID: x.eventID, UpdatedAt: x.r.now()})
}

// readOnly is the store of a dry run (AFTERMATH_DRY_RUN: checkpoints record
// only what would be written, and the trace is marked as a dry run) or of a
// plan (nothing is recorded at all). Groups are worked out, never claimed,
// and no lock is taken: nothing is written outside.
type readOnly struct {
	Store
	plan bool
}

func (s readOnly) RecordStep(ctx context.Context, incidentID string, st store.StepRecord) error {
	if s.plan {
		return nil
	}
	if st.Status != store.StepPlanned {
		st.Detail = "dry run: " + st.Detail
	}
	return s.Store.RecordStep(ctx, incidentID, st)
}

func (s readOnly) RecordTrace(ctx context.Context, incidentID string, st store.StepRecord) error {
	if s.plan {
		return nil
	}
	st.Detail = "dry run: " + st.Detail
	return s.Store.RecordTrace(ctx, incidentID, st)
}

func (s readOnly) RecordEvent(ctx context.Context, incidentID string, ev store.EventRecord) error {
	if s.plan {
		return nil
	}
	return s.Store.RecordEvent(ctx, incidentID, ev)
}

// ClaimGroup returns what the claim would give, claiming nothing.
func (s readOnly) ClaimGroup(ctx context.Context, primary string, ids []string) (store.IncidentGroup, error) {
	g, ok, err := s.GroupOf(ctx, primary)
	if err != nil {
		return g, err
	}
	if !ok {
		g = store.IncidentGroup{Primary: primary, Members: []string{primary}}
	}
	for _, id := range ids {
		if slices.Contains(g.Members, id) {
			continue
		}
		if _, in, err := s.GroupOf(ctx, id); err != nil {
			return g, err
		} else if !in {
			g.Members = append(g.Members, id)
		}
	}
	slices.Sort(g.Members)
	return g, nil
}

// LockIncident takes no lock: a run that writes nothing needs none.
func (s readOnly) LockIncident(context.Context, string, time.Duration) (*store.Lock, error) {
	return nil, nil
}

// Register tracks nothing: a run that writes nothing starts no deadlines.
func (s readOnly) Register(context.Context, store.Postmortem, int) (bool, error) { return false, nil }

// NoteReminder records nothing.
func (s readOnly) NoteReminder(context.Context, string, store.Sent) error { return nil }
