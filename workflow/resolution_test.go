package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

func TestResolutionSEV1WithLongLog(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PINC001", Title: "Checkout down", ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
	e.sim.Assign("PINC001", "PUSER01", t0.Add(time.Minute))
	e.sim.AddNotifyEntries("PINC001", 120, t0.Add(90*time.Second))
	e.sim.Acknowledge("PINC001", "PUSER01", t0.Add(3*time.Minute))
	e.sim.Escalate("PINC001", "PUSER03", t0.Add(10*time.Minute))
	e.sim.Annotate("PINC001", "PUSER03", "Rolled back deploy 4411.\nTODO: alert on checkout 5xx rate\n- FOLLOWUP: load test the new pool", t0.Add(20*time.Minute))
	e.sim.Annotate("PINC001", "PUSER01", "Root cause: connection pool exhausted after deploy 4411.", t0.Add(40*time.Minute))
	e.sim.Resolve("PINC001", "PUSER01", t0.Add(45*time.Minute))
	if n := len(e.sim.LogEntries("PINC001")); n <= 100 {
		t.Fatalf("seeded %d log entries, want over 100 (two pages)", n)
	}
	e.sim.ResetCalls()

	e.mustProcess(EventResolved, "PINC001")

	if n := e.sim.Count("GET /incidents/{id}/log_entries"); n != 2 {
		t.Fatalf("log entries read in %d requests, want 2 pages", n)
	}
	if len(e.asked) != 1 {
		t.Fatalf("post-mortem asked for %d times, want 1", len(e.asked))
	}
	pm := e.asked[0]
	if pm.Severity != "SEV-1" || pm.Primary.ID != "PINC001" || len(pm.Members) != 0 {
		t.Fatalf("post-mortem input: severity %s primary %s members %d", pm.Severity, pm.Primary.ID, len(pm.Members))
	}
	var kinds []string
	for i, ev := range pm.Timeline.Events {
		kinds = append(kinds, ev.Kind)
		if i > 0 && ev.At.Before(pm.Timeline.Events[i-1].At) {
			t.Fatalf("timeline out of order at %d: %+v", i, pm.Timeline.Events)
		}
		if ev.Link == "" {
			t.Fatalf("event without a source link: %+v", ev)
		}
	}
	want := []string{KindTriggered, KindReassigned, KindAcknowledged, KindEscalated, KindAnnotated, KindAnnotated, KindResolved}
	if !slices.Equal(kinds, want) {
		t.Fatalf("timeline kinds = %v, want %v", kinds, want)
	}
	if got := pm.Timeline.Events[4].Summary; got != "Note: Rolled back deploy 4411. …" {
		t.Fatalf("annotated summary = %q", got)
	}
	if pm.Timeline.Events[2].Actor != "Alice Ng" {
		t.Fatalf("acknowledged by %q, want Alice Ng", pm.Timeline.Events[2].Actor)
	}
	var names []string
	for _, r := range pm.Timeline.Responders {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"Alice Ng", "Carol Diaz"}) {
		t.Fatalf("responders = %v", names)
	}
	var todos []string
	for _, td := range pm.Timeline.TODOs {
		todos = append(todos, td.Text)
	}
	if !slices.Equal(todos, []string{"alert on checkout 5xx rate", "load test the new pool"}) {
		t.Fatalf("TODOs = %q", todos)
	}
	if r := pm.Timeline.Resolution; r == nil || !strings.HasPrefix(r.Content, "Root cause:") || r.Author != "Alice Ng" {
		t.Fatalf("resolution note = %+v", r)
	}
	if pm.Owner.Email != "alice@example.com" || pm.Owner.Source != rules.SourceResolver {
		t.Fatalf("owner = %+v", pm.Owner)
	}
	// SEV-1 is 3 calendar days after the resolve, same wall-clock time.
	if wantDue := t0.Add(45*time.Minute).AddDate(0, 0, 3); !pm.MeetingDue.Equal(wantDue) {
		t.Fatalf("meeting due %s, want %s", pm.MeetingDue, wantDue)
	}

	// The only write: the link-back note, with URL, owner and deadline.
	w := e.writes()
	if len(w) != 1 || w[0].Route != "POST /incidents/{id}/notes" || w[0].From != fromEmail {
		t.Fatalf("writes = %+v", w)
	}
	notes := e.ourNotes("PINC001")
	if len(notes) != 1 {
		t.Fatalf("notes = %+v", notes)
	}
	for _, s := range []string{e.jsim.URL() + "/browse/PM-1", "alice@example.com", "Mon 23 Nov 2026 09:45 EST"} {
		if !strings.Contains(notes[0].Content, s) {
			t.Fatalf("link-back note lacks %q:\n%s", s, notes[0].Content)
		}
	}
	for name, status := range map[string]string{
		StepSeverity: store.StepDone, StepGroup: store.StepDone, StepFinalSeverity: store.StepDone,
		StepResolveMembers: store.StepSkipped, StepTimeline: store.StepDone, StepOwner: store.StepDone,
		StepPostmortem: store.StepDone, StepMemberNotes: store.StepDone, StepLinkBack: store.StepDone,
	} {
		if got := e.step("PINC001", name); got.Status != status {
			t.Errorf("step %s = %s (%s), want %s", name, got.Status, got.Detail, status)
		}
	}

	// Processing the same incident again writes nothing more.
	e.sim.ResetCalls()
	e.mustProcess(EventResolved, "PINC001")
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("a second run wrote: %+v", w)
	}
	e.wantNotes("PINC001", 1)
	if e.postmortems() != 1 {
		t.Fatalf("%d post-mortems", e.postmortems())
	}
	// aftermath's own note is not part of the timeline.
	plan, err := e.res.Plan(context.Background(), "PINC001", e.rules)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(plan.Timeline.Events); n != len(want) {
		t.Fatalf("after the link-back the timeline has %d events, want %d: %+v", n, len(want), plan.Timeline.Events)
	}
}

