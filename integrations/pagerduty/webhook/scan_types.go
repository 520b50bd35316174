package webhook

import "time"

// This file reads the types decodeOnce decodes, each as encoding/json would
// decode it into the same Go type, or not at all (see scanner). A null
// leaves a field as it is, which is what encoding/json does to a string, a
// number, a bool, and, through their UnmarshalJSON, to time.Time and
// FlexString (""); it sets a pointer or a slice to nil: the scanner refuses a
// key met twice, so every field it reads is still zero, and nil.

// onceEvent is event as decodeOnce reads it. Its strings are "" when absent
// or null: decodeOnce refuses an empty id, event_type or occurred_at, as it
// refuses a missing one.
type onceEvent struct {
	ID, EventType, ResourceType, OccurredAt string
	Agent                                   *Reference
	Client                                  *Client
	Data                                    *wireData
}

var (
	envelopeNames  = []string{"event"}
	eventNames     = []string{"id", "event_type", "resource_type", "occurred_at", "agent", "client", "data"}
	referenceNames = []string{"id", "type", "summary", "self", "html_url"}
	clientNames    = []string{"name"}
	bridgeNames    = []string{"conference_number", "conference_url"}
	reasonNames    = []string{"type", "incident"}
	typeNames      = []string{"name"}
	// dataNames are wireData's names, its strings first (see data).
	dataNames = []string{
		"id", "type", "self", "html_url", "status", "incident_key", "title", "urgency", "content", "message",
		"number", "created_at", "reopened_at", "service", "assignees", "escalation_policy", "teams",
		"priority", "conference_bridge", "resolve_reason", "incident_type", "incident", "trimmed",
	}
)

// envelope reads the whole body, an object with an event object, and then
// only whitespace.
func (s *scanner) envelope(e *onceEvent) bool {
	found := false
	ok := s.object(envelopeNames, func(int) bool {
		found = true
		return s.event(e)
	})
	return ok && found && s.end()
}

// event reads the event object (a null one is refused).
func (s *scanner) event(e *onceEvent) bool {
	return s.object(eventNames, func(k int) bool {
		switch eventNames[k] {
		case "agent":
			return pointer(s, &e.Agent, s.reference)
		case "client":
			return pointer(s, &e.Client, s.client)
		case "data":
			return pointer(s, &e.Data, s.data)
		}
		return s.text([]*string{&e.ID, &e.EventType, &e.ResourceType, &e.OccurredAt}[k])
	})
}

// data reads event.data as wireData.
func (s *scanner) data(w *wireData) bool {
	strs := [...]*string{&w.ID, &w.Type, &w.Self, &w.HTMLURL, &w.Status, &w.IncidentKey, &w.Title, &w.Urgency, &w.Content, &w.Message}
	return s.object(dataNames, func(k int) bool {
		if k < len(strs) {
			return s.text(strs[k])
		}
		switch dataNames[k] {
		case "number":
			return s.integer(&w.Number)
		case "created_at":
			return s.time(&w.CreatedAt)
		case "reopened_at":
			return pointer(s, &w.ReopenedAt, s.time)
		case "assignees":
			return s.references(&w.Assignees)
		case "teams":
			return s.references(&w.Teams)
		case "conference_bridge":
			return pointer(s, &w.ConferenceBridge, s.bridge)
		case "resolve_reason":
			return pointer(s, &w.ResolveReason, s.reason)
		case "incident_type":
			return pointer(s, &w.IncidentType, s.incidentType)
		case "trimmed":
			return s.boolean(&w.Trimmed)
		case "service":
			return pointer(s, &w.Service, s.reference)
		case "escalation_policy":
			return pointer(s, &w.EscalationPolicy, s.reference)
		case "priority":
			return pointer(s, &w.Priority, s.reference)
		}
		return pointer(s, &w.NoteIncident, s.reference) // "incident"
	})
}

// pointer reads a value into *dst: nil for null, else a new T read by read.
func pointer[T any](s *scanner, dst **T, read func(*T) bool) bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	v := new(T)
	*dst = v
	return read(v)
}

// reference reads a Reference; null leaves it as it is (an element of a list).
func (s *scanner) reference(r *Reference) bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	strs := [...]*string{&r.ID, &r.Type, &r.Summary, &r.Self, &r.HTMLURL}
	return s.object(referenceNames, func(k int) bool { return s.text(strs[k]) })
}

// references reads a list of references; [] is an empty list, not nil.
func (s *scanner) references(dst *[]Reference) bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	if !s.open('[') {
		return false
	}
	list := []Reference{}
	if s.eat(']') {
		s.depth--
		*dst = list
		return true
	}
	for {
		list = append(list, Reference{})
		if !s.reference(&list[len(list)-1]) {
			return false
		}
		if more, ok := s.more(']'); !more {
			*dst = list
			return ok
		}
	}
}

func (s *scanner) client(c *Client) bool {
	return s.object(clientNames, func(int) bool { return s.text(&c.Name) })
}

func (s *scanner) incidentType(t *IncidentType) bool {
	return s.object(typeNames, func(int) bool { return s.text(&t.Name) })
}

func (s *scanner) reason(r *ResolveReason) bool {
	return s.object(reasonNames, func(k int) bool {
		if k == 0 {
			return s.text(&r.Type)
		}
		return pointer(s, &r.Incident, s.reference)
	})
}

func (s *scanner) bridge(b *ConferenceBridge) bool {
	return s.object(bridgeNames, func(k int) bool {
		if k == 0 {
			v, ok := s.raw()
			return ok && b.ConferenceNumber.UnmarshalJSON(v) == nil
		}
		return s.text(&b.ConferenceURL)
	})
}

// text reads a string or null into *dst.
func (s *scanner) text(dst *string) bool {
	switch s.peek() {
	case 'n':
		return s.lit("null")
	case '"':
		v, ok := s.str()
		*dst = v
		return ok
	}
	return false
}

// integer reads a whole number that fits an int, or null, into *dst; a
// number with a fraction or an exponent (1.0, 1e3) is refused, as
// encoding/json refuses it. -0 is 0.
func (s *scanner) integer(dst *int) bool {
	switch c := s.peek(); {
	case c == 'n':
		return s.lit("null")
	case c != '-' && (c < '0' || c > '9'):
		return false
	}
	start := s.i
	if integer, ok := s.number(); !integer || !ok {
		return false
	}
	digits := s.b[start:s.i]
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) > 18 { // up to 18 digits fit an int64
		return false
	}
	n := 0
	for _, d := range digits {
		n = n*10 + int(d-'0')
	}
	if s.b[start] == '-' {
		n = -n
	}
	*dst = n
	return true
}

// boolean reads true, false or null into *dst.
func (s *scanner) boolean(dst *bool) bool {
	switch s.peek() {
	case 'n':
		return s.lit("null")
	case 't':
		*dst = true
		return s.lit("true")
	case 'f':
		*dst = false
		return s.lit("false")
	}
	return false
}

// time reads any value and hands it to time.Time's UnmarshalJSON, as
// encoding/json does (null leaves the time as it is).
func (s *scanner) time(t *time.Time) bool {
	v, ok := s.raw()
	return ok && t.UnmarshalJSON(v) == nil
}
