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
