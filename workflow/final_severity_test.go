package workflow

import (
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/store"
)

func TestResolutionPriorityRefusedGoesOn(t *testing.T) {
	e := newPDEnv(t, testRules)
	groupScenario(e)
	e.sim.RefusePriorityOnResolved(true)
	e.mustProcess(EventResolved, "PPRIM")
	st := e.step("PPRIM", StepFinalSeverity)
	if st.Status != store.StepFailed || !st.Refused || !strings.Contains(st.Detail, "not retried") || st.Error == "" {
		t.Fatalf("final severity step = %+v", st)
	}
	if in, _ := e.sim.Incident("PPRIM"); in.Priority != "P2" {
		t.Fatalf("priority = %s", in.Priority)
	}
	if e.postmortems() != 1 || e.asked[0].Severity != "SEV-1" {
		t.Fatal("the process did not go on with the final severity")
	}
	e.wantNotes("PPRIM", 1)
}
