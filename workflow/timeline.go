package workflow

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/store"
)

// Timeline event kinds, in the words of the post-mortem page.
const (
	KindTriggered       = "triggered"
	KindAcknowledged    = "acknowledged"
	KindEscalated       = "escalated"
	KindReassigned      = "reassigned"
	KindAnnotated       = "annotated"
	KindPriorityChanged = "priority changed"
	KindResolved        = "resolved"
	KindMerged          = "merged"
)

// Timeline is what the incidents' logs and notes say happened: the data the
// post-mortem page is pre-filled with.
type Timeline struct {
	Events     []TimelineEvent `json:"events"`
	Responders []Responder     `json:"responders"`
	// Resolution is the primary's resolution note: the last note written
	// on it before it resolved; nil when there is none.
	Resolution *NoteRef `json:"resolution,omitempty"`
	TODOs      []TODO   `json:"todos"`
	// Response is how each incident was answered, primary first.
	Response []IncidentResponse `json:"response"`
	// Links are the links found in the notes, each once.
	Links []NoteLink `json:"links"`
}

// TimelineEvent is one key event of one incident.
type TimelineEvent struct {
	At             time.Time `json:"at"`
	IncidentID     string    `json:"incident_id"`
	IncidentNumber int       `json:"incident_number"`
	Kind           string    `json:"kind"`
	Actor          string    `json:"actor,omitempty"` // who did it: a user's or a service's name
	ActorID        string    `json:"actor_id,omitempty"`
	Summary        string    `json:"summary"`
	Link           string    `json:"link"` // the log entry (or incident) the event was read from
}

// Responder is a person who took part, with what they did.
type Responder struct {
	UserID  string    `json:"user_id"`
	Name    string    `json:"name"`
	Role    string    `json:"role,omitempty"` // roleIncidentCommander or roleScribe, when a note says so
	Actions []string  `json:"actions"`        // e.g. "acknowledged #42", in the order they first did them
	First   time.Time `json:"first"`          // their first action
}

// NoteRef is a note and where it was written.
type NoteRef struct {
	IncidentID string    `json:"incident_id"`
	Author     string    `json:"author,omitempty"`
	At         time.Time `json:"at"`
	Content    string    `json:"content"`
	Link       string    `json:"link"`
}

// TODO is a follow-up item found in a note.
type TODO struct {
	Text string `json:"text"`
	NoteRef
}

// timeline reads the log entries and notes of the primary and its members.
func (x *run) timeline(ctx context.Context, in pagerduty.Incident, members []Member) (map[string]incidentLog, Timeline, error) {
	read := func(inc pagerduty.Incident) (incidentLog, error) {
		entries, err := x.r.PagerDuty.LogEntries(ctx, inc.ID, false)
		if err != nil {
			return incidentLog{}, err
		}
		notes, err := x.r.PagerDuty.Notes(ctx, inc.ID)
		if err != nil {
			return incidentLog{}, err
		}
		return incidentLog{Incident: inc, Entries: entries, Notes: notes}, nil
	}
	logs := map[string]incidentLog{}
	primary, err := read(in)
	if err != nil {
		return nil, Timeline{}, x.failRead(ctx, StepTimeline, err)
	}
	logs[in.ID] = primary
	var ms []incidentLog
	for _, m := range members {
		l, err := read(m.Incident)
		if err != nil {
			return nil, Timeline{}, x.failRead(ctx, StepTimeline, err)
		}
		logs[m.Incident.ID] = l
		ms = append(ms, l)
	}
	var markers []string
	if x.rules.Followups.FromNotes {
		markers = x.rules.Followups.Markers
	}
	own, err := x.ownUserIn(ctx, primary, ms)
	if err != nil {
		return nil, Timeline{}, x.failRead(ctx, StepTimeline, err)
	}
	x.own = own
	tl := buildTimeline(primary, ms, markers, own)
	entries := len(primary.Entries)
	for _, l := range ms {
		entries += len(l.Entries)
	}
	detail := fmt.Sprintf("%d key events from %d log entries of %d incidents; %d responders; %d TODO items",
		len(tl.Events), entries, len(ms)+1, len(tl.Responders), len(tl.TODOs))
	if tl.Resolution != nil {
		detail += "; resolution note found"
	}
	x.plan.Timeline = &tl
	return logs, tl, x.trace(ctx, StepTimeline, store.StepDone, detail, "")
}

