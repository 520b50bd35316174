package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

func TestDecodeSamples(t *testing.T) {
	testspecs.Require(t, "the webhook samples")
	cases := []struct {
		file       string
		eventType  string
		dataType   string
		incidentID string
		check      func(t *testing.T, ev *Event)
	}{
		{"incident.resolved.json", "incident.resolved", DataIncident, "Q2CKYRLH85UNN4", func(t *testing.T, ev *Event) {
			inc := ev.Data.Incident
			if inc.Number != 37 || inc.Status != "resolved" || inc.Title != "Test" {
				t.Errorf("incident = %+v", inc)
			}
			if inc.Service == nil || inc.Service.ID != "PNE3JZM" || inc.Service.Summary != "Webhook Tester" {
				t.Errorf("service = %+v", inc.Service)
			}
			if inc.EscalationPolicy == nil || inc.EscalationPolicy.ID != "P482651" {
				t.Errorf("escalation policy = %+v", inc.EscalationPolicy)
			}
			if inc.Priority != nil || inc.ResolveReason != nil || inc.ConferenceBridge != nil {
				t.Errorf("null fields should decode to nil: %+v", inc)
			}
			if inc.IncidentType == nil || inc.IncidentType.Name != "incident_default" {
				t.Errorf("incident type = %+v", inc.IncidentType)
			}
			if want := time.Date(2025, 4, 7, 3, 47, 13, 0, time.UTC); !inc.CreatedAt.Equal(want) {
				t.Errorf("created_at = %v, want %v", inc.CreatedAt, want)
			}
			if want := time.Date(2025, 4, 7, 3, 49, 36, 358e6, time.UTC); !ev.OccurredAt.Equal(want) {
				t.Errorf("occurred_at = %v, want %v", ev.OccurredAt, want)
			}
			if ev.Agent == nil || ev.Agent.ID != "PVE0ZR9" || ev.Agent.Type != "user_reference" {
				t.Errorf("agent = %+v", ev.Agent)
			}
			if ev.Client != nil {
				t.Errorf("client should be nil, got %+v", ev.Client)
			}
		}},
		{"incident.triggered.json", "incident.triggered", DataIncident, "Q2CKYRLH85UNN4", func(t *testing.T, ev *Event) {
			if a := ev.Data.Incident.Assignees; len(a) != 1 || a[0].ID != "PVE0ZR9" {
				t.Errorf("assignees = %+v", a)
			}
		}},
		{"incident.acknowledged.json", "incident.acknowledged", DataIncident, "Q2CKYRLH85UNN4", nil},
		{"incident.annotated.json", "incident.annotated", DataIncidentNote, "Q2CKYRLH85UNN4", func(t *testing.T, ev *Event) {
			n := ev.Data.Note
			if n.ID != "PTSAIFZ" || n.Content != "Resolution Note: I'm resolving it" || n.Trimmed {
				t.Errorf("note = %+v", n)
			}
		}},
		{"pagey.ping.json", "pagey.ping", DataPing, "", func(t *testing.T, ev *Event) {
			if ev.Data.Ping.Message != "Hello from your friend Pagey!" || ev.ResourceType != "pagey" {
				t.Errorf("ping = %+v", ev.Data.Ping)
			}
		}},
		{"official/incident.priority_updated.developer-docs.json", "incident.priority_updated", DataIncident, "PGR0VU2", func(t *testing.T, ev *Event) {
			inc := ev.Data.Incident
			if inc.Priority == nil || inc.Priority.Summary != "P1" {
				t.Errorf("priority = %+v", inc.Priority)
			}
			if inc.ReopenedAt == nil || len(inc.Teams) != 1 || inc.Teams[0].Summary != "Engineering" {
				t.Errorf("reopened_at/teams = %v %+v", inc.ReopenedAt, inc.Teams)
			}
			if inc.ConferenceBridge == nil || inc.ConferenceBridge.ConferenceNumber != "+1 1234123412,,987654321#" {
				t.Errorf("conference bridge = %+v", inc.ConferenceBridge)
			}
			if ev.Client == nil || ev.Client.Name != "PagerDuty" {
				t.Errorf("client = %+v", ev.Client)
			}
		}},
		{"official/incident.priority_updated.go-pagerduty-v1.8.0-testvector.json", "incident.priority_updated", DataIncident, "PGR0VU2", func(t *testing.T, ev *Event) {
			// This fixture sends conference_number as the number 1000.
			if got := ev.Data.Incident.ConferenceBridge.ConferenceNumber; got != "1000" {
				t.Errorf("conference_number = %q, want 1000", got)
			}
		}},
		{"official/service.updated.developer-docs.json", "service.updated", "service", "", func(t *testing.T, ev *Event) {
			if ev.Agent != nil || ev.Data.Incident != nil || len(ev.Data.Raw) == 0 {
				t.Errorf("service event: agent %+v, data %+v", ev.Agent, ev.Data)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			env, err := Decode(testspecs.Read(t, "webhooks/"+tc.file))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			ev := &env.Event
			if ev.EventType != tc.eventType || ev.Data.Type != tc.dataType || ev.IncidentID() != tc.incidentID {
				t.Fatalf("got type %q data %q incident %q; want %q %q %q",
					ev.EventType, ev.Data.Type, ev.IncidentID(), tc.eventType, tc.dataType, tc.incidentID)
			}
			if ev.ID == "" || ev.OccurredAt.IsZero() {
				t.Fatalf("id %q occurred_at %v", ev.ID, ev.OccurredAt)
			}
			if tc.check != nil {
				tc.check(t, ev)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	const good = `{"event":{"id":"E1","event_type":"incident.resolved","resource_type":"incident","occurred_at":"2025-04-07T03:49:36.358Z","agent":null,"client":null,"data":{"id":"Q1","type":"incident","title":"t","number":1}}}`
	mutate := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("test bug: %q not in the good body", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	if _, err := Decode([]byte(good)); err != nil {
		t.Fatalf("the base body must decode: %v", err)
	}
	cases := []struct {
		name, body, reason string
	}{
		{"empty", "", "empty body"},
		{"whitespace", " \n", "empty body"},
		{"array", `[{"event":{}}]`, "not a JSON object"},
		{"string", `"event"`, "not a JSON object"},
		{"truncated", good[:len(good)-5], "truncated JSON"},
		{"syntax", `{"event":{"id":}}`, "malformed JSON"},
		{"trailing data", good + `{}`, "unexpected data after the JSON object"},
		{"no event", `{"events":[]}`, "no event object"},
		{"null event", `{"event":null}`, "no event object"},
		{"event not object", `{"event":"x"}`, "event is a JSON string, want an object"},
		{"missing id", mutate(`"id":"E1",`, ``), "event.id is missing"},
		{"empty id", mutate(`"id":"E1"`, `"id":""`), "event.id is empty"},
		{"id wrong type", mutate(`"id":"E1"`, `"id":7`), "event.id is a JSON number, want a string"},
		{"missing event_type", mutate(`"event_type":"incident.resolved",`, ``), "event.event_type is missing"},
		{"bad event_type", mutate(`"event_type":"incident.resolved"`, `"event_type":"resolved"`), "not of the form resource.action"},
		{"missing occurred_at", mutate(`"occurred_at":"2025-04-07T03:49:36.358Z",`, ``), "event.occurred_at is missing"},
		{"bad occurred_at", mutate(`2025-04-07T03:49:36.358Z`, `yesterday`), "not an ISO 8601 time"},
		{"missing data", mutate(`,"data":{"id":"Q1","type":"incident","title":"t","number":1}`, ``), "no event.data object"},
		{"data without type", mutate(`"type":"incident",`, ``), "event.data.type is missing"},
		{"incident without id", mutate(`"id":"Q1",`, ``), "event.data.id is missing"},
		{"incident number as string", mutate(`"number":1`, `"number":"1"`), "event.data: number is a JSON string, want a whole number"},
		{"resolved with ping data", mutate(`"id":"Q1","type":"incident","title":"t","number":1`, `"type":"ping","message":"x"`), `want "incident"`},
		{"note without incident", `{"event":{"id":"E","event_type":"incident.annotated","occurred_at":"2025-04-07T03:49:36Z","data":{"type":"incident_note","content":"x"}}}`, "event.data.incident.id is missing"},
		{"agent wrong type", mutate(`"agent":null`, `"agent":"bob"`), "event.agent is a JSON string, want an object"},
		{"created_at not a time", mutate(`"number":1`, `"number":1,"created_at":"yesterday"`), "invalid value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.body))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a *DecodeError", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

// Event types aftermath does not model keep decoding, so PagerDuty's newer
// event kinds are answered "ignored" rather than 400 (which would count toward
// disabling the subscription).
func TestDecodeUnknownIncidentDataIsAccepted(t *testing.T) {
	body := `{"event":{"id":"E","event_type":"incident.responder.added","resource_type":"incident","occurred_at":"2025-04-07T03:49:36Z","agent":null,"client":null,
	  "data":{"type":"incident_responder","incident":{"id":"Q9","type":"incident_reference"},"user":{"id":"U1","type":"user_reference"},"extra":[1,2,{"a":null}]}}}`
	env, err := Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if env.Event.IncidentID() != "Q9" || env.Event.Data.Type != "incident_responder" {
		t.Fatalf("got incident %q type %q", env.Event.IncidentID(), env.Event.Data.Type)
	}
	out, err := json.Marshal(env)
	if err != nil || !strings.Contains(string(out), `"extra":[1,2,{"a":null}]`) {
		t.Fatalf("re-encoding should keep the data as received: %s %v", out, err)
	}
}

// Data of event types aftermath only ignores is not held to a shape: an
// unexpected field type there must not turn an "ignored" into a 400.
func TestDecodeIsLenientAboutIgnoredEventData(t *testing.T) {
	for _, data := range []string{
		`{"id":"Q1","type":"incident","number":"37"}`,
		`{"id":"Q1","type":"incident","created_at":"yesterday"}`,
		`{"type":"incident_note","incident":{"id":"Q1"},"trimmed":"no"}`,
	} {
		body := `{"event":{"id":"E","event_type":"incident.triggered","occurred_at":"2025-04-07T03:49:36Z","data":` + data + `}}`
		env, err := Decode([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if env.Event.IncidentID() != "Q1" && env.Event.Data.Type != "incident" {
			t.Fatalf("%s: incident %q type %q", data, env.Event.IncidentID(), env.Event.Data.Type)
		}
		resolved := strings.Replace(body, "incident.triggered", "incident.resolved", 1)
		if _, err := Decode([]byte(resolved)); err == nil {
			t.Fatalf("incident.resolved with %s must be refused", data)
		}
	}
}

func TestDecodeErrorsDoNotEchoLongInput(t *testing.T) {
	long := strings.Repeat("A", 10000)
	_, err := Decode([]byte(`{"event":{"id":"E","event_type":"` + long + `","occurred_at":"x","data":{"type":"ping"}}}`))
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("error should be short, got %d bytes: %v", len(err.Error()), err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"event":{"id":"E1","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36.358Z","data":{"id":"Q1","type":"incident"}}}`,
		`{"event":{"id":"E","event_type":"incident.annotated","occurred_at":"2025-04-07T03:49:36Z","data":{"type":"incident_note","incident":{"id":"Q"}}}}`,
		`{"event":{"id":"E","event_type":"pagey.ping","occurred_at":"2025-04-07T03:49:36Z","data":{"type":"ping"}}}`,
		`{"event":{"id":"E","event_type":"x.y","occurred_at":"2025-04-07T03:49:36Z","data":{"type":"incident","id":"Q","conference_bridge":{"conference_number":1e400}}}}`,
		`{}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := Decode(body)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is not a *DecodeError: %T %v", err, err)
			}
			if len(err.Error()) > 1000 {
				t.Fatalf("error message too long (%d bytes)", len(err.Error()))
			}
			return
		}
		ev := env.Event
		if ev.ID == "" || ev.EventType == "" || ev.OccurredAt.IsZero() || ev.Data.Type == "" {
			t.Fatalf("accepted an envelope without its required fields: %+v", ev)
		}
		if ev.EventType == EventIncidentResolved && (ev.Data.Incident == nil || ev.IncidentID() == "") {
			t.Fatalf("accepted incident.resolved without incident data")
		}
		if _, err := json.Marshal(env); err != nil {
			t.Fatalf("an accepted envelope must re-encode: %v", err)
		}
	})
}

// decodeOnceSeeds are bodies near the edges of Decode's one-parse path:
// each is decoded by both paths in FuzzDecodeOnce.
var decodeOnceSeeds = []string{
	`{"event":{"id":"E1","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36.358Z","data":{"id":"Q1","type":"incident","title":"T","service":{"id":"S","type":"service_reference"},"assignees":[{"id":"U","type":"user_reference"}],"conference_bridge":{"conference_number":1000}}}}`,
	`{"event":{"id":"E1","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"","type":"incident"}}}`,
	`{"event":{"id":"E1","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident_note","incident":{"id":"Q1"}}}}`,
	`{"event":{"id":"E1","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident","number":"7"}}}`,
	`{"event":{"id":"E1","event_type":"incident.triggered","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident","number":"7"}}}`,
	`{"event":{"id":"E","event_type":"incident.annotated","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"N","type":"incident_note","incident":{"id":"Q"},"content":"TODO: x","trimmed":true}}}`,
	`{"event":{"id":"E","event_type":"incident.annotated","occurred_at":"2025-04-07T03:49:36Z","data":{"type":"incident_note","incident":{"id":""}}}}`,
	`{"event":{"id":"E","event_type":"pagey.ping","occurred_at":"2025-04-07T03:49:36Z","data":{"type":"ping","message":"hi"}}}`,
	`{"event":{"id":"E","event_type":"pagey.ping","occurred_at":"2025-04-07T03:49:36Z","data":{"type":""}}}`,
	`{"event":{"id":"E","event_type":"service.updated","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"S","type":"service"}}}`,
	// "data" twice: the last one counts, not a merge of both.
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident","title":"first"},"data":{"type":"incident","title":"second"}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident"},"DATA":{"id":"Q2","type":"incident"}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident"},"d\u0061ta":{"type":"incident","title":"x"}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident"}},"event":{"id":"E2"}}`,
	`{"event":{"id":" ","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident"}}}`,
	`{"event":{"id":"E","event_type":"resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident"}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"yesterday","data":{"id":"Q1","type":"incident"}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":null}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":[]}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","agent":"me","data":{"id":"Q1","type":"incident"}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident"}}} x`,
	// The one-pass scanner's edges (edgeBodies adds them at every key).
	` { "event" : { "id" : "E" , "event_type" : "incident.resolved" , "occurred_at" : "2025-04-07T03:49:36Z" , "data" : { "id" : "Q1" , "type" : "incident" , "teams" : [ ] } } } `,
	`{"event":{"id":"E\n\"1\"","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident","title":"a\/b\\c\td"}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","resource_type":null,"occurred_at":"2025-04-07T03:49:36Z","agent":null,"client":null,"data":{"id":"Q1","type":"incident","number":null,"title":null,"created_at":null,"reopened_at":null,"assignees":null,"teams":[null],"conference_bridge":{"conference_number":null},"resolve_reason":{"incident":null},"trimmed":null}}}`,
	"{\"event\":{\"id\":\"E\",\"event_type\":\"incident.resolved\",\"occurred_at\":\"2025-04-07T03:49:36Z\",\"data\":{\"id\":\"Q1\",\"type\":\"incident\",\"incident_\u212aey\":\"k\"}}}",
	"{\"event\":{\"id\":\"E\",\"event_type\":\"incident.resolved\",\"occurred_at\":\"2025-04-07T03:49:36Z\",\"data\":{\"id\":\"Q1\",\"type\":\"incident\",\"\u017ftatus\":\"x\"}}}",
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident","number":1,"Number":2}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","agent":{"id":"A","type":"u"},"agent":{"id":"B"},"data":{"id":"Q1","type":"incident"}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident","number":1.0}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident","number":1e3}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident","number":-0}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident","number":9223372036854775808}}}`,
	"{\"event\":{\"id\":\"E\",\"event_type\":\"incident.resolved\",\"occurred_at\":\"2025-04-07T03:49:36Z\",\"data\":{\"id\":\"Q1\",\"type\":\"incident\",\"title\":\"\xff\xfe\",\"x\":\"\xff\"}}}",
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident","x":` + strings.Repeat(`[{"a":`, 300) + `1` + strings.Repeat(`}]`, 300) + `}}}`,
	`{"event":{"id":"E","event_type":"incident.resolved","occurred_at":"2025-04-07T03:49:36Z","data":{"id":"Q1","type":"incident"}}}}`,
}

