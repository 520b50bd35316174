// Package pagerduty is aftermath's PagerDuty REST client, built on
// go-pagerduty with an HTTP client that paces requests and retries what is
// safe to retry. It returns its own small types with parsed times, so that the
// workflow does not depend on go-pagerduty's wire structs.
package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"
)

// Incident statuses.
const (
	StatusTriggered    = "triggered"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Ref points at a PagerDuty object.
type Ref struct {
	ID      string `json:"id"`
	Type    string `json:"type,omitempty"`
	Summary string `json:"summary,omitempty"`
	HTMLURL string `json:"html_url,omitempty"`
}

// Incident is what aftermath reads of an incident.
type Incident struct {
	ID      string `json:"id"`
	Number  int    `json:"number"`
	Title   string `json:"title"`
	Status  string `json:"status"`
	Urgency string `json:"urgency,omitempty"`
	HTMLURL string `json:"html_url,omitempty"`
	Service Ref    `json:"service"`
	// Teams are the incident's PagerDuty teams (its escalation policy's).
	Teams     []Ref     `json:"teams,omitempty"`
	Priority  *Priority `json:"priority,omitempty"` // nil: no priority set
	CreatedAt time.Time `json:"created_at"`
	// ResolvedAt is when it resolved (zero while open); from resolved_at
	// or, failing that, the last status change of a resolved incident.
	ResolvedAt         time.Time `json:"resolved_at,omitzero"`
	LastStatusChangeBy Ref       `json:"last_status_change_by,omitzero"`
	Assignees          []Ref     `json:"assignees,omitempty"`
	// MergedInto is the incident this one was merged into, if it was.
	MergedInto string `json:"merged_into,omitempty"`
	// Conference is the incident's call (conference_bridge); nil when
	// the incident has none.
	Conference *Conference `json:"conference,omitempty"`
}

// Conference is an incident's conference bridge: where responders met.
type Conference struct {
	URL    string `json:"url,omitempty"`    // conference_url: a video call or chat channel
	Number string `json:"number,omitempty"` // conference_number, e.g. "+1-415-555-1212,,,,1234#"
}

// Open reports whether the incident is not resolved.
func (i Incident) Open() bool { return i.Status != StatusResolved }

// PriorityName is the priority's name, or "" when none is set.
func (i Incident) PriorityName() string {
	if i.Priority == nil {
		return ""
	}
	return i.Priority.Name
}

// Priority is one of the account's incident priorities.
type Priority struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// LogEntry is one entry of an incident's log.
type LogEntry struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"` // e.g. "acknowledge_log_entry"
	CreatedAt  time.Time `json:"created_at"`
	Summary    string    `json:"summary,omitempty"`
	HTMLURL    string    `json:"html_url,omitempty"`
	IncidentID string    `json:"incident_id"`
	Agent      Ref       `json:"agent,omitzero"`
	Assignees  []Ref     `json:"assignees,omitempty"`
	Channel    string    `json:"channel,omitempty"`
	// Note is the note's text, on an annotate entry.
	Note string `json:"note,omitempty"`
}

// Note is a note on an incident.
type Note struct {
	ID        string    `json:"id"`
	Content   string    `json:"content"`
	User      Ref       `json:"user,omitzero"`
	CreatedAt time.Time `json:"created_at"`
}

// User is a PagerDuty user.
type User struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	HTMLURL string `json:"html_url,omitempty"`
}

// Error is a failed PagerDuty call.
type Error struct {
	Op      string // what was being done, e.g. "get incident Q1"
	Status  int    // HTTP status; 0 for a transport error
	Message string // PagerDuty's message and errors, or the transport error
	// Transient is true when the same call may succeed later (429, 5xx,
	// transport errors); a 4xx other than 429 will not.
	Transient bool
}

// Retryable reports whether the same call may succeed later: what the
// workflow asks of every integration's errors.
func (e *Error) Retryable() bool { return e.Transient }

// Unapplied reports whether PagerDuty answered that it did not do what was
// asked (429: rate limited; 503: unavailable, turned away before any work),
// so that a write that failed this way took no effect as far as anyone can
// tell. A 500 may come after part of the work was done, and a lost answer,
// a gateway's 502 or 504, or a timeout may follow a write that took effect.
func (e *Error) Unapplied() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("pagerduty: %s: %s", e.Op, e.Message)
	}
	return fmt.Sprintf("pagerduty: %s: HTTP %d: %s", e.Op, e.Status, e.Message)
}

