package app

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/store"
)

// When the Sentinel master dies, the process follows the failover: webhooks
// meanwhile are answered 202 or 503 (never another answer, never a 2xx that
// was not stored), and once the replica is promoted a webhook is queued on it
// and processed, without a restart.
func TestAppFollowsSentinelFailover(t *testing.T) {
	rm := redistest.ForMode(t, "sentinel")
	sim, pdEnv := pagerDuty(t)
	for _, id := range []string{"QBEFORE", "QAFTER"} {
		sim.AddIncident(pagerdutytest.NewIncident{ID: id, Title: id, ServiceID: "PNE3JZM", CreatedAt: time.Now().Add(-time.Hour)})
		sim.Resolve(id, "PBEN", time.Now().Add(-time.Minute))
	}
	a, _ := startApp(t, with(serveEnv(redistest.New(t)), pdEnv, rm.Env))
	base := "http://" + a.Addr()
	webhook := func(incident string) int {
		body := fmt.Appendf(nil, `{"event":{"id":"E-%s","event_type":"incident.resolved","occurred_at":"2026-11-21T10:00:00Z","data":{"id":%q,"type":"incident"}}}`, incident, incident)
		code, out := post(t, base+"/webhooks/pagerduty", body, map[string]string{"X-PagerDuty-Signature": sign(sampleSecret, body)})
		if code != http.StatusAccepted && code != http.StatusServiceUnavailable {
			t.Fatalf("webhook for %s: %d %s", incident, code, out)
		}
		return code
	}
	done := func(rec store.IncidentRecord) bool {
		return len(rec.Attempts) > 0 && rec.Attempts[len(rec.Attempts)-1].Outcome == store.OutcomeDone
	}

	if code := webhook("QBEFORE"); code != http.StatusAccepted {
		t.Fatalf("webhook before the failover: %d", code)
	}
	waitRecord(t, base, "QBEFORE", done)

	s := rm.Sentinel
	s.Failover(t)
	deadline := time.Now().Add(15 * time.Second)
	for webhook("QAFTER") != http.StatusAccepted {
		if time.Now().After(deadline) {
			t.Fatal("webhooks still refused 15s after the failover")
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitRecord(t, base, "QAFTER", done)
	if code, out := get(t, base+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz after the failover: %d %s", code, out)
	}
	// QAFTER's record is on the promoted master.
	if n := rm.Client.Exists(context.Background(), rm.Prefix+":incident:QAFTER:attempts").Val(); n != 1 {
		t.Fatalf("QAFTER's record is not on the promoted master %s", s.MasterAddr)
	}
}
