package commands

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/store"
)

// replayEnv is PagerDuty (the webhook sample's incident #37, resolved) and
// the test's Redis, as replay reads them from the environment.
func replayEnv(t *testing.T) (*pagerdutytest.Server, *redistest.Redis, map[string]string) {
	sim, pdEnv := pagerDuty(t)
	r := redistest.New(t)
	return sim, r, with(pdEnv, map[string]string{"REDIS_URL": r.URL, "AFTERMATH_REDIS_PREFIX": r.Prefix})
}

func replay(t *testing.T, env map[string]string, o ReplayOptions) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Replay(context.Background(), loadConfig(t, env), o, &out, nil)
	return out.String(), err
}

func queueLength(t *testing.T, r *redistest.Redis) int64 {
	t.Helper()
	st, err := store.New(r.Client, r.Prefix).Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Length
}

// A replay queues the incident once: a second replay, or one of an
// incident whose webhook is queued (in flight) or whose processing is
// recorded (done), says it is known and queues nothing.
func TestReplayIncident(t *testing.T) {
	_, r, env := replayEnv(t)
	id := pagerdutytest.SampleIncidentID
	out, err := replay(t, env, ReplayOptions{Incident: id})
	if err != nil || !strings.HasPrefix(out, "queued (entry ") || !strings.Contains(out, `"Test"`) {
		t.Fatalf("first replay: %q, %v", out, err)
	}
	out, err = replay(t, env, ReplayOptions{Incident: id})
	if err != nil || !strings.HasPrefix(out, "already known, not queued: its resolution is queued") {
		t.Fatalf("second replay: %q, %v", out, err)
	}
	if n := queueLength(t, r); n != 1 {
		t.Fatalf("queue holds %d entries, want 1", n)
	}
}

// In flight: the webhook's entry is queued, not yet processed.
func TestReplayIncidentInFlight(t *testing.T) {
	_, r, env := replayEnv(t)
	id := pagerdutytest.SampleIncidentID
	if _, err := store.New(r.Client, r.Prefix).Enqueue(context.Background(), store.Delivery{EventID: "EVWEBHOOK", WebhookID: "W1",
		EventType: store.EventResolved, IncidentID: id, OccurredAt: time.Now(), ReceivedAt: time.Now(), Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	out, err := replay(t, env, ReplayOptions{Incident: id})
	if err != nil || !strings.HasPrefix(out, "already known, not queued: its resolution is queued") {
		t.Fatalf("replay in flight: %q, %v", out, err)
	}
	if n := queueLength(t, r); n != 1 {
		t.Fatalf("queue holds %d entries, want the webhook's only", n)
	}
}

// Done: processing recorded the resolution long ago (dedupe keys expired).
func TestReplayIncidentDone(t *testing.T) {
	_, r, env := replayEnv(t)
	id := pagerdutytest.SampleIncidentID
	if err := store.New(r.Client, r.Prefix).RecordEvent(context.Background(), id, store.EventRecord{EventID: "EVOLD", EventType: store.EventResolved}); err != nil {
		t.Fatal(err)
	}
	out, err := replay(t, env, ReplayOptions{Incident: id})
	if err != nil || !strings.HasPrefix(out, "already known, not queued: processing has recorded its resolution") {
		t.Fatalf("replay of a done incident: %q, %v", out, err)
	}
	if n := queueLength(t, r); n != 0 {
		t.Fatalf("queue holds %d entries, want none", n)
	}
}

// Unknown incidents, open ones and missing settings are clear errors.
func TestReplayErrors(t *testing.T) {
	sim, r, env := replayEnv(t)
	sim.AddIncident(pagerdutytest.NewIncident{ID: "QOPEN", Title: "open", ServiceID: "PNE3JZM"})
	cases := []struct {
		name string
		env  map[string]string
		id   string
		want string
		is   error
	}{
		{"unknown incident", env, "QNOSUCH", "incident QNOSUCH: PagerDuty has no such incident (404)", nil},
		{"open incident", env, "QOPEN", "is triggered: incident is not resolved", nil},
		{"no REDIS_URL", with(env, map[string]string{"REDIS_URL": ""}), "Q1", "REDIS_URL is not set", ErrNoRedisURL},
		{"no token", with(env, map[string]string{"PAGERDUTY_API_TOKEN": ""}), "Q1", "PAGERDUTY_API_TOKEN is not set", ErrNoPagerDutyToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := replay(t, tc.env, ReplayOptions{Incident: tc.id})
			if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("replay %s: %q, %v; want an error with %q", tc.id, out, err, tc.want)
			}
		})
	}
	if n := queueLength(t, r); n != 0 {
		t.Fatalf("queue holds %d entries after errors", n)
	}
}

