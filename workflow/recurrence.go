package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// A recurrence: an incident resolved on a service (or in its grouping
// scope) whose earlier post-mortem, resolved within recurrence.window, still
// has open follow-ups. The failure came back while its fixes are not done.
// Every resolved incident is checked, whatever its severity, from Redis
// alone: the post-mortems by service (store.PostmortemsOn) and their
// follow-ups as the status sync last saw them (store.Followups).

// The recurrence's steps, as the incident record shows them.
const (
	// StepRecurrence is the decision: which earlier post-mortems the
	// incident recurs, recorded once, so that a retry after their
	// follow-ups were closed meanwhile (or after another post-mortem was
	// made) decides the same.
	StepRecurrence = "recurrence"
	// StepRecurrenceComment is the comment on an earlier post-mortem's epic,
	// one step per earlier post-mortem (recurrence_comment_1, ...).
	StepRecurrenceComment = "recurrence_comment"
	// StepRecurrenceNote is the note on the incident in PagerDuty.
	StepRecurrenceNote = "recurrence_note"
)

// RecurrenceLabel is the label of the epic of an incident that recurred.
const RecurrenceLabel = "recurrence"

// maxEarlier is how many earlier post-mortems one incident recurs at the
// most: the most recently resolved. Each gets a comment, and the new
// post-mortem's page lists them (render.EarlierShown).
const maxEarlier = render.EarlierShown

// recurrenceStore is what the recurrence needs of Redis.
type recurrenceStore interface {
	// PostmortemsOn lists the tracked post-mortems on services resolved
	// in [from, to], the most recent first.
	PostmortemsOn(ctx context.Context, services []string, from, to time.Time) ([]store.Deadline, error)
	// IndexPostmortem files a registered post-mortem under its services.
	IndexPostmortem(ctx context.Context, pm store.Postmortem) error
	// Followups are a post-mortem's follow-ups as the status sync saw them.
	Followups(ctx context.Context, incident string) ([]store.Followup, error)
	RecordRecurrence(ctx context.Context, r store.Recurrence) (bool, error)
}

// EarlierPostmortem is an earlier post-mortem an incident recurs: as it
// stood when the recurrence was decided.
type EarlierPostmortem struct {
	Incident   string         `json:"incident"` // its primary
	Number     int            `json:"number"`
	Title      string         `json:"title"`
	URL        string         `json:"url,omitempty"` // its primary in PagerDuty
	Key        string         `json:"key"`           // its epic
	EpicURL    string         `json:"epic_url,omitempty"`
	Status     string         `json:"status"`
	ResolvedAt time.Time      `json:"resolved_at"`
	Open       []OpenFollowup `json:"open"`
}

// OpenFollowup is a follow-up ticket still open.
type OpenFollowup struct {
	Key     string `json:"key"`
	Summary string `json:"summary,omitempty"` // "" when the status sync has not read it yet
}

func (e EarlierPostmortem) openKeys() []string {
	keys := make([]string, len(e.Open))
	for i, f := range e.Open {
		keys[i] = f.Key
	}
	return keys
}

// recurrenceDecision is what the recurrence step records.
type recurrenceDecision struct {
	// Services are those looked at: the group's, and the others of their
	// grouping scopes.
	Services   []string            `json:"services"`
	Severity   string              `json:"severity,omitempty"` // the incident's own; "" when none
	ResolvedAt time.Time           `json:"resolved_at"`
	Earlier    []EarlierPostmortem `json:"earlier,omitempty"`
}

// recurrence decides whether the incident (with the group's members, for
// a group's primary) recurs earlier post-mortems and, when it does, records
// it for the overview and the digest, counts it, comments once on each
// earlier epic and notes it once on the incident. It returns the earlier
// post-mortems, for the new post-mortem's page. A member of another
// incident's group is left to its primary.
func (x *run) recurrence(ctx context.Context, in pagerduty.Incident, members []Member) ([]EarlierPostmortem, error) {
	if in.ID == "" {
		return nil, nil
	}
	g, inGroup, err := x.store.GroupOf(ctx, x.id)
	if err != nil {
		return nil, err
	}
	if inGroup && g.Primary != x.id {
		return nil, x.settle(ctx, StepRecurrence, store.StepSkipped, "a member of "+g.Primary+"'s group: the recurrence is its primary's")
	}
	d, err := x.recurrenceDecision(ctx, in, members)
	if err != nil || len(d.Earlier) == 0 {
		return nil, err
	}
	for i, e := range d.Earlier {
		recorded, err := x.store.RecordRecurrence(ctx, store.Recurrence{
			Incident: in.ID, Number: in.Number, Title: in.Title, URL: in.HTMLURL, Severity: d.Severity, Service: in.Service.ID,
			ResolvedAt: d.ResolvedAt, Earlier: e.Incident, EarlierKey: e.Key, Open: e.openKeys(),
		})
		if err != nil {
			return nil, err
		}
		// Counted once an incident: when its first pair is recorded, which
		// happens once whatever the retries and replicas (a dry run records
		// nothing).
		if i == 0 && recorded {
			x.r.Metrics.recurrence(orNone(d.Severity))
		}
	}
	if err := x.recurrenceComments(ctx, in, d); err != nil {
		return nil, err
	}
	if err := x.recurrenceNote(ctx, in, d); err != nil {
		return nil, err
	}
	return d.Earlier, nil
}