// FuzzDecodeOnce holds Decode's one-parse path to the two-step reference:
// for every body, the same error, or the same envelope (but for Raw, which
// only the two-step path keeps).
func FuzzDecodeOnce(f *testing.F) {
	for _, s := range decodeOnceSeeds {
		f.Add([]byte(s))
	}
	for _, s := range edgeBodies(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) == 0 || trimmed[0] != '{' {
			return
		}
		got, gotErr := Decode(body)
		want, wantErr := decodeInTwo(trimmed)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("Decode: %v\ntwo-step reference: %v", gotErr, wantErr)
		}
		if wantErr != nil {
			return
		}
		got.Event.Data.Raw, want.Event.Data.Raw = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode:\n%+v\ntwo-step reference:\n%+v", got.Event, want.Event)
		}
	})
}

// The samples PagerDuty documents take the one-parse path (the point of
// it), and decode there as in two steps.
func TestDecodeOnceTakesTheSamples(t *testing.T) {
	testspecs.Require(t, "the webhook samples")
	for _, file := range []string{"incident.resolved.json", "incident.triggered.json", "incident.acknowledged.json", "incident.annotated.json", "pagey.ping.json",
		"official/incident.priority_updated.developer-docs.json", "official/incident.priority_updated.go-pagerduty-v1.8.0-testvector.json"} {
		body := bytes.TrimSpace(testspecs.Read(t, "webhooks/"+file))
		once := decodeOnce(body)
		if once == nil {
			t.Fatalf("%s: not decoded in one parse", file)
		}
		ref, err := decodeInTwo(body)
		if err != nil {
			t.Fatal(err)
		}
		ref.Event.Data.Raw = nil
		if !reflect.DeepEqual(once, ref) {
			t.Fatalf("%s: one parse %+v, two steps %+v", file, once.Event, ref.Event)
		}
		// Re-encoded, the data keeps what was decoded.
		out, err := json.Marshal(once)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decode(out)
		if err != nil || again.Event.IncidentID() != once.Event.IncidentID() || again.Event.Data.Type != once.Event.Data.Type {
			t.Fatalf("%s: re-encoded %s decodes to %+v, %v", file, out, again, err)
		}
	}
}