// incidentLog is one incident with what was read of it.
type incidentLog struct {
	Incident pagerduty.Incident
	Entries  []pagerduty.LogEntry
	Notes    []pagerduty.Note
}

// buildTimeline folds the primary's and the members' logs into one timeline.
// markers are the prefixes that make a note line a TODO item (e.g. "TODO:").
// Notes aftermath wrote itself are left out; what its own user (own) did
// otherwise (the final priority, resolving open members) stays in the
// timeline as aftermath's, and aftermath is never a responder.
func buildTimeline(primary incidentLog, members []incidentLog, markers []string, own ownUser) Timeline {
	b := &timelineBuilder{
		tl:         Timeline{Events: []TimelineEvent{}, Responders: []Responder{}, TODOs: []TODO{}, Response: []IncidentResponse{}, Links: []NoteLink{}},
		responders: map[string]*Responder{},
		markers:    markers,
		own:        own,
	}
	all := append([]incidentLog{primary}, members...)
	for _, il := range all {
		b.entries(il)
		b.notes(il)
		b.tl.Response = append(b.tl.Response, responseOf(il))
	}
	slices.SortStableFunc(b.tl.Events, func(a, b TimelineEvent) int { return a.At.Compare(b.At) })
	slices.SortStableFunc(b.tl.Links, func(a, b NoteLink) int { return a.At.Compare(b.At) })
	for _, r := range b.responders {
		b.tl.Responders = append(b.tl.Responders, *r)
	}
	b.roles(all)
	slices.SortFunc(b.tl.Responders, func(a, b Responder) int {
		return cmp.Or(a.First.Compare(b.First), cmp.Compare(a.UserID, b.UserID))
	})
	b.tl.Resolution = resolutionNote(primary, own)
	return b.tl
}

// timelineBuilder gathers a timeline incident by incident.
type timelineBuilder struct {
	tl         Timeline
	responders map[string]*Responder // by PagerDuty user
	markers    []string
	own        ownUser
}

// act notes that a user did something, once per thing: aftermath's own
// user is not a responder.
func (b *timelineBuilder) act(ref pagerduty.Ref, at time.Time, what string) {
	if ref.ID == "" || !isUser(ref) || b.own.is(ref) {
		return
	}
	r, ok := b.responders[ref.ID]
	if !ok {
		r = &Responder{UserID: ref.ID, Name: ref.Summary, First: at}
		b.responders[ref.ID] = r
	}
	if at.Before(r.First) {
		r.First = at
	}
	if !slices.Contains(r.Actions, what) {
		r.Actions = append(r.Actions, what)
	}
}

// entries adds an incident's key log entries as events, and what each
// says its agent and assignees did.
func (b *timelineBuilder) entries(il incidentLog) {
	in := il.Incident
	num := "#" + strconv.Itoa(in.Number)
	for _, e := range il.Entries {
		ev, ok := entryEvent(il, e, b.own)
		if !ok {
			continue
		}
		b.tl.Events = append(b.tl.Events, ev)
		switch ev.Kind {
		case KindAcknowledged:
			b.act(e.Agent, e.CreatedAt, "acknowledged "+num)
		case KindEscalated, KindReassigned:
			for _, a := range e.Assignees {
				b.act(a, e.CreatedAt, "was assigned "+num)
			}
			if len(e.Assignees) > 0 {
				b.act(e.Agent, e.CreatedAt, "reassigned "+num)
			}
		case KindAnnotated:
			b.act(e.Agent, e.CreatedAt, "added notes to "+num)
		case KindResolved, KindMerged:
			b.act(e.Agent, e.CreatedAt, "resolved "+num)
		case KindPriorityChanged:
			b.act(e.Agent, e.CreatedAt, "changed the priority of "+num)
		}
	}
}

