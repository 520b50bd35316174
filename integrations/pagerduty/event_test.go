package pagerduty

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

// The webhook's incident stands for GET /incidents/{id} only if it says
// the same: every field aftermath reads (the webhook has no resolved_at:
// the event's occurred_at is the resolve).
func TestWebhookIncidentMatchesTheRead(t *testing.T) {
	f := newFixture(t)
	f.sim.AddIncident(pagerdutytest.NewIncident{ID: "PWHK1", Number: 41, Title: "Checkout <errors> & \"timeouts\"", ServiceID: web.ID,
		Priority: "P1", Urgency: "high", CreatedAt: t0, Teams: []pagerdutytest.Team{{ID: "PTEAMCO", Name: "Checkout"}}, Conference: &pagerdutytest.ConferenceBridge{URL: "https://meet.example.com/x", Number: "+1-415-555-1212,,,,1234#"}})
	f.sim.Assign("PWHK1", alice.ID, t0.Add(time.Minute))
	f.sim.Acknowledge("PWHK1", alice.ID, t0.Add(2*time.Minute))
	f.sim.Resolve("PWHK1", bob.ID, t0.Add(30*time.Minute))

	wh := f.sim.IncidentWebhook("PWHK1", "incident.resolved", bob.ID, "secret")
	ev, err := DecodeIncidentEvent(wh.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Complete() {
		t.Fatalf("the simulator's webhook lacks %v", ev.Missing)
	}
	read, err := f.pd.Incident(context.Background(), "PWHK1")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Incident.ResolvedAt != ev.OccurredAt {
		t.Errorf("resolved at %v, want the event's occurred_at %v", ev.Incident.ResolvedAt, ev.OccurredAt)
	}
	// The simulator's event occurred when the incident resolved, as
	// PagerDuty's does, so even the resolve time agrees.
	gj, _ := json.Marshal(ev.Incident)
	rj, _ := json.Marshal(read)
	if string(gj) != string(rj) {
		t.Errorf("the webhook's incident differs from the read:\n webhook %s\n read    %s", gj, rj)
	}
	if read.Conference == nil || read.Priority == nil || read.LastStatusChangeBy.ID != bob.ID || len(read.Teams) != 1 || read.Teams[0].ID != "PTEAMCO" {
		t.Errorf("the comparison is empty: read %s", rj)
	}
}

func TestDecodeIncidentEvent(t *testing.T) {
	sample := testspecs.Sample(t, "webhooks/incident.resolved.json")
	ev, err := DecodeIncidentEvent(sample)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Complete() || ev.EventType != "incident.resolved" || ev.Incident.ID != "Q2CKYRLH85UNN4" || ev.Incident.Number != 37 ||
		ev.Incident.Service.ID != "PNE3JZM" || ev.Incident.Priority != nil || ev.Incident.Conference != nil || ev.Incident.Open() ||
		ev.Incident.LastStatusChangeBy.ID != "PVE0ZR9" || ev.OccurredAt.IsZero() || ev.Incident.ResolvedAt != ev.OccurredAt {
		t.Errorf("PagerDuty's sample decodes as %+v", ev)
	}

	// Each field a read brings and the steps use, taken out of the
	// sample, is named as missing; null is a value, not a gap.
	edit := func(f func(event, data map[string]any)) []byte {
		var env map[string]map[string]any
		if err := json.Unmarshal(sample, &env); err != nil {
			t.Fatal(err)
		}
		f(env["event"], env["event"]["data"].(map[string]any))
		b, _ := json.Marshal(env)
		return b
	}
	for _, field := range []string{"priority", "assignees", "teams", "conference_bridge", "resolve_reason", "service", "created_at", "number", "title", "status", "html_url"} {
		t.Run("without "+field, func(t *testing.T) {
			ev, err := DecodeIncidentEvent(edit(func(_, d map[string]any) { delete(d, field) }))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(ev.Missing, field) || ev.Complete() {
				t.Errorf("missing %v, want %s among them", ev.Missing, field)
			}
		})
	}
	t.Run("without occurred_at", func(t *testing.T) {
		ev, _ := DecodeIncidentEvent(edit(func(e, _ map[string]any) { delete(e, "occurred_at") }))
		if ev.Complete() || !slices.Contains(ev.Missing, "occurred_at") {
			t.Errorf("missing %v", ev.Missing)
		}
	})
	t.Run("priority, bridge and merge set", func(t *testing.T) {
		ev, _ := DecodeIncidentEvent(edit(func(_, d map[string]any) {
			d["priority"] = map[string]any{"id": "PPRIO1", "type": "priority_reference", "summary": "P1"}
			d["conference_bridge"] = map[string]any{"conference_url": "https://meet.example.com", "conference_number": 1000}
			d["resolve_reason"] = map[string]any{"type": "merge_resolve_reason", "incident": map[string]any{"id": "PPRIMARY", "type": "incident_reference"}}
		}))
		in := ev.Incident
		if !ev.Complete() || in.PriorityName() != "P1" || in.Priority.ID != "PPRIO1" || in.Conference == nil ||
			in.Conference.Number != "1000" || in.Conference.URL != "https://meet.example.com" || in.MergedInto != "PPRIMARY" {
			t.Errorf("decoded %+v (missing %v)", in, ev.Missing)
		}
	})
	for name, body := range map[string]string{
		"ping":     string(testspecs.Sample(t, "webhooks/pagey.ping.json")),
		"not JSON": "{",
		"a note":   `{"event":{"event_type":"incident.annotated","occurred_at":"2026-01-01T00:00:00Z","data":{"id":"PN1","type":"incident_note","incident":{"id":"PX"}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeIncidentEvent([]byte(body)); err == nil {
				t.Error("decoded as an incident event")
			}
		})
	}
}
