package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/rules"
)

func TestResolutionGroupsRelatedIncidents(t *testing.T) {
	e := newPDEnv(t, testRules)
	groupScenario(e)
	e.sim.ResetCalls()
	e.mustProcess(EventResolved, "PPRIM")

	g, ok, err := e.store.GroupOf(context.Background(), "PMOPEN")
	if err != nil || !ok || g.Primary != "PPRIM" || !slices.Equal(g.Members, []string{"PMDONE", "PMOPEN", "PPRIM"}) {
		t.Fatalf("group = %+v %v %v", g, ok, err)
	}
	for _, id := range []string{"PUNREL", "POLD"} {
		if _, ok, _ := e.store.GroupOf(context.Background(), id); ok {
			t.Fatalf("%s was grouped", id)
		}
	}
	// Final severity: the open member is SEV-1, so the primary becomes P1.
	if in, _ := e.sim.Incident("PPRIM"); in.Priority != "P1" {
		t.Fatalf("primary priority = %s, want P1", in.Priority)
	}
	if in, _ := e.sim.Incident("PMOPEN"); in.Status != pagerdutytest.StatusResolved {
		t.Fatalf("open member is %s, want resolved", in.Status)
	}
	e.wantNotes("PPRIM", 1)
	e.wantNotes("PMOPEN", 1)
	e.wantNotes("PMDONE", 1)
	e.wantNotes("PUNREL", 0)
	e.wantNotes("POLD", 0)
	if !strings.Contains(e.ourNotes("PMOPEN")[0].Content, e.jsim.URL()+"/browse/PM-1") {
		t.Fatalf("member note: %s", e.ourNotes("PMOPEN")[0].Content)
	}
	if !strings.Contains(e.ourNotes("PPRIM")[0].Content, "Related incidents grouped under this one: #") {
		t.Fatalf("link-back note: %s", e.ourNotes("PPRIM")[0].Content)
	}
	for _, c := range e.writes() {
		if strings.Contains(c.Path, "PUNREL") || strings.Contains(c.Path, "POLD") || strings.Contains(string(c.Body), "PUNREL") || strings.Contains(string(c.Body), "POLD") {
			t.Fatalf("an unrelated incident was touched: %+v", c)
		}
	}
	pm := e.asked[0]
	if pm.Severity != "SEV-1" || len(pm.Members) != 2 {
		t.Fatalf("post-mortem: severity %s, %d members", pm.Severity, len(pm.Members))
	}
	// The members' timelines are folded in.
	seen := map[string]bool{}
	for _, ev := range pm.Timeline.Events {
		seen[ev.IncidentID] = true
	}
	if !seen["PMOPEN"] || !seen["PMDONE"] || seen["PUNREL"] {
		t.Fatalf("timeline incidents = %v", seen)
	}

	// The open member's own resolution (we resolved it) attaches it: no new
	// post-mortem, no new note.
	e.sim.ResetCalls()
	e.mustProcess(EventResolved, "PMOPEN")
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("the member's resolution wrote: %+v", w)
	}
	if e.postmortems() != 1 || len(e.asked) != 1 {
		t.Fatalf("post-mortems made %d, asked %d; want 1 and 1", e.postmortems(), len(e.asked))
	}
	if st := e.step("PMOPEN", StepGroup); !strings.Contains(st.Detail, "member of the group of PPRIM; attached") {
		t.Fatalf("member group step = %+v", st)
	}
	e.wantNotes("PMOPEN", 1)
}

func TestResolutionMemberResolvesFirst(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PFIRST", "PSVC001", "P2", t0, 0) // the primary, still open
	e.incident("PLATER", "PSVC002", "P1", t0.Add(5*time.Minute), 20*time.Minute)
	e.sim.ResetCalls()
	e.mustProcess(EventResolved, "PLATER")
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("a member resolving first wrote: %+v", w)
	}
	if len(e.asked) != 0 {
		t.Fatal("a member resolving first started a post-mortem")
	}
	if st := e.step("PLATER", StepGroup); !strings.Contains(st.Detail, "member of the group of PFIRST; its post-mortem will include") {
		t.Fatalf("group step = %+v", st)
	}

	e.sim.Resolve("PFIRST", "PUSER02", t0.Add(50*time.Minute))
	e.mustProcess(EventResolved, "PFIRST")
	if len(e.asked) != 1 || len(e.asked[0].Members) != 1 || e.asked[0].Members[0].Incident.ID != "PLATER" || e.asked[0].Severity != "SEV-1" {
		t.Fatalf("post-mortem = %+v", e.asked)
	}
	e.wantNotes("PLATER", 1)
	e.wantNotes("PFIRST", 1)
	// And the member's event again (a PagerDuty retry) changes nothing.
	e.sim.ResetCalls()
	e.mustProcess(EventResolved, "PLATER")
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("wrote: %+v", w)
	}
}

func TestResolutionRelatedIncidentsAPI(t *testing.T) {
	withAPI := strings.Replace(testRules, "  merge_while_open: true\n", "  merge_while_open: true\n  related_incidents_api: true\n", 1)
	t.Run("related incidents join the group", func(t *testing.T) {
		e := newPDEnv(t, withAPI)
		groupScenario(e)
		e.sim.SetRelated("PPRIM", "PUNREL")
		e.mustProcess(EventResolved, "PPRIM")
		g, _, _ := e.store.GroupOf(context.Background(), "PUNREL")
		if g.Primary != "PPRIM" {
			t.Fatalf("PUNREL grouped under %q, want PPRIM", g.Primary)
		}
		e.wantNotes("PUNREL", 1)
		e.wantNotes("POLD", 0)
	})
	t.Run("an account without the API", func(t *testing.T) {
		e := newPDEnv(t, withAPI)
		groupScenario(e)
		e.sim.DisableRelatedIncidents()
		e.mustProcess(EventResolved, "PPRIM")
		if st := e.step("PPRIM", StepGroup); !strings.Contains(st.Detail, "related incidents are not available on this account") {
			t.Fatalf("group step = %+v", st)
		}
		e.wantNotes("PPRIM", 1)
		e.wantNotes("PMOPEN", 1)
	})
}