// TestResolutionRequestBudget measures the PagerDuty requests of one SEV-1
// incident with no members, per step, with cold and with warm caches
// (docs/benchmarks.md). The budget is 8.
func TestResolutionRequestBudget(t *testing.T) {
	stepOf := map[string]string{
		"GET /incidents/{id}":                   StepSeverity,
		"GET /incidents":                        StepGroup,
		"GET /incidents/{id}/related_incidents": StepGroup,
		"GET /priorities":                       StepFinalSeverity,
		"PUT /incidents":                        StepFinalSeverity,
		"GET /incidents/{id}/log_entries":       StepTimeline,
		"GET /incidents/{id}/notes":             StepTimeline,
		"GET /users/{id}":                       StepOwner,
		"POST /incidents/{id}/notes":            StepLinkBack,
	}
	withAPI := strings.Replace(testRules, "  merge_while_open: true\n", "  merge_while_open: true\n  related_incidents_api: true\n", 1)
	for _, tc := range []struct {
		name  string
		rules string
	}{
		{"default", testRules},
		{"related incidents API on", withAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newPDEnv(t, tc.rules)
			measure := func(id string, start time.Time) (int, string) {
				e.incident(id, "PSVC001", "P1", start, 40*time.Minute)
				e.sim.ResetCalls()
				e.mustProcess(EventResolved, id)
				per := map[string]int{}
				for _, c := range e.sim.Calls() {
					step, ok := stepOf[c.Route]
					if !ok {
						t.Fatalf("unexpected request %s", c.Route)
					}
					per[step]++
				}
				var parts []string
				for _, step := range []string{StepSeverity, StepGroup, StepFinalSeverity, StepTimeline, StepOwner, StepLinkBack} {
					parts = append(parts, fmt.Sprintf("%s %d", step, per[step]))
				}
				return e.sim.Count(""), strings.Join(parts, ", ")
			}
			cold, coldSteps := measure("PBUDGET1", t0)
			warm, warmSteps := measure("PBUDGET2", t0.Add(3*time.Hour))
			t.Logf("%s: cold %d requests (%s); warm %d (%s)", tc.name, cold, coldSteps, warm, warmSteps)
			if cold > 8 || warm > 8 {
				t.Fatalf("one SEV-1 incident took %d (cold) and %d (warm) PagerDuty requests, budget 8", cold, warm)
			}
			if warm >= cold {
				t.Fatalf("the user cache saved nothing: %d cold, %d warm", cold, warm)
			}
		})
	}
}

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