// ErrUnavailable says an optional API is not available on this account (402).
var ErrUnavailable = errors.New("not available on this PagerDuty account")

// IsNotFound reports whether err is PagerDuty answering 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// StatusOf returns the HTTP status of a PagerDuty error, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// wrap turns an error of go-pagerduty or of the HTTP client into an *Error,
// except when ctx ended: that error wraps ctx.Err(), so errors.Is finds
// context.Canceled (go-pagerduty formats transport errors with %v, which
// loses it).
func wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var ae pd.APIError
	if errors.As(err, &ae) {
		msg := ae.Error()
		if ae.APIError.Valid {
			msg = errorText(ae.APIError.ErrorObject)
		}
		return &Error{Op: op, Status: ae.StatusCode, Message: msg, Transient: retryableStatus(ae.StatusCode)}
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("pagerduty: %s: %w", op, cerr)
	}
	return &Error{Op: op, Message: err.Error(), Transient: true}
}

// errorText is PagerDuty's message followed by its list of errors.
func errorText(o pd.APIErrorObject) string {
	msg := o.Message
	for _, e := range o.Errors {
		msg += "; " + e
	}
	return msg
}

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func ref(o pd.APIObject) Ref {
	return Ref{ID: o.ID, Type: o.Type, Summary: o.Summary, HTMLURL: o.HTMLURL}
}

func fromIncident(in pd.Incident) Incident {
	out := Incident{
		ID: in.ID, Number: int(in.IncidentNumber), Title: in.Title, Status: in.Status, Urgency: in.Urgency,
		HTMLURL: in.HTMLURL, Service: ref(in.Service), CreatedAt: parseTime(in.CreatedAt),
		ResolvedAt: parseTime(in.ResolvedAt), LastStatusChangeBy: ref(in.LastStatusChangeBy),
	}
	if in.Priority != nil && in.Priority.ID != "" {
		name := in.Priority.Name
		if name == "" {
			name = in.Priority.Summary
		}
		out.Priority = &Priority{ID: in.Priority.ID, Name: name}
	}
	if out.ResolvedAt.IsZero() && in.Status == StatusResolved {
		out.ResolvedAt = parseTime(in.LastStatusChangeAt)
	}
	for _, a := range in.Assignments {
		out.Assignees = append(out.Assignees, ref(a.Assignee))
	}
	for _, t := range in.Teams {
		out.Teams = append(out.Teams, ref(t))
	}
	if in.ResolveReason.Type == "merge_resolve_reason" {
		out.MergedInto = in.ResolveReason.Incident.ID
	}
	if cb := in.ConferenceBridge; cb != nil && (cb.ConferenceURL != "" || cb.ConferenceNumber != "") {
		out.Conference = &Conference{URL: cb.ConferenceURL, Number: cb.ConferenceNumber}
	}
	return out
}

// logEntryWire is a log entry as the API sends it. go-pagerduty's LogEntry
// has no note field, so log entries are decoded here.
type logEntryWire struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Summary   string         `json:"summary"`
	HTMLURL   string         `json:"html_url"`
	CreatedAt string         `json:"created_at"`
	Agent     pd.APIObject   `json:"agent"`
	Channel   map[string]any `json:"channel"`
	Incident  pd.APIObject   `json:"incident"`
	Assignees []pd.APIObject `json:"assignees"`
	Note      string         `json:"note"`
}

func fromLogEntry(incidentID string, e logEntryWire) LogEntry {
	out := LogEntry{
		ID: e.ID, Type: e.Type, CreatedAt: parseTime(e.CreatedAt), Summary: e.Summary, HTMLURL: e.HTMLURL,
		IncidentID: incidentID, Agent: ref(e.Agent),
	}
	out.Channel, _ = e.Channel["type"].(string)
	if e.Incident.ID != "" {
		out.IncidentID = e.Incident.ID
	}
	for _, a := range e.Assignees {
		out.Assignees = append(out.Assignees, ref(a))
	}
	if e.Type == "annotate_log_entry" {
		// The spec puts the text in the entry's note; some answers carry
		// it in the channel's summary instead.
		out.Note = e.Note
		if s, ok := e.Channel["summary"].(string); ok && out.Note == "" {
			out.Note = s
		}
	}
	return out
}

func fromNote(n pd.IncidentNote) Note {
	return Note{ID: n.ID, Content: n.Content, User: ref(n.User), CreatedAt: parseTime(n.CreatedAt)}
}