// --since lists what has no record and queues it only with --yes.
func TestReplaySince(t *testing.T) {
	sim, r, env := replayEnv(t)
	now := time.Now().UTC().Truncate(time.Second)
	for _, id := range []string{"QA", "QB"} {
		sim.AddIncident(pagerdutytest.NewIncident{ID: id, Title: "broken " + id, ServiceID: "PNE3JZM", CreatedAt: now.Add(-30 * 24 * time.Hour)})
		sim.Resolve(id, "PBEN", now.Add(-time.Hour))
	}
	st := store.New(r.Client, r.Prefix)
	if err := st.RecordEvent(context.Background(), "QB", store.EventRecord{EventID: "EVB", EventType: store.EventResolved}); err != nil {
		t.Fatal(err)
	}
	o := ReplayOptions{Since: 72 * time.Hour, Now: func() time.Time { return now }}
	out, err := replay(t, env, o)
	if err != nil || !strings.Contains(out, "1 incidents resolved since") || !strings.Contains(out, "  QA  resolved ") ||
		strings.Contains(out, "QB") || !strings.Contains(out, "run again with --yes") {
		t.Fatalf("listing: %q, %v", out, err)
	}
	if n := queueLength(t, r); n != 0 {
		t.Fatalf("listing queued %d entries", n)
	}
	o.Yes = true
	if out, err = replay(t, env, o); err != nil || !strings.Contains(out, "QA: queued (entry ") || !strings.Contains(out, "1 of 1 queued") {
		t.Fatalf("--yes: %q, %v", out, err)
	}
	if out, err = replay(t, env, o); err != nil || !strings.Contains(out, "0 incidents resolved since") {
		t.Fatalf("after --yes: %q, %v", out, err)
	}
}

// Dead letters are queued again, once, with what they failed with said;
// PagerDuty is not needed for that.
func TestReplayDeadLetters(t *testing.T) {
	_, r, env := replayEnv(t)
	env = with(env, map[string]string{"PAGERDUTY_API_TOKEN": ""})
	ctx := context.Background()
	st := store.New(r.Client, r.Prefix)
	if err := st.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"QDEAD1", "QDEAD2"} {
		if _, err := st.Enqueue(ctx, store.Delivery{EventID: "EV" + id, WebhookID: "W" + id, EventType: store.EventResolved, IncidentID: id,
			OccurredAt: time.Now(), ReceivedAt: time.Now().Add(-50 * time.Hour), Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	es, _, err := st.Read(ctx, "worker", 10, 100*time.Millisecond)
	if err != nil || len(es) != 2 {
		t.Fatalf("read %d entries: %v", len(es), err)
	}
	for _, e := range es {
		if _, err := st.DeadLetter(ctx, "worker", e.ID, "jira: HTTP 503: still down after the horizon", 40); err != nil {
			t.Fatal(err)
		}
	}
	out, err := replay(t, env, ReplayOptions{DeadLetters: true})
	if err != nil || strings.Count(out, "it had failed: jira: HTTP 503: still down after the horizon") != 2 ||
		!strings.Contains(out, "(incident QDEAD1, incident.resolved)") || !strings.HasSuffix(out, "2 dead letters queued again\n") {
		t.Fatalf("replay --dead-letters: %q, %v", out, err)
	}
	if s, _ := st.Stats(ctx); s.Length != 2 || s.Dead != 0 {
		t.Fatalf("stats after the replay = %+v", s)
	}
	again, _, err := st.Read(ctx, "worker", 10, 100*time.Millisecond)
	if err != nil || len(again) != 2 || time.Since(again[0].ReceivedAt) > time.Minute {
		t.Fatalf("re-driven entries %+v: %v; want them received now (a new retry horizon)", again, err)
	}
	out, err = replay(t, env, ReplayOptions{DeadLetters: true})
	if err != nil || out != "0 dead letters queued again\n" {
		t.Fatalf("second replay --dead-letters: %q, %v", out, err)
	}
}