// groupScenario seeds a SEV-2 primary with an open SEV-1 member on another
// service of its scope, a resolved SEV-3 member, an incident on a service of
// no scope inside the window, and one of its own service outside the window.
func groupScenario(e *pdEnv) {
	e.incident("PPRIM", "PSVC001", "P2", t0, 60*time.Minute)
	e.incident("PMOPEN", "PSVC002", "P1", t0.Add(10*time.Minute), 0)
	e.incident("PMDONE", "PSVC001", "P3", t0.Add(20*time.Minute), 10*time.Minute)
	e.incident("PUNREL", "PSVC009", "P1", t0.Add(5*time.Minute), 20*time.Minute)
	e.incident("POLD", "PSVC001", "P2", t0.Add(-3*time.Hour), 10*time.Minute)
}

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

// A member that joins after the primary's process finished gets its note
// from its own resolution.
func TestResolutionLateMemberGetsItsNote(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PEARLY", "PSVC001", "P1", t0, 30*time.Minute)
	e.mustProcess(EventResolved, "PEARLY")
	// Triggered 20 minutes after the primary resolved: inside the window,
	// unknown to the primary's process.
	e.incident("PTARDY", "PSVC002", "P2", t0.Add(50*time.Minute), 10*time.Minute)
	e.mustProcess(EventResolved, "PTARDY")
	if e.postmortems() != 1 {
		t.Fatalf("%d post-mortems, want 1", e.postmortems())
	}
	e.wantNotes("PTARDY", 1)
	if st := e.step("PTARDY", StepGroup); !strings.Contains(st.Detail, "attached to its post-mortem") {
		t.Fatalf("group step = %+v", st)
	}
}

// failingSteps fails recording one step's result once: a crash after the
// outside write and before its result is saved.
type failingSteps struct {
	*store.Store
	mu     sync.Mutex
	step   string
	status string
	left   int
}

func (f *failingSteps) RecordStep(ctx context.Context, id string, st store.StepRecord) error {
	f.mu.Lock()
	hit := st.Name == f.step && st.Status == f.status && f.left > 0
	if hit {
		f.left--
	}
	f.mu.Unlock()
	if hit {
		return errors.New("redis: connection reset (injected)")
	}
	return f.Store.RecordStep(ctx, id, st)
}

func TestResolutionCrashBetweenNoteAndResult(t *testing.T) {
	for _, step := range []string{StepLinkBack, StepMemberNote} {
		t.Run(step, func(t *testing.T) {
			e := newPDEnv(t, testRules)
			groupScenario(e)
			e.res.Store = &failingSteps{Store: e.store, step: step, status: store.StepDone, left: 1}
			if err := e.process(EventResolved, "PPRIM"); err == nil {
				t.Fatal("the injected failure did not fail the attempt")
			}
			e.mustProcess(EventResolved, "PPRIM")
			e.mustProcess(EventResolved, "PPRIM")
			e.wantNotes("PPRIM", 1)
			e.wantNotes("PMOPEN", 1)
			e.wantNotes("PMDONE", 1)
			found := false
			for _, id := range []string{"PPRIM", "PMOPEN", "PMDONE"} {
				if st := e.steps(id)[step]; strings.Contains(st.Detail, "found, written by an earlier attempt") {
					found = true
				}
			}
			if !found {
				t.Fatalf("no step says it found the earlier write")
			}
		})
	}
}

func TestResolutionLostAnswerToAWrite(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PINC030", "PSVC001", "P1", t0, 30*time.Minute)
	// PagerDuty writes the note but the answer is lost (502 from a proxy).
	e.sim.Inject("POST /incidents/{id}/notes", pagerdutytest.Fault{Status: 502, AfterApply: true})
	if err := e.process(EventResolved, "PINC030"); err == nil {
		t.Fatal("want the attempt to fail")
	}
	if st := e.step("PINC030", StepLinkBack); st.Status != store.StepFailed || st.Intent == "" {
		t.Fatalf("link-back step = %+v", st)
	}
	e.mustProcess(EventResolved, "PINC030")
	e.wantNotes("PINC030", 1)
	if n := e.sim.Count("POST /incidents/{id}/notes"); n != 1 {
		t.Fatalf("%d note writes, want 1 (the retry looked first)", n)
	}
}