// recurrenceDecision is the recorded decision, or a new one, recorded now.
// A dry run records it as planned, which no live run reads.
func (x *run) recurrenceDecision(ctx context.Context, in pagerduty.Incident, members []Member) (d recurrenceDecision, err error) {
	prev, seen, err := x.checkpointOf(ctx, x.id, StepRecurrence)
	if err != nil {
		return d, err
	}
	if seen && prev.Status == store.StepDone {
		if err := json.Unmarshal([]byte(prev.Result), &d); err != nil {
			return d, Permanent(fmt.Errorf("decode the recurrence decision of %s: %w", x.id, err))
		}
		x.plan.add(x.id, StepRecurrence, store.StepDone, "already decided: "+prev.Detail)
		return d, nil
	}
	if d, err = x.decideRecurrence(ctx, in, members); err != nil {
		return d, err
	}
	st := store.StepRecord{Name: StepRecurrence, Status: store.StepDone, Detail: x.recurrenceDetail(d)}
	if x.dry {
		// Nothing to read back: a live run decides again.
		st.Status = store.StepPlanned
	} else {
		b, _ := json.Marshal(d)
		st.Result = string(b)
	}
	return d, x.checkpoint(ctx, x.id, st)
}

// decideRecurrence reads the post-mortems on the incident's services and
// their scopes that resolved within the window before it, and keeps those
// with open follow-ups: the index's, or, before the status sync has read
// any, the follow-ups made with the epic. The incident's own group's
// post-mortem is never one.
func (x *run) decideRecurrence(ctx context.Context, in pagerduty.Incident, members []Member) (recurrenceDecision, error) {
	d := recurrenceDecision{Severity: severityName(x.rules, in), ResolvedAt: x.resolvedAt(in)}
	ours := []string{in.ID}
	var own []string
	addTo := func(list *[]string, id string) {
		if id != "" && !slices.Contains(*list, id) {
			*list = append(*list, id)
		}
	}
	addTo(&own, in.Service.ID)
	for _, m := range members {
		ours = append(ours, m.Incident.ID)
		addTo(&own, m.Incident.Service.ID)
	}
	for _, svc := range own {
		addTo(&d.Services, svc)
		if sc := x.rules.ScopeOf(svc); sc != nil {
			for _, o := range sc.Services {
				addTo(&d.Services, o)
			}
		}
	}
	window := time.Duration(x.rules.Recurrence.Window)
	pms, err := x.store.PostmortemsOn(ctx, d.Services, d.ResolvedAt.Add(-window), d.ResolvedAt)
	if err != nil {
		return d, err
	}
	for _, pm := range pms {
		if slices.Contains(ours, pm.Incident) || slices.ContainsFunc(pm.Group, func(id string) bool { return slices.Contains(ours, id) }) {
			continue
		}
		open, err := x.openFollowups(ctx, pm.Postmortem)
		if err != nil {
			return d, err
		}
		if len(open) == 0 {
			continue
		}
		d.Earlier = append(d.Earlier, EarlierPostmortem{
			Incident: pm.Incident, Number: pm.Number, Title: pm.Title, URL: pm.URL, Key: pm.Key, EpicURL: pm.EpicURL,
			Status: pm.Status, ResolvedAt: pm.ResolvedAt, Open: open,
		})
		if len(d.Earlier) == maxEarlier {
			break
		}
	}
	return d, nil
}

