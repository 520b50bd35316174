// Package webhook decodes and verifies PagerDuty V3 webhooks.
//
// go-pagerduty has no types for the V3 payload, so they are defined here from
// PagerDuty's webhook documentation and real signed samples
// (../shared/specs/webhooks). Decoding is lenient about fields PagerDuty may add
// and strict about the ones aftermath relies on.
package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Data types PagerDuty sends in event.data.type.
const (
	DataIncident     = "incident"
	DataIncidentNote = "incident_note"
	DataPing         = "ping"
)

// Event types aftermath names in code.
const (
	EventIncidentResolved  = "incident.resolved"
	EventIncidentTriggered = "incident.triggered"
	EventPing              = "pagey.ping"
)

// Envelope is the whole body of a V3 webhook: one event.
type Envelope struct {
	Event Event `json:"event"`
}

// Event is the envelope's event object.
type Event struct {
	ID           string     `json:"id"`
	EventType    string     `json:"event_type"`
	ResourceType string     `json:"resource_type"`
	OccurredAt   time.Time  `json:"occurred_at"`
	Agent        *Reference `json:"agent"`
	Client       *Client    `json:"client"`
	// Data is event.data decoded by its type; see Data.
	Data Data `json:"data"`
}

// Reference is PagerDuty's resource reference (user_reference, service_reference, ...).
type Reference struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary,omitempty"`
	Self    string `json:"self,omitempty"`
	HTMLURL string `json:"html_url,omitempty"`
}

// Client says where an event was triggered from, when PagerDuty knows.
type Client struct {
	Name string `json:"name"`
}

// Data is event.data. Exactly one of Incident, Note and Ping is set for the
// types aftermath knows; for any other type only Type and Raw are.
type Data struct {
	Type     string
	Incident *Incident
	Note     *IncidentNote
	Ping     *Ping
	// Raw is the data object as received, for data that Decode parsed in
	// two steps (every type aftermath does not model, and unusual bodies);
	// nil when it parsed the body once (see Decode).
	Raw json.RawMessage

	incident *Reference // data.incident of a type not modelled here
}

// Incident is data of type "incident".
type Incident struct {
	ID               string            `json:"id"`
	Type             string            `json:"type"`
	Self             string            `json:"self,omitempty"`
	HTMLURL          string            `json:"html_url,omitempty"`
	Number           int               `json:"number"`
	Status           string            `json:"status"`
	IncidentKey      string            `json:"incident_key,omitempty"`
	CreatedAt        time.Time         `json:"created_at"`
	ReopenedAt       *time.Time        `json:"reopened_at,omitempty"`
	Title            string            `json:"title"`
	Service          *Reference        `json:"service"`
	Assignees        []Reference       `json:"assignees"`
	EscalationPolicy *Reference        `json:"escalation_policy"`
	Teams            []Reference       `json:"teams"`
	Priority         *Reference        `json:"priority"`
	Urgency          string            `json:"urgency,omitempty"`
	ConferenceBridge *ConferenceBridge `json:"conference_bridge"`
	ResolveReason    *ResolveReason    `json:"resolve_reason"`
	IncidentType     *IncidentType     `json:"incident_type,omitempty"`
}

// ConferenceBridge is an incident's conference call details.
type ConferenceBridge struct {
	ConferenceNumber FlexString `json:"conference_number"`
	ConferenceURL    string     `json:"conference_url"`
}

// ResolveReason says why an incident was resolved; PagerDuty sets it when the
// incident was merged into another.
type ResolveReason struct {
	Type     string     `json:"type"`
	Incident *Reference `json:"incident,omitempty"`
}

// IncidentType is the incident's type, "incident_default" unless configured.
type IncidentType struct {
	Name string `json:"name"`
}

// IncidentNote is data of type "incident_note".
type IncidentNote struct {
	ID       string     `json:"id"`
	Type     string     `json:"type"`
	Incident *Reference `json:"incident"`
	Content  string     `json:"content"`
	Trimmed  bool       `json:"trimmed"`
}

// Ping is data of type "ping", sent by pagey.ping.
type Ping struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// FlexString accepts a JSON string or number and keeps its text. PagerDuty's
// own go-pagerduty test vector sends conference_number as the number 1000.
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a string or a number, got %s", truncate(b, 32))
		}
		*f = FlexString(n.String())
	}
	return nil
}

// MarshalJSON implements json.Marshaler: the data object as received when
// Raw holds it, else the decoded incident, note or ping.
func (d Data) MarshalJSON() ([]byte, error) {
	switch {
	case len(d.Raw) > 0:
		return d.Raw, nil
	case d.Incident != nil:
		return json.Marshal(d.Incident)
	case d.Note != nil:
		return json.Marshal(d.Note)
	case d.Ping != nil:
		return json.Marshal(d.Ping)
	}
	return []byte("null"), nil
}

// IncidentID returns the ID of the incident the event is about: data.id for
// incident data, data.incident.id for a note or any other data naming its
// incident; "" for anything else.
func (e *Event) IncidentID() string {
	switch {
	case e.Data.Incident != nil:
		return e.Data.Incident.ID
	case e.Data.Note != nil && e.Data.Note.Incident != nil:
		return e.Data.Note.Incident.ID
	case e.Data.incident != nil:
		return e.Data.incident.ID
	}
	return ""
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