// entryEvent is the timeline event of a log entry; ok is false for entries
// the timeline leaves out (notifications, aftermath's own notes).
func entryEvent(il incidentLog, e pagerduty.LogEntry, own ownUser) (TimelineEvent, bool) {
	in := il.Incident
	kind, ok := eventKind(e, in)
	if !ok {
		return TimelineEvent{}, false
	}
	summary := e.Summary
	if kind == KindAnnotated {
		// go-pagerduty does not decode a log entry's note: the note
		// itself, written at the same moment, says it.
		content, author := e.Note, e.Agent.ID
		if n, ok := noteAt(il.Notes, e); ok {
			content, author = n.Content, cmp.Or(n.User.ID, author)
		}
		if own.ours(author, content) {
			return TimelineEvent{}, false
		}
		if content != "" {
			summary = "Note: " + firstLine(content)
		}
	}
	link := e.HTMLURL
	if link == "" {
		link = in.HTMLURL
	}
	actor := e.Agent.Summary
	if own.is(e.Agent) {
		actor = own.actor()
	}
	return TimelineEvent{
		At: e.CreatedAt, IncidentID: in.ID, IncidentNumber: in.Number, Kind: kind,
		Actor: actor, ActorID: e.Agent.ID, Summary: summary, Link: link,
	}, true
}

// notes adds an incident's assignees and note authors as responders, and
// the TODO items of its notes.
func (b *timelineBuilder) notes(il incidentLog) {
	in := il.Incident
	num := "#" + strconv.Itoa(in.Number)
	for _, a := range in.Assignees {
		b.act(a, in.CreatedAt, "was assigned "+num)
	}
	for _, n := range il.Notes {
		if b.own.ours(n.User.ID, n.Content) {
			continue
		}
		b.act(n.User, n.CreatedAt, "added notes to "+num)
		ref := NoteRef{IncidentID: in.ID, Author: n.User.Summary, At: n.CreatedAt, Content: n.Content, Link: in.HTMLURL}
		for _, t := range findTODOs(n.Content, b.markers) {
			b.tl.TODOs = append(b.tl.TODOs, TODO{Text: t, NoteRef: ref})
		}
		urls, lines := findLinks(n.Content)
		for i, u := range urls {
			if !slices.ContainsFunc(b.tl.Links, func(l NoteLink) bool { return l.URL == u }) {
				b.tl.Links = append(b.tl.Links, NoteLink{URL: u, Kind: linkKind(u), Line: lines[i], NoteRef: ref, IncidentNumber: in.Number})
			}
		}
	}
}

// roles: a note line such as "IC: Alice Ng" or "Scribe: Bob" marks them.
func (b *timelineBuilder) roles(all []incidentLog) {
	for _, il := range all {
		for _, n := range il.Notes {
			if b.own.ours(n.User.ID, n.Content) {
				continue
			}
			for role, name := range findRoles(n.Content) {
				i := slices.IndexFunc(b.tl.Responders, func(r Responder) bool { return strings.EqualFold(r.Name, name) })
				if i < 0 {
					b.tl.Responders = append(b.tl.Responders, Responder{Name: name, First: n.CreatedAt})
					i = len(b.tl.Responders) - 1
				}
				b.tl.Responders[i].Role = role
			}
		}
	}
}

