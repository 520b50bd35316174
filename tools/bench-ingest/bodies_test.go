package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/webhook"
	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

func testGenerator() *generator {
	return newGenerator("bench-secret", []byte("0123456789ab"))
}

// The template is the spec's body with its three varying values cut out.
func TestShapeIsTheSpec(t *testing.T) {
	spec := bytes.TrimSpace(testspecs.Read(t, "webhooks/incident.resolved.json"))
	g := testGenerator()
	var got []byte
	got = append(got, g.tmpl.parts[0]...)
	for k, f := range g.tmpl.fields {
		switch f {
		case fieldEventID:
			got = append(got, "01FKZSYE5HCMM576S6JUVIGLQT"...)
		case fieldIncidentID:
			got = append(got, "Q2CKYRLH85UNN4"...)
		case fieldNumber:
			got = append(got, "37"...)
		}
		got = append(got, g.tmpl.parts[k+1]...)
	}
	if !bytes.Equal(got, spec) {
		t.Fatalf("specShape differs from incident.resolved.json:\n got %s\nwant %s", got, spec)
	}
}

// Every body verifies, decodes as incident.resolved, and is a new event.
func TestBodiesVerifyDecodeAndAreDistinct(t *testing.T) {
	g := testGenerator()
	v := webhook.NewVerifier([]string{"bench-secret"})
	pre := g.pregenerate(3000)
	events, hooks := map[string]bool{}, map[string]bool{}
	incidentIDs := map[string]bool{}
	src := newBodySource(g, pre[:2000], false)
	for i := range 3000 {
		d := src.get() // past 2000: generated on the fly
		if !bytes.Equal(d.body, pre[i].body) || d.signature != pre[i].signature || d.webhookID != pre[i].webhookID {
			t.Fatalf("delivery %d: on-the-fly and pre-generated differ", i)
		}
		if err := v.Verify(d.signature, d.body); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		env, err := webhook.Decode(d.body)
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		ev := env.Event
		if ev.EventType != webhook.EventIncidentResolved || len(ev.ID) != 26 || len(ev.IncidentID()) != 14 {
			t.Fatalf("delivery %d: type %q id %q incident %q", i, ev.EventType, ev.ID, ev.IncidentID())
		}
		if events[ev.ID] || hooks[d.webhookID] {
			t.Fatalf("delivery %d repeats an event or webhook ID", i)
		}
		events[ev.ID], hooks[d.webhookID], incidentIDs[ev.IncidentID()] = true, true, true
	}
	if len(incidentIDs) != incidents {
		t.Fatalf("%d incident IDs, want %d", len(incidentIDs), incidents)
	}
	if src.lazy.Load() != 1000 {
		t.Fatalf("lazy = %d, want 1000", src.lazy.Load())
	}
}

func TestPercentile(t *testing.T) {
	var samples []time.Duration
	for i := 1; i <= 1000; i++ {
		samples = append(samples, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 500}, {99, 990}, {99.9, 999}, {100, 1000}, {0.01, 1}} {
		if got := percentile(samples, c.p); got != c.want {
			t.Errorf("p%v = %d, want %d", c.p, got, c.want)
		}
	}
}
