package workflow

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/store"
)

func TestResolutionSEV3WritesNothing(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PINC020", "PSVC001", "P3", t0, 30*time.Minute)
	e.sim.ResetCalls()
	e.mustProcess(EventResolved, "PINC020")
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("a SEV-3 wrote to PagerDuty: %+v", w)
	}
	if e.postmortems() != 0 || len(e.asked) != 0 {
		t.Fatal("a SEV-3 got a post-mortem")
	}
	st := e.step("PINC020", StepSeverity)
	if st.Status != store.StepSkipped || !strings.Contains(st.Detail, "priority P3 maps to SEV-3, which is not in process") {
		t.Fatalf("severity step = %+v", st)
	}
	if _, ok, _ := e.store.GroupOf(context.Background(), "PINC020"); ok {
		t.Fatal("a skipped incident was put in a group")
	}
	if n := e.sim.Count(""); n != 1 {
		t.Fatalf("a SEV-3 took %d requests, want 1 (the incident)", n)
	}
}

// PagerDuty still showing the incident open is retried, not skipped: its API
// may not have caught up with the webhook.
func TestResolutionIncidentStillOpenIsRetried(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PINC060", "PSVC001", "P1", t0, 0)
	err := e.process(EventResolved, "PINC060")
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "not resolved") {
		t.Fatalf("err = %v, want a retryable error", err)
	}
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("wrote: %+v", w)
	}
	e.sim.Resolve("PINC060", "PUSER01", t0.Add(time.Hour))
	e.mustProcess(EventResolved, "PINC060")
	e.wantNotes("PINC060", 1)
}

func TestResolutionVanishedIncident(t *testing.T) {
	e := newPDEnv(t, testRules)
	err := e.process(EventResolved, "PGONE")
	if !IsPermanent(err) || !pagerduty.IsNotFound(err) {
		t.Fatalf("err = %v, want a permanent not-found", err)
	}
	if st := e.step("PGONE", StepSeverity); st.Status != store.StepFailed || !strings.Contains(st.Detail, "no longer exists") {
		t.Fatalf("step = %+v", st)
	}
}
