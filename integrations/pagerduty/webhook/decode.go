package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// DecodeError says why a body is not a V3 envelope. Its message is safe to
// return to the sender: it names fields, never echoes the whole body.
type DecodeError struct {
	Reason string
}

func (e *DecodeError) Error() string { return "not a PagerDuty V3 webhook: " + e.Reason }

func invalid(format string, args ...any) error {
	return &DecodeError{Reason: fmt.Sprintf(format, args...)}
}

// wireEnvelope is the body with event.data left raw: one parse of the body.
type wireEnvelope struct {
	Event *wireEvent `json:"event"`
}

type wireEvent struct {
	ID           *string         `json:"id"`
	EventType    *string         `json:"event_type"`
	ResourceType *string         `json:"resource_type"`
	OccurredAt   *string         `json:"occurred_at"`
	Agent        *Reference      `json:"agent"`
	Client       *Client         `json:"client"`
	Data         json.RawMessage `json:"data"`
}

// wireData is the union of the data types aftermath models, so that data is
// parsed once whatever its type.
type wireData struct {
	Incident
	// incident_note
	NoteIncident *Reference `json:"incident"`
	Content      string     `json:"content"`
	Trimmed      bool       `json:"trimmed"`
	// ping
	Message string `json:"message"`
}

// Decode parses body as a V3 envelope. It fails with a *DecodeError when body
// is not one: not a single JSON object, no event, a required event field
// missing or of the wrong type, or, for incident.resolved (the event
// aftermath acts on), data that is not an incident. Data of other event types
// is decoded when it has a known shape and kept raw otherwise: PagerDuty adds
// event types and fields, and a 400 counts toward disabling the subscription.
//
// A body of a type aftermath models (incident, incident_note, ping data) is
// parsed once, event.data included (decodeOnce); anything that path does
// not accept whole, errors included, is decoded by decodeInTwo, whose
// answers are the reference: the two agree on every body (FuzzDecodeOnce).
//
// The envelope's strings may share body's memory: body must not be changed
// while the envelope is in use.
func Decode(body []byte) (*Envelope, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, invalid("empty body")
	}
	if trimmed[0] != '{' {
		return nil, invalid("not a JSON object")
	}
	if env := decodeOnce(trimmed); env != nil {
		return env, nil
	}
	return decodeInTwo(trimmed)
}

// decodeOnce decodes body, a JSON object, in one pass when it is a valid
// envelope whose data has a modelled type; otherwise it returns nil and
// decodeInTwo decides. The pass is a scanner that decodes exactly these types
// without reflection (scan.go, scan_types.go) and gives up on any body where
// it is not sure to decode as encoding/json does: a key met twice (there the
// last "data" object would win over the first), a key that matches a field
// only ignoring case, an escape other than the simple ones, a type mismatch,
// a syntax error, a number that is not a whole int. Its strings share
// body's memory.
func decodeOnce(body []byte) *Envelope {
	var we onceEvent
	s := newScanner(body)
	if !s.envelope(&we) || we.Data == nil {
		return nil
	}
	w := we.Data
	if strings.TrimSpace(we.ID) == "" || strings.TrimSpace(we.EventType) == "" || !strings.Contains(we.EventType, ".") {
		return nil
	}
	ev := Event{ID: we.ID, EventType: we.EventType, ResourceType: we.ResourceType, Agent: we.Agent, Client: we.Client}
	var err error
	if ev.OccurredAt, err = time.Parse(time.RFC3339Nano, we.OccurredAt); err != nil {
		return nil
	}
	ev.Data = Data{Type: w.Type}
	switch w.Type {
	case DataIncident:
		if w.ID == "" {
			return nil
		}
		ev.Data.Incident = &w.Incident
	case DataIncidentNote:
		if w.NoteIncident == nil || w.NoteIncident.ID == "" {
			return nil
		}
		ev.Data.Note = &IncidentNote{ID: w.ID, Type: w.Type, Incident: w.NoteIncident, Content: w.Content, Trimmed: w.Trimmed}
	case DataPing:
		ev.Data.Ping = &Ping{Type: w.Type, Message: w.Message}
	default:
		return nil
	}
	if ev.EventType == EventIncidentResolved && ev.Data.Incident == nil {
		return nil
	}
	return &Envelope{Event: ev}
}