// openFollowups are a post-mortem's follow-ups still open as the follow-up
// index has them. An index without a record of the post-mortem yet (the
// status sync has not read it) counts the follow-ups made with the epic as
// open.
func (x *run) openFollowups(ctx context.Context, pm store.Postmortem) ([]OpenFollowup, error) {
	fus, err := x.store.Followups(ctx, pm.Incident)
	if err != nil {
		return nil, err
	}
	var open []OpenFollowup
	if len(fus) == 0 {
		for _, k := range pm.Followups {
			open = append(open, OpenFollowup{Key: k})
		}
		return open, nil
	}
	for _, f := range fus {
		if f.Open() {
			open = append(open, OpenFollowup{Key: f.Key, Summary: f.Summary})
		}
	}
	return open, nil
}

// recurrenceDetail says in the record what was decided.
func (x *run) recurrenceDetail(d recurrenceDecision) string {
	if len(d.Earlier) == 0 {
		return fmt.Sprintf("no post-mortem on %s resolved in the %s before with open follow-ups", strings.Join(d.Services, ", "),
			x.rules.Recurrence.Window)
	}
	parts := make([]string, len(d.Earlier))
	for i, e := range d.Earlier {
		parts[i] = fmt.Sprintf("%s (#%d, %s; open %s)", e.Key, e.Number, e.Status, strings.Join(e.openKeys(), ", "))
	}
	return "recurs " + strings.Join(parts, "; ")
}

// recurrenceComments comments on each earlier post-mortem's epic that the
// incident recurred, each once: a checkpointed write whose marker names the
// incident, found again on the epic after a lost answer. An epic Jira
// refuses the comment on (deleted, moved out of reach) is recorded failed
// and the others go on.
func (x *run) recurrenceComments(ctx context.Context, in pagerduty.Incident, d recurrenceDecision) error {
	if x.r.Jira == nil {
		return nil
	}
	marker := commentMarker("recurred", in.ID)
	for i, e := range d.Earlier {
		text := render.RecurrenceComment(render.Incident{Number: in.Number, Title: in.Title, URL: in.HTMLURL}, d.ResolvedAt, x.rules.Location(),
			e.openKeys(), marker)
		_, err := x.write(ctx, write{
			incident: x.id, name: fmt.Sprintf("%s_%d", StepRecurrenceComment, i+1),
			intent: fmt.Sprintf("comment on %s that #%d recurred while %s open", e.Key, in.Number, strings.Join(e.openKeys(), ", ")),
			lookup: x.findComment(e.Key, marker),
			do:     func(ctx context.Context) (string, error) { return e.Key, x.r.Jira.AddComment(ctx, e.Key, text) },
		})
		if err != nil && !refused(err) {
			return err
		}
	}
	return nil
}

// recurrenceNote notes on the incident, once, the earlier post-mortems it
// recurred and their open follow-ups. A note PagerDuty refuses is recorded
// failed; the process goes on.
func (x *run) recurrenceNote(ctx context.Context, in pagerduty.Incident, d recurrenceDecision) error {
	recs := make([]render.Recurred, len(d.Earlier))
	keys := make([]string, len(d.Earlier))
	for i, e := range d.Earlier {
		url := e.EpicURL
		if url == "" && x.r.Jira != nil {
			url = x.r.Jira.BrowseURL(e.Key)
		}
		recs[i] = render.Recurred{Epic: render.Epic{Key: e.Key, URL: url}, Incident: render.Incident{Number: e.Number, Title: e.Title, URL: e.URL},
			Resolved: e.ResolvedAt, Status: e.Status, Open: e.openKeys()}
		keys[i] = e.Key
	}
	marker := noteMarker("recurrence", in.ID)
	_, err := x.write(ctx, write{
		incident: x.id, name: StepRecurrenceNote,
		intent: fmt.Sprintf("add a note to #%d that it recurred %s", in.Number, strings.Join(keys, ", ")),
		lookup: x.findNote(in.ID, marker),
		do:     x.addNote(in.ID, render.RecurrenceNote(recs, x.rules.Location(), marker)),
	})
	if err != nil && !refused(err) {
		return err
	}
	return nil
}

// indexByService files the incident's post-mortem, once the deadlines step
// registered it, under its services, for the recurrence check of the
// incidents that resolve after it. Idempotent: done on every run that gets
// here.
func (x *run) indexByService(ctx context.Context) error {
	d, found, err := x.store.Deadline(ctx, x.id)
	if err != nil || !found {
		return err
	}
	return x.store.IndexPostmortem(ctx, d.Postmortem)
}

// IndexPostmortem files nothing: a run that writes nothing registers no
// post-mortem.
func (s readOnly) IndexPostmortem(context.Context, store.Postmortem) error { return nil }

// RecordRecurrence records nothing.
func (s readOnly) RecordRecurrence(context.Context, store.Recurrence) (bool, error) {
	return false, nil
}