// eventKind maps a log entry to a timeline kind; ok is false for entries the
// timeline leaves out (notifications and the like).
func eventKind(e pagerduty.LogEntry, in pagerduty.Incident) (string, bool) {
	switch e.Type {
	case "trigger_log_entry":
		return KindTriggered, true
	case "acknowledge_log_entry":
		return KindAcknowledged, true
	case "escalate_log_entry":
		return KindEscalated, true
	case "assign_log_entry", "delegate_log_entry":
		return KindReassigned, true
	case "annotate_log_entry":
		return KindAnnotated, true
	case "priority_change_log_entry":
		return KindPriorityChanged, true
	case "merge_log_entry":
		return KindMerged, true
	case "resolve_log_entry":
		if in.MergedInto != "" || strings.Contains(strings.ToLower(e.Summary), "merge") {
			return KindMerged, true
		}
		return KindResolved, true
	}
	if strings.Contains(e.Type, "priority") {
		return KindPriorityChanged, true
	}
	return "", false
}

// noteAt finds the note an annotate entry logged: written by the same user
// within two seconds of it.
func noteAt(notes []pagerduty.Note, e pagerduty.LogEntry) (pagerduty.Note, bool) {
	for _, n := range notes {
		d := n.CreatedAt.Sub(e.CreatedAt)
		if d < 0 {
			d = -d
		}
		if d <= 2*time.Second && (e.Agent.ID == "" || n.User.ID == "" || n.User.ID == e.Agent.ID) {
			return n, true
		}
	}
	return pagerduty.Note{}, false
}

// resolutionNote is the last note written on the primary before it
// resolved (or the last note at all when the resolve time is unknown).
func resolutionNote(primary incidentLog, own ownUser) *NoteRef {
	var best *pagerduty.Note
	for i, n := range primary.Notes {
		if own.ours(n.User.ID, n.Content) {
			continue
		}
		if !primary.Incident.ResolvedAt.IsZero() && n.CreatedAt.After(primary.Incident.ResolvedAt) {
			continue
		}
		if best == nil || !n.CreatedAt.Before(best.CreatedAt) {
			best = &primary.Notes[i]
		}
	}
	if best == nil {
		return nil
	}
	return &NoteRef{IncidentID: primary.Incident.ID, Author: best.User.Summary, At: best.CreatedAt, Content: best.Content, Link: primary.Incident.HTMLURL}
}

// The roles a note can give a responder, as the Responders table names them.
const (
	roleIncidentCommander = "Incident commander"
	roleScribe            = "Scribe"
)

// roleMarkers are the note-line prefixes that name the incident's roles.
var roleMarkers = []struct{ prefix, role string }{
	{"incident commander:", roleIncidentCommander},
	{"ic:", roleIncidentCommander},
	{"scribe:", roleScribe},
}

// findRoles reads "IC: Alice Ng" and "Scribe: Bob" lines of a note.
func findRoles(content string) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(content, "\n") {
		l := strings.TrimLeft(strings.TrimSpace(line), "-*• ")
		for _, m := range roleMarkers {
			if len(l) > len(m.prefix) && strings.EqualFold(l[:len(m.prefix)], m.prefix) {
				if name := strings.TrimSpace(l[len(m.prefix):]); name != "" && len(name) <= 100 {
					out[m.role] = name
				}
				break
			}
		}
	}
	return out
}

// findTODOs returns the text after a marker on each line that starts with
// one (ignoring leading spaces, list bullets and case), e.g. "- TODO: add an
// alert" gives "add an alert".
func findTODOs(content string, markers []string) []string {
	var out []string
	for line := range strings.SplitSeq(content, "\n") {
		l := strings.TrimLeft(strings.TrimSpace(line), "-*• ")
		for _, m := range markers {
			if len(l) >= len(m) && strings.EqualFold(l[:len(m)], m) {
				if t := strings.TrimSpace(strings.TrimLeft(l[len(m):], ":- ")); t != "" {
					out = append(out, t)
				}
				break
			}
		}
	}
	return out
}

func isUser(r pagerduty.Ref) bool {
	return r.Type == "" || strings.HasPrefix(r.Type, "user")
}