func TestResolutionRateLimitsAndServerErrors(t *testing.T) {
	e := newPDEnv(t, testRules)
	groupScenario(e)
	e.sim.Inject("GET /incidents/{id}", pagerdutytest.Fault{Status: 429, RetryAfter: "1", Times: 1})
	e.sim.Inject("GET /incidents", pagerdutytest.Fault{Status: 503, Times: 3})
	e.sim.Inject("GET /incidents/{id}/log_entries", pagerdutytest.Fault{Status: 429, RateLimitReset: "1", Times: 2})
	e.sim.Inject("GET /incidents/{id}/notes", pagerdutytest.Fault{Status: 500, Times: 2})
	e.sim.Inject("PUT /incidents", pagerdutytest.Fault{Status: 429, RetryAfter: "0", Times: 1})
	e.sim.Inject("POST /incidents/{id}/notes", pagerdutytest.Fault{Status: 429, RetryAfter: "0", Times: 2})
	start := time.Now()
	e.mustProcess(EventResolved, "PPRIM")
	if d := time.Since(start); d < time.Second {
		t.Fatalf("finished in %s: Retry-After: 1 was not honoured", d)
	}
	e.wantNotes("PPRIM", 1)
	e.wantNotes("PMOPEN", 1)
	e.wantNotes("PMDONE", 1)
	if in, _ := e.sim.Incident("PPRIM"); in.Priority != "P1" {
		t.Fatalf("priority = %s", in.Priority)
	}

	// A 5xx on a write is not retried blindly: the attempt fails, and the
	// next one looks before writing.
	e2 := newPDEnv(t, testRules)
	e2.incident("PINC040", "PSVC001", "P1", t0, 30*time.Minute)
	e2.sim.Inject("POST /incidents/{id}/notes", pagerdutytest.Fault{Status: 500, Times: 1})
	if err := e2.process(EventResolved, "PINC040"); err == nil || !retryable(err) {
		t.Fatalf("err = %v, want a retryable failure", err)
	}
	if n := e2.sim.Count("POST /incidents/{id}/notes"); n != 1 {
		t.Fatalf("a 500 on a note was retried in place: %d requests", n)
	}
	e2.mustProcess(EventResolved, "PINC040")
	e2.wantNotes("PINC040", 1)
}

func TestResolutionPriorityRefusedGoesOn(t *testing.T) {
	e := newPDEnv(t, testRules)
	groupScenario(e)
	e.sim.RefusePriorityOnResolved(true)
	e.mustProcess(EventResolved, "PPRIM")
	st := e.step("PPRIM", StepFinalSeverity)
	if st.Status != store.StepFailed || !strings.Contains(st.Detail, "not retried") || st.Error == "" {
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

func TestResolutionDryRunWritesNothing(t *testing.T) {
	e := newPDEnv(t, testRules)
	groupScenario(e)
	e.res.Mode = DryRun
	e.sim.ResetCalls()
	e.mustProcess(EventResolved, "PPRIM")
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("a dry run wrote to PagerDuty: %+v", w)
	}
	if len(e.asked) != 0 {
		t.Fatal("a dry run made a post-mortem")
	}
	if _, ok, _ := e.store.GroupOf(context.Background(), "PPRIM"); ok {
		t.Fatal("a dry run claimed a group")
	}
	for _, name := range []string{StepFinalSeverity, StepResolveMembers, StepEpic} {
		if st := e.step("PPRIM", name); st.Status != store.StepPlanned || !strings.HasPrefix(st.Detail, "would ") {
			t.Errorf("step %s = %+v, want planned", name, st)
		}
	}
	// A live run afterwards does everything once.
	e.res.Mode = Live
	e.mustProcess(EventResolved, "PPRIM")
	e.wantNotes("PPRIM", 1)
	e.wantNotes("PMOPEN", 1)
}

func TestResolutionPlan(t *testing.T) {
	e := newPDEnv(t, testRules)
	groupScenario(e)
	e.sim.Annotate("PPRIM", "PUSER01", "TODO: page the payments team earlier", t0.Add(30*time.Minute))
	keys := e.r.Keys(t)
	e.sim.ResetCalls()
	plan, err := e.res.Plan(context.Background(), "PPRIM", e.rules)
	if err != nil {
		t.Fatal(err)
	}
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("plan wrote to PagerDuty: %+v", w)
	}
	if after := e.r.Keys(t); !slices.Equal(keys, after) {
		t.Fatalf("plan wrote to Redis: %v -> %v", keys, after)
	}
	var b strings.Builder
	if err := plan.Render(&b, e.rules.Location()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{
		"severity:  SEV-2 (priority P2 maps to SEV-2)",
		"Group: primary PPRIM with 2 members",
		"PMOPEN \"Checkout errors PMOPEN\" (payments, SEV-1, acknowledged): resolved if the rules say so",
		"Final severity: SEV-1 (priority P2 → P1)",
		"Owner: bob@example.com (resolver)",
		"TODO items (1):\n  - page the payments team earlier (Alice Ng)",
		"final_severity   planned  would set the priority of #",
		"epic             planned  would create the SEV-1 post-mortem epic of #1 in PM",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("plan lacks %q:\n%s", s, out)
		}
	}
}