// decodeInTwo parses the envelope with event.data left raw, then the data by
// its type: the reference decoding, and the one that words the errors.
func decodeInTwo(trimmed []byte) (*Envelope, error) {
	var wire wireEnvelope
	if err := json.Unmarshal(trimmed, &wire); err != nil {
		return nil, jsonError("", err)
	}
	we := wire.Event
	if we == nil {
		return nil, invalid("no event object")
	}

	var ev Event
	var err error
	if ev.ID, err = requiredString("event.id", we.ID); err != nil {
		return nil, err
	}
	if ev.EventType, err = requiredString("event.event_type", we.EventType); err != nil {
		return nil, err
	}
	if !strings.Contains(ev.EventType, ".") {
		return nil, invalid("event.event_type %q is not of the form resource.action", clip(ev.EventType))
	}
	if we.ResourceType != nil {
		ev.ResourceType = *we.ResourceType
	}
	occurred, err := requiredString("event.occurred_at", we.OccurredAt)
	if err != nil {
		return nil, err
	}
	if ev.OccurredAt, err = time.Parse(time.RFC3339Nano, occurred); err != nil {
		return nil, invalid("event.occurred_at %q is not an ISO 8601 time", clip(occurred))
	}
	ev.Agent, ev.Client = we.Agent, we.Client

	if len(we.Data) == 0 || isNull(we.Data) {
		return nil, invalid("no event.data object")
	}
	strict := ev.EventType == EventIncidentResolved
	if ev.Data, err = decodeData(we.Data, strict); err != nil {
		return nil, err
	}
	if strict && ev.Data.Incident == nil {
		return nil, invalid("event %s carries data of type %q, want %q", ev.EventType, clip(ev.Data.Type), DataIncident)
	}
	return &Envelope{Event: ev}, nil
}

// decodeData decodes event.data by its type. When strict, data that does not
// match its type's shape is an error; otherwise only a missing type is, and
// the data is kept raw.
func decodeData(raw json.RawMessage, strict bool) (Data, error) {
	if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
		return Data{}, invalid("event.data is not a JSON object")
	}
	var w wireData
	if err := json.Unmarshal(raw, &w); err != nil {
		if strict {
			return Data{}, jsonError("event.data", err)
		}
		// An unmodelled shape: keep what can be read.
		var head struct {
			Type     *string    `json:"type"`
			Incident *Reference `json:"incident"`
		}
		if json.Unmarshal(raw, &head) != nil || head.Type == nil || *head.Type == "" {
			return Data{}, invalid("event.data.type is missing")
		}
		return Data{Type: *head.Type, Raw: raw, incident: head.Incident}, nil
	}
	if w.Type == "" {
		return Data{}, invalid("event.data.type is missing")
	}
	d := Data{Type: w.Type, Raw: raw}
	switch w.Type {
	case DataIncident:
		if w.ID == "" {
			return Data{}, invalid("event.data.id is missing for incident data")
		}
		inc := w.Incident
		d.Incident = &inc
	case DataIncidentNote:
		if w.NoteIncident == nil || w.NoteIncident.ID == "" {
			return Data{}, invalid("event.data.incident.id is missing for incident_note data")
		}
		d.Note = &IncidentNote{ID: w.ID, Type: w.Type, Incident: w.NoteIncident, Content: w.Content, Trimmed: w.Trimmed}
	case DataPing:
		d.Ping = &Ping{Type: w.Type, Message: w.Message}
	default:
		// Types aftermath does not model may still name their incident.
		d.incident = w.NoteIncident
	}
	return d, nil
}

// UnmarshalJSON implements json.Unmarshaler by decoding data by its type.
func (d *Data) UnmarshalJSON(b []byte) error {
	x, err := decodeData(b, false)
	if err != nil {
		return err
	}
	*d = x
	return nil
}

// jsonError turns encoding/json's errors into reasons for people.
func jsonError(prefix string, err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		// wireData embeds Incident; its name is not part of the JSON path.
		field := strings.TrimPrefix(typeErr.Field, "Incident.")
		if field == "" {
			field = "the body"
		}
		if prefix != "" {
			field = prefix + ": " + field
		}
		return invalid("%s is a JSON %s, want %s", field, typeErr.Value, describeType(typeErr.Type))
	case errors.As(err, &syntaxErr):
		msg := syntaxErr.Error()
		switch {
		case strings.Contains(msg, "after top-level value"):
			return invalid("unexpected data after the JSON object")
		case strings.Contains(msg, "unexpected end of JSON input"):
			return invalid("truncated JSON")
		}
		return invalid("malformed JSON at byte %d: %s", syntaxErr.Offset, msg)
	}
	// time.Time and FlexString errors: name the problem, not the body.
	return invalid("invalid value: %s", clip(err.Error()))
}

func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		if t == reflect.TypeOf(time.Time{}) {
			return "a time"
		}
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	}
	return t.Kind().String()
}

func requiredString(name string, v *string) (string, error) {
	if v == nil {
		return "", invalid("%s is missing", name)
	}
	if strings.TrimSpace(*v) == "" {
		return "", invalid("%s is empty", name)
	}
	return *v, nil
}

func isNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }

// clip keeps reasons short when they quote input.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
