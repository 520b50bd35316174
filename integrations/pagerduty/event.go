package pagerduty

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"time"
)

// IncidentEvent is the incident a V3 incident webhook carries in
// event.data, as of the event's occurred_at. PagerDuty fills data with the
// incident's state when the event happened, so a fresh incident.resolved
// says what GET /incidents/{id} would say: the workflow takes it as its
// first read instead of asking again (docs/workflow.md, "The webhook's
// incident").
type IncidentEvent struct {
	EventType  string
	OccurredAt time.Time
	Incident   Incident
	// Missing names the fields the workflow needs that the payload lacks
	// (a replayed or hand-made body, a future payload version): the
	// incident must then be read.
	Missing []string
}

// Complete reports whether the payload holds every field a read would.
func (e IncidentEvent) Complete() bool { return len(e.Missing) == 0 }

// incidentData is event.data of an incident event. The fields whose
// absence must be told from null (priority, conference bridge, resolve
// reason, assignees, teams) are kept raw.
type incidentData struct {
	ID               string          `json:"id"`
	Type             string          `json:"type"`
	HTMLURL          string          `json:"html_url"`
	Number           int             `json:"number"`
	Status           string          `json:"status"`
	Title            string          `json:"title"`
	CreatedAt        string          `json:"created_at"`
	Urgency          string          `json:"urgency"`
	Service          *refWire        `json:"service"`
	Priority         json.RawMessage `json:"priority"`
	Assignees        json.RawMessage `json:"assignees"`
	Teams            json.RawMessage `json:"teams"`
	ConferenceBridge json.RawMessage `json:"conference_bridge"`
	ResolveReason    json.RawMessage `json:"resolve_reason"`
}

type refWire struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
	Name    string `json:"name"`
	HTMLURL string `json:"html_url"`
}

func (r refWire) ref() Ref {
	return Ref{ID: r.ID, Type: r.Type, Summary: r.Summary, HTMLURL: r.HTMLURL}
}

// DecodeIncidentEvent decodes the incident of a stored V3 webhook body. It
// fails only when the body is not an incident event at all; a payload that
// lacks what a read brings decodes with Missing set.
func DecodeIncidentEvent(body []byte) (IncidentEvent, error) {
	var env struct {
		Event struct {
			EventType  string          `json:"event_type"`
			OccurredAt string          `json:"occurred_at"`
			Agent      *refWire        `json:"agent"`
			Data       json.RawMessage `json:"data"`
		} `json:"event"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return IncidentEvent{}, fmt.Errorf("decode webhook body: %w", err)
	}
	var d incidentData
	if len(env.Event.Data) == 0 || json.Unmarshal(env.Event.Data, &d) != nil || d.Type != "incident" || d.ID == "" {
		return IncidentEvent{}, fmt.Errorf("decode webhook body: event.data is not an incident")
	}
	ev := IncidentEvent{EventType: env.Event.EventType}
	miss := func(field string) { ev.Missing = append(ev.Missing, field) }
	if ev.OccurredAt = parseTime(env.Event.OccurredAt); ev.OccurredAt.IsZero() {
		miss("occurred_at")
	}
	in := Incident{ID: d.ID, Number: d.Number, Title: d.Title, Status: d.Status, Urgency: d.Urgency, HTMLURL: d.HTMLURL}
	for _, f := range []struct {
		name string
		ok   bool
	}{{"number", d.Number > 0}, {"title", d.Title != ""}, {"status", d.Status != ""}, {"html_url", d.HTMLURL != ""}} {
		if !f.ok {
			miss(f.name)
		}
	}
	if d.Service == nil || d.Service.ID == "" {
		miss("service")
	} else {
		in.Service = d.Service.ref()
	}
	if in.CreatedAt = parseTime(d.CreatedAt); in.CreatedAt.IsZero() {
		miss("created_at")
	}
	decodeIncidentParts(d, &in, miss)
	if in.Status == StatusResolved {
		// The webhook has no resolved_at: an incident.resolved happened
		// when it resolved.
		if ev.EventType == "incident.resolved" {
			in.ResolvedAt = ev.OccurredAt
		} else {
			miss("resolved_at")
		}
		// Who changed its status last: the event's agent, as
		// last_status_change_by would say.
		if env.Event.Agent != nil && ev.EventType == "incident.resolved" {
			in.LastStatusChangeBy = env.Event.Agent.ref()
		}
	}
	ev.Incident = in
	return ev, nil
}

// decodeIncidentParts decodes the incident's parts a webhook carries as
// objects (priority, assignees, teams, bridge, resolve reason) into in,
// calling miss with the name of each one absent or not of its shape.
func decodeIncidentParts(d incidentData, in *Incident, miss func(string)) {
	if p, ok := decodeRaw[*refWire](d.Priority); !ok {
		miss("priority")
	} else if p != nil && p.ID != "" {
		in.Priority = &Priority{ID: p.ID, Name: cmp.Or(p.Name, p.Summary)}
	}
	if as, ok := decodeRaw[[]refWire](d.Assignees); !ok {
		miss("assignees")
	} else {
		for _, a := range as {
			in.Assignees = append(in.Assignees, a.ref())
		}
	}
	if ts, ok := decodeRaw[[]refWire](d.Teams); !ok {
		miss("teams")
	} else {
		for _, t := range ts {
			in.Teams = append(in.Teams, t.ref())
		}
	}
	if cb, ok := decodeRaw[*struct {
		URL    string          `json:"conference_url"`
		Number json.RawMessage `json:"conference_number"`
	}](d.ConferenceBridge); !ok {
		miss("conference_bridge")
	} else if cb != nil {
		num := flexString(cb.Number)
		if cb.URL != "" || num != "" {
			in.Conference = &Conference{URL: cb.URL, Number: num}
		}
	}
	if rr, ok := decodeRaw[*struct {
		Type     string   `json:"type"`
		Incident *refWire `json:"incident"`
	}](d.ResolveReason); !ok {
		miss("resolve_reason")
	} else if rr != nil && rr.Type == "merge_resolve_reason" && rr.Incident != nil {
		in.MergedInto = rr.Incident.ID
	}
}

// decodeRaw decodes a field kept raw; ok is false when the field is absent
// or not of the expected shape (null decodes as the zero value).
func decodeRaw[T any](raw json.RawMessage) (v T, ok bool) {
	if len(raw) == 0 {
		return v, false
	}
	return v, json.Unmarshal(raw, &v) == nil
}

// flexString is a JSON string's text, or a number's: PagerDuty's own test
// vector sends conference_number as a number.
func flexString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
