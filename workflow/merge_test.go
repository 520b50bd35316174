package workflow

import (
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/store"
)

func TestResolutionMergeWhileOpen(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PBIG", "PSVC001", "P1", t0, 0)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PNEW", Title: "payments 5xx", ServiceID: "PSVC002", Priority: "P3", CreatedAt: t0.Add(5 * time.Minute)})
	e.mustProcess(EventTriggered, "PNEW")
	in, _ := e.sim.Incident("PNEW")
	if in.Status != pagerdutytest.StatusResolved || in.ResolveReason == nil || in.ResolveReason.IncidentID != "PBIG" {
		t.Fatalf("PNEW = %s %+v, want merged into PBIG", in.Status, in.ResolveReason)
	}
	if n := e.sim.Count("PUT /incidents/{id}/merge"); n != 1 {
		t.Fatalf("%d merges", n)
	}
	// Again (a duplicate delivery): no second merge.
	e.mustProcess(EventTriggered, "PNEW")
	if n := e.sim.Count("PUT /incidents/{id}/merge"); n != 1 {
		t.Fatalf("%d merges after a repeat", n)
	}
	// Its resolution by the merge attaches it to PBIG's group.
	e.mustProcess(EventResolved, "PNEW")
	if st := e.step("PNEW", StepGroup); !strings.Contains(st.Detail, "member of the group of PBIG") {
		t.Fatalf("group step = %+v", st)
	}
}

func TestResolutionMergeRefusedForResolvedTarget(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PBIG2", "PSVC001", "P1", t0, 0)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PNEW2", Title: "payments 5xx", ServiceID: "PSVC002", Priority: "P3", CreatedAt: t0.Add(5 * time.Minute)})
	// The first attempt's merge fails; before the retry the primary resolves.
	e.sim.Inject("PUT /incidents/{id}/merge", pagerdutytest.Fault{Status: 500})
	if err := e.process(EventTriggered, "PNEW2"); err == nil {
		t.Fatal("want the first attempt to fail")
	}
	e.sim.Resolve("PBIG2", "PUSER01", t0.Add(20*time.Minute))
	e.mustProcess(EventTriggered, "PNEW2")
	st := e.step("PNEW2", StepMerge)
	if st.Status != store.StepFailed || !strings.Contains(st.Error, "must be open") {
		t.Fatalf("merge step = %+v", st)
	}
	if in, _ := e.sim.Incident("PNEW2"); in.Status == pagerdutytest.StatusResolved {
		t.Fatal("the refused merge resolved the source")
	}
	// It stays grouped: the primary's process includes it.
	e.mustProcess(EventResolved, "PBIG2")
	if len(e.asked) != 1 || len(e.asked[0].Members) != 1 || e.asked[0].Members[0].Incident.ID != "PNEW2" {
		t.Fatalf("post-mortem members = %+v", e.asked)
	}
}

func TestResolutionMergeIntoLongOpenPrimary(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PBIG", "PSVC001", "P1", t0, 0)
	e.incident("PNEW", "PSVC002", "P3", t0.Add(2*time.Hour), 0)
	e.mustProcess(EventTriggered, "PNEW")
	if n := e.sim.Count("PUT /incidents/{id}/merge"); n != 1 {
		t.Fatalf("%d merges, want 1: %+v", n, e.step("PNEW", StepMerge))
	}
}