// Two replicas: the primary's and the member's resolutions processed at the
// same time by two workers, several rounds.
func TestResolutionReplicasRacePrimaryAndMember(t *testing.T) {
	e := newPDEnv(t, testRules)
	w := &env{t: t, r: e.r, store: e.store, q: e.store}
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

// crashingSteps fails the n-th RecordStep call (counting from 1): the
// process dies at that point, before or after an outside write.
type crashingSteps struct {
	*store.Store
	mu    sync.Mutex
	n     int
	calls int
}

func (c *crashingSteps) RecordStep(ctx context.Context, id string, st store.StepRecord) error {
	c.mu.Lock()
	c.calls++
	hit := c.calls == c.n
	c.mu.Unlock()
	if hit {
		return fmt.Errorf("crash at step record %d (%s %s)", c.n, st.Name, st.Status)
	}
	return c.Store.RecordStep(ctx, id, st)
}

// Whatever point the process dies at, running it again until it succeeds
// gives exactly the expected PagerDuty writes, each once.
func TestResolutionCrashAtEveryPoint(t *testing.T) {
	// Every write request that reached PagerDuty, whatever it answered.
	writesOf := func(e *pdEnv) map[string]int {
		out := map[string]int{}
		for _, c := range e.sim.Calls() {
			if c.Method != "GET" {
				out[c.Route]++
			}
		}
		return out
	}
	check := func(t *testing.T, e *pdEnv) {
		t.Helper()
		e.wantNotes("PPRIM", 1)
		e.wantNotes("PMOPEN", 1)
		e.wantNotes("PMDONE", 1)
		if got := writesOf(e); got["POST /incidents/{id}/notes"] != 3 || got["PUT /incidents"] != 2 || len(got) != 2 {
			t.Fatalf("writes = %v, want 3 notes and 2 updates (priority, resolve)", got)
		}
		if in, _ := e.sim.Incident("PPRIM"); in.Priority != "P1" {
			t.Fatalf("priority = %s", in.Priority)
		}
		if e.postmortems() != 1 {
			t.Fatalf("%d post-mortems", e.postmortems())
		}
	}
	// A clean run counts the step records.
	clean := newPDEnv(t, testRules)
	groupScenario(clean)
	counter := &crashingSteps{Store: clean.store}
	clean.res.Store = counter
	clean.sim.ResetCalls()
	clean.mustProcess(EventResolved, "PPRIM")
	check(t, clean)
	total := counter.calls
	if total < 10 {
		t.Fatalf("only %d step records in a full run", total)
	}
	for n := 1; n <= total; n++ {
		t.Run(fmt.Sprintf("crash at record %d of %d", n, total), func(t *testing.T) {
			e := newPDEnv(t, testRules)
			groupScenario(e)
			e.res.Store = &crashingSteps{Store: e.store, n: n}
			e.sim.ResetCalls()
			if err := e.process(EventResolved, "PPRIM"); err == nil {
				t.Fatal("the crash did not stop the attempt")
			}
			e.mustProcess(EventResolved, "PPRIM")
			check(t, e)
		})
	}
	// And the answer to each write lost after PagerDuty applied it.
	for _, route := range []string{"POST /incidents/{id}/notes", "PUT /incidents"} {
		t.Run("lost answer to "+route, func(t *testing.T) {
			e := newPDEnv(t, testRules)
			groupScenario(e)
			e.sim.ResetCalls()
			e.sim.Inject(route, pagerdutytest.Fault{Status: 504, AfterApply: true})
			if err := e.process(EventResolved, "PPRIM"); err == nil {
				t.Fatal("want the attempt to fail")
			}
			e.mustProcess(EventResolved, "PPRIM")
			check(t, e)
		})
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

// A write PagerDuty refuses as such is not retried: the entry is
// dead-lettered at once with the reason.
func TestResolutionRefusedWriteIsPermanent(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PINC050", "PSVC001", "P1", t0, 30*time.Minute)
	log := slog.New(slog.DiscardHandler)
	e.res.PagerDuty = pagerduty.New(pagerduty.Config{APIURL: e.sim.URL(), Token: e.sim.Token()}, log, nil)
	err := e.process(EventResolved, "PINC050")
	if !IsPermanent(err) || !strings.Contains(err.Error(), "PAGERDUTY_FROM_EMAIL is not set") {
		t.Fatalf("err = %v, want a permanent error naming PAGERDUTY_FROM_EMAIL", err)
	}
	if st := e.step("PINC050", StepLinkBack); st.Status != store.StepFailed || !strings.Contains(st.Detail, "not retried") {
		t.Fatalf("link-back step = %+v", st)
	}
	if n := e.sim.Count("POST /incidents/{id}/notes"); n != 0 {
		t.Fatalf("%d note requests without a From user", n)
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

func TestResolutionMergeIntoLongOpenPrimary(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PBIG", "PSVC001", "P1", t0, 0)
	e.incident("PNEW", "PSVC002", "P3", t0.Add(2*time.Hour), 0)
	e.mustProcess(EventTriggered, "PNEW")
	if n := e.sim.Count("PUT /incidents/{id}/merge"); n != 1 {
		t.Fatalf("%d merges, want 1: %+v", n, e.step("PNEW", StepMerge))
	}
}

// A dry run after a crashed live attempt keeps the live intent, so the next
// live run looks the note up instead of writing it again.
func TestResolutionDryRunKeepsLiveIntent(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PINC", "PSVC001", "P1", t0, 30*time.Minute)
	e.res.Store = &failingSteps{Store: e.store, step: StepLinkBack, status: store.StepDone, left: 1}
	if err := e.process(EventResolved, "PINC"); err == nil {
		t.Fatal("want the injected failure")
	}
	e.res.Store, e.res.Mode = e.store, DryRun
	e.mustProcess(EventResolved, "PINC")
	if st := e.step("PINC", StepLinkBack); st.Status != store.StepStarted {
		t.Fatalf("after the dry run the link-back step is %+v, want still started", st)
	}
	e.res.Mode = Live
	e.mustProcess(EventResolved, "PINC")
	e.wantNotes("PINC", 1)
}

// The member's own processing holds its lock while the primary's process
// wants to write its note: the primary waits, and the note is written once.
func TestResolutionMemberNoteWaitsForMemberLock(t *testing.T) {
	e := newPDEnv(t, testRules)
	groupScenario(e)
	lock, err := e.store.LockIncident(context.Background(), "PMDONE", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(400 * time.Millisecond)
		released <- time.Now()
		_ = lock.Release(context.Background())
	}()
	e.mustProcess(EventResolved, "PPRIM")
	at := <-released
	var noteAt time.Time
	for _, c := range e.sim.Calls() {
		if c.Route == "POST /incidents/{id}/notes" && c.Path == "/incidents/PMDONE/notes" {
			noteAt = c.At
		}
	}
	if noteAt.Before(at) {
		t.Fatalf("the member's note was written at %s, before its lock was released at %s", noteAt, at)
	}
	e.wantNotes("PMDONE", 1)

	// A lock that is never released: the attempt fails, retryably.
	e2 := newPDEnv(t, testRules)
	groupScenario(e2)
	e2.res.MemberLockWait = 300 * time.Millisecond
	if _, err := e2.store.LockIncident(context.Background(), "PMDONE", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	err = e2.process(EventResolved, "PPRIM")
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "stays locked") {
		t.Fatalf("err = %v, want a retryable lock error", err)
	}
	e2.wantNotes("PMDONE", 0)
}

// PagerDuty refusing one part (a member's note, resolving members, reading
// a user, the related-incidents API) is recorded, and the rest goes on.
func TestResolutionRefusalsAreRecordedAndTheRestGoesOn(t *testing.T) {
	t.Run("member note", func(t *testing.T) {
		e := newPDEnv(t, testRules)
		groupScenario(e)
		// Notes are written members first (PMDONE, PMOPEN), then the
		// link-back: refuse the first.
		e.sim.Inject("POST /incidents/{id}/notes", pagerdutytest.Fault{Status: 403})
		e.mustProcess(EventResolved, "PPRIM")
		st := e.step("PPRIM", StepMemberNotes)
		if st.Status != store.StepFailed || !strings.Contains(st.Detail, "PagerDuty refused the notes of #3") {
			t.Fatalf("member_notes = %+v", st)
		}
		e.wantNotes("PMDONE", 0)
		e.wantNotes("PMOPEN", 1)
		e.wantNotes("PPRIM", 1)
	})
	t.Run("resolve members", func(t *testing.T) {
		e := newPDEnv(t, testRules)
		groupScenario(e)
		e.sim.Inject("PUT /incidents", pagerdutytest.Fault{Status: 403, Times: 2})
		e.mustProcess(EventResolved, "PPRIM")
		if st := e.step("PPRIM", StepResolveMembers); st.Status != store.StepFailed {
			t.Fatalf("resolve_members = %+v", st)
		}
		if in, _ := e.sim.Incident("PMOPEN"); in.Status == pagerdutytest.StatusResolved {
			t.Fatal("resolved despite the refusal")
		}
		e.wantNotes("PMOPEN", 1)
		e.wantNotes("PPRIM", 1)
	})
	t.Run("owner user", func(t *testing.T) {
		e := newPDEnv(t, testRules)
		e.incident("PINC070", "PSVC001", "P1", t0, 30*time.Minute)
		e.sim.Inject("GET /users/{id}", pagerdutytest.Fault{Status: 403, Times: 2})
		e.mustProcess(EventResolved, "PINC070")
		if st := e.step("PINC070", StepOwner); !strings.HasPrefix(st.Detail, "fallback: Sre-lead <sre-lead@example.com>") {
			t.Fatalf("owner = %+v", st)
		}
	})
	t.Run("related incidents API", func(t *testing.T) {
		withAPI := strings.Replace(testRules, "  merge_while_open: true\n", "  merge_while_open: true\n  related_incidents_api: true\n", 1)
		e := newPDEnv(t, withAPI)
		e.incident("PINC071", "PSVC001", "P1", t0, 30*time.Minute)
		e.sim.Inject("GET /incidents/{id}/related_incidents", pagerdutytest.Fault{Status: 403})
		e.mustProcess(EventResolved, "PINC071")
		if st := e.step("PINC071", StepGroup); !strings.Contains(st.Detail, "related incidents are not available") {
			t.Fatalf("group = %+v", st)
		}
		e.wantNotes("PINC071", 1)
	})
}

func TestResolutionPlanForAnOpenIncident(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PSTILL", "PSVC001", "P1", t0, 0)
	plan, err := e.res.Plan(context.Background(), "PSTILL", e.rules)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Severity != "SEV-1" || plan.Steps[0].Detail != "the incident is still acknowledged: planned as if it resolved now" {
		t.Fatalf("plan = %+v", plan.Steps)
	}
}