// An incident that already holds a group (a member resolved first and waits
// for it) stays its primary even when an earlier group turns up in its
// search.
func TestResolutionPrimaryKeepsItsGroup(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PC", "PSVC001", "P2", t0.Add(-30*time.Minute), 20*time.Minute)
	e.mustProcess(EventResolved, "PC")
	e.incident("PP", "PSVC001", "P1", t0, 0)
	e.incident("PM", "PSVC002", "P2", t0.Add(50*time.Minute), 10*time.Minute)
	e.mustProcess(EventResolved, "PM") // joins PP's group and waits for it
	e.sim.Resolve("PP", "PUSER02", t0.Add(90*time.Minute))
	e.mustProcess(EventResolved, "PP")
	if e.postmortems() != 2 {
		t.Fatalf("%d post-mortems, want 2 (PC's and PP's)", e.postmortems())
	}
	g, _, _ := e.store.GroupOf(context.Background(), "PP")
	if g.Primary != "PP" || !slices.Equal(g.Members, []string{"PM", "PP"}) {
		t.Fatalf("PP's group = %+v", g)
	}
	e.wantNotes("PM", 1)
	e.wantNotes("PP", 1)
}

// A resolved incident that holds no group (skipped, or never seen) may join
// a group but never lead it: nothing would run its process.
func TestResolutionSkippedIncidentNeverLeads(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PC", "PSVC001", "P3", t0, 20*time.Minute)
	e.mustProcess(EventResolved, "PC") // SEV-3: skipped
	e.sim.SetPriority("PC", "P2", "PUSER01", t0.Add(2*time.Hour))
	e.incident("PI", "PSVC002", "P1", t0.Add(30*time.Minute), 30*time.Minute)
	e.mustProcess(EventResolved, "PI")
	if e.postmortems() != 1 || e.asked[0].Primary.ID != "PI" {
		t.Fatalf("post-mortems: %d, want PI's", e.postmortems())
	}
	if g, _, _ := e.store.GroupOf(context.Background(), "PC"); g.Primary != "PI" {
		t.Fatalf("PC's group = %+v, want PI's", g)
	}
	e.wantNotes("PC", 1)
}

// PagerDuty may relate an incident from weeks ago: history, not part of
// this outage.
func TestResolutionRelatedAPIIgnoresOldIncidents(t *testing.T) {
	withAPI := strings.Replace(testRules, "  merge_while_open: true\n", "  merge_while_open: true\n  related_incidents_api: true\n", 1)
	e := newPDEnv(t, withAPI)
	e.incident("POLDC", "PSVC009", "P2", t0.Add(-10*24*time.Hour), 30*time.Minute)
	e.mustProcess(EventResolved, "POLDC")
	e.incident("PNOW", "PSVC001", "P1", t0, 30*time.Minute)
	e.sim.SetRelated("PNOW", "POLDC")
	e.mustProcess(EventResolved, "PNOW")
	if e.postmortems() != 2 {
		t.Fatalf("%d post-mortems; PNOW: %q", e.postmortems(), e.step("PNOW", StepGroup).Detail)
	}
	e.wantNotes("POLDC", 1) // its own link-back only
}

// Two replicas: the primary's and the member's resolutions processed at the
// same time by two workers, several rounds.
func TestResolutionReplicasRacePrimaryAndMember(t *testing.T) {
	e := newPDEnv(t, testRules)
	w := &env{t: t, r: e.r, store: e.store}
	for i := range 2 {
		cfg := fast(fmt.Sprintf("replica-%d", i))
		cfg.Rules = func() *rules.Rules { return e.rules }
		w.start(cfg, e.res)
	}
	const rounds = 4
	for i := range rounds {
		start := t0.Add(time.Duration(i) * 6 * time.Hour)
		p, m := fmt.Sprintf("PRACEP%d", i), fmt.Sprintf("PRACEM%d", i)
		e.incident(p, "PSVC001", "P1", start, 30*time.Minute)
		e.incident(m, "PSVC002", "P2", start.Add(5*time.Minute), 20*time.Minute)
		d1, d2 := resolved("E"+p, p), resolved("E"+m, m)
		w.enqueue(d2, d1)
	}
	eventually(t, "both replicas drained the queue", func() bool {
		st := w.stats()
		return st.Length == 0 && st.Pending == 0
	})
	if st := w.stats(); st.Dead != 0 {
		dl, _ := e.store.DeadLetters(context.Background(), 10)
		t.Fatalf("dead letters: %+v", dl)
	}
	for i := range rounds {
		p, m := fmt.Sprintf("PRACEP%d", i), fmt.Sprintf("PRACEM%d", i)
		// Whichever claimed first leads (usually the earlier one); the
		// other is its member. Each gets exactly one note: the link-back
		// or the member note.
		e.wantNotes(p, 1)
		e.wantNotes(m, 1)
		gp, _, _ := e.store.GroupOf(context.Background(), p)
		gm, _, _ := e.store.GroupOf(context.Background(), m)
		if gp.Primary == "" || gp.Primary != gm.Primary || len(gp.Members) != 2 {
			t.Fatalf("round %d: groups %+v and %+v, want one group of both", i, gp, gm)
		}
	}
	if n := e.postmortems(); n != rounds {
		t.Fatalf("%d post-mortems for %d groups", n, rounds)
	}
}
