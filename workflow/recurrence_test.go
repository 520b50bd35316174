package workflow

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// recurrenceEnv is a workflow with an earlier SEV-1 post-mortem on
// checkout-api (PSVC001): POLD, #100, resolved at t0+30m, its epic PM-1
// with the two standard follow-ups PM-2 and PM-3, which the status sync
// has not read yet.
func recurrenceEnv(t *testing.T) *jiraEnv {
	t.Helper()
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.res.Metrics = NewMetrics(nil)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "POLD", Number: 100, Title: "Checkout API returning 502", ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0})
	e.sim.Acknowledge("POLD", "PUSER01", t0.Add(2*time.Minute))
	e.sim.Resolve("POLD", "PUSER01", t0.Add(30*time.Minute))
	e.mustProcess(EventResolved, "POLD")
	d, found, err := e.store.Deadline(context.Background(), "POLD")
	if err != nil || !found || d.Key != "PM-1" || !slices.Equal(d.Followups, []string{"PM-2", "PM-3"}) {
		t.Fatalf("the earlier post-mortem: %+v, %v, %v", d, found, err)
	}
	e.sim.ResetCalls()
	e.jsim.ResetCalls()
	return e
}

// recurrences are the recurrences the log holds.
func (e *pdEnv) recurrences() []store.Recurrence {
	e.t.Helper()
	rs, err := e.store.Recurrences(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// recurredComments are the recurrence comments on the epic key.
func (e *pdEnv) recurredComments(key string) []string {
	e.t.Helper()
	is, ok := e.jsim.Issue(key)
	if !ok {
		e.t.Fatalf("no issue %s", key)
	}
	var out []string
	for _, c := range is.Comments {
		if strings.Contains(c.Body, "aftermath-ref-recurred-") {
			out = append(out, c.Body)
		}
	}
	return out
}

func (e *pdEnv) recurrencesCounted(severity string) float64 {
	return promtest.ToFloat64(e.res.Metrics.recurrences.WithLabelValues(severity))
}

// A SEV-3 gets no post-mortem, but it recurs the earlier post-mortem of its
// service: one comment on the earlier epic, one note on the incident,
// counted and recorded once, whatever the retries and the duplicates; and
// the follow-ups closed between a failed attempt and its retry do not undo
// the decision.
func TestRecurrenceOfASEV3OnAServiceWithAnOpenFollowup(t *testing.T) {
	e := recurrenceEnv(t)
	ctx := context.Background()
	resolved := t0.Add(30 * 24 * time.Hour)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PNEW", Number: 4300, Title: "checkout 502", ServiceID: "PSVC001", Priority: "P3", CreatedAt: resolved.Add(-20 * time.Minute)})
	e.sim.Resolve("PNEW", "PUSER02", resolved)

	// Jira makes the comment and the answer is lost: the attempt fails.
	e.jsim.Inject("POST /rest/api/2/issue/{issueIdOrKey}/comment", jiratest.Fault{Status: 504, AfterApply: true})
	if err := e.process(EventResolved, "PNEW"); err == nil {
		t.Fatal("the attempt whose comment's answer was lost did not fail")
	}
	if st := e.step("PNEW", StepRecurrence); st.Status != store.StepDone || !strings.Contains(st.Detail, "recurs PM-1 (#100, Draft; open PM-2, PM-3)") {
		t.Fatalf("the decision: %+v", st)
	}
	// Meanwhile the status sync sees both follow-ups done: the decision
	// stands, and the retry writes what the attempt did not.
	if err := e.store.SaveFollowups(ctx, "POLD", []store.Followup{{Key: "PM-2", Epic: "PM-1", Done: true}, {Key: "PM-3", Epic: "PM-1", Done: true}}); err != nil {
		t.Fatal(err)
	}
	e.mustProcess(EventResolved, "PNEW")
	// The same resolution again (a duplicate webhook past the dedupe
	// window, a replay): nothing more.
	e.mustProcess(EventResolved, "PNEW")

	if st := e.step("PNEW", StepSeverity); st.Status != store.StepSkipped {
		t.Fatalf("severity step: %+v, want skipped (SEV-3 is not in process)", st)
	}
	if e.postmortems() != 1 {
		t.Fatalf("%d epics: the SEV-3 got a post-mortem", e.postmortems())
	}
	comments := e.recurredComments("PM-1")
	want := "Recurred: [\\#4300 \"checkout 502\"|" + e.sim.URL() + "/incidents/PNEW] resolved 2026-12-20 while PM-2, PM-3 are open.\naftermath-ref-recurred-PNEW"
	if len(comments) != 1 || comments[0] != want {
		t.Fatalf("recurrence comments on PM-1 = %q, want once %q", comments, want)
	}
	if n := e.jsim.Count("POST /rest/api/2/issue/{issueIdOrKey}/comment"); n != 1 {
		t.Fatalf("%d comment writes, want 1 (the retry found the first)", n)
	}
	if st := e.step("PNEW", StepRecurrenceComment+"_1"); st.Status != store.StepDone || !strings.Contains(st.Detail, "found, written by an earlier attempt") {
		t.Fatalf("comment step: %+v", st)
	}
	e.wantNotes("PNEW", 1)
	note := e.ourNotes("PNEW")[0].Content
	for _, s := range []string{"PM-1 (" + e.jsim.URL() + "/browse/PM-1)", `#100 "Checkout API returning 502"`, "Draft: PM-2, PM-3 are open", "[aftermath:recurrence:PNEW]"} {
		if !strings.Contains(note, s) {
			t.Fatalf("the note lacks %q:\n%s", s, note)
		}
	}
	if n := e.sim.Count("POST /incidents/{id}/notes"); n != 1 {
		t.Fatalf("%d note writes, want 1", n)
	}
	rs := e.recurrences()
	if len(rs) != 1 {
		t.Fatalf("recorded %+v, want one recurrence", rs)
	}
	if r := rs[0]; r.Incident != "PNEW" || r.Number != 4300 || r.Severity != "SEV-3" || r.Service != "PSVC001" || r.Earlier != "POLD" ||
		r.EarlierKey != "PM-1" || !slices.Equal(r.Open, []string{"PM-2", "PM-3"}) || !r.ResolvedAt.Equal(resolved) {
		t.Fatalf("recorded %+v", r)
	}
	if n := e.recurrencesCounted("SEV-3"); n != 1 {
		t.Fatalf("aftermath_recurrences_total{severity=SEV-3} = %v, want 1", n)
	}
	// The earlier post-mortem's own run was no recurrence of anything.
	if st := e.step("POLD", StepRecurrence); st.Status != store.StepDone || !strings.HasPrefix(st.Detail, "no post-mortem on PSVC001, PSVC002") {
		t.Fatalf("the earlier incident's decision: %+v", st)
	}
}

// A SEV-1 that recurs a post-mortem of its grouping scope: the earlier epic
// gets its comment, and the new post-mortem's page lists the earlier one
// with its status and open follow-ups (as the status sync saw them), and
// its epic is labelled recurrence.
func TestRecurrenceOfASEV1PutsTheEarlierPostmortemOnItsPage(t *testing.T) {
	e := recurrenceEnv(t)
	ctx := context.Background()
	if err := e.store.SaveFollowups(ctx, "POLD", []store.Followup{
		{Key: "PM-2", Epic: "PM-1", Summary: "Schedule the post-mortem meeting", Done: true},
		{Key: "PM-3", Epic: "PM-1", Summary: "Write and send the external message", Status: "In Progress"},
		{Key: "PM-9", Epic: "PM-1", Summary: "Alert on | pool [saturation]", Status: "To Do"}, // added by a person
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.SetStatus(ctx, "POLD", store.StatusInReview, "sync"); err != nil {
		t.Fatal(err)
	}
	// On payments, in checkout's grouping scope: its epic goes to PAY.
	at := t0.Add(10 * 24 * time.Hour)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PSEV1", Number: 4400, Title: "Payments down", ServiceID: "PSVC002", Priority: "P1", CreatedAt: at})
	e.sim.Acknowledge("PSEV1", "PUSER01", at.Add(3*time.Minute))
	e.sim.Resolve("PSEV1", "PUSER01", at.Add(40*time.Minute))
	e.mustProcess(EventResolved, "PSEV1")
	e.mustProcess(EventResolved, "PSEV1")

	if c := e.recurredComments("PM-1"); len(c) != 1 || !strings.Contains(c[0], "while PM-3, PM-9 are open.") {
		t.Fatalf("recurrence comments on PM-1: %q", c)
	}
	var epic jiratest.Issue
	for _, is := range e.epics() {
		if is.Key != "PM-1" {
			epic = is
		}
	}
	if epic.Project != "PAY" || !slices.Contains(epic.Labels, RecurrenceLabel) {
		t.Fatalf("the new epic %s in %s has labels %v, want %q among them", epic.Key, epic.Project, epic.Labels, RecurrenceLabel)
	}
	for _, f := range e.children(epic.Key) {
		if slices.Contains(f.Labels, RecurrenceLabel) {
			t.Fatalf("follow-up %s is labelled %q: only the epic is", f.Key, RecurrenceLabel)
		}
	}
	if old, _ := e.jsim.Issue("PM-1"); slices.Contains(old.Labels, RecurrenceLabel) {
		t.Fatal("the earlier epic got the label")
	}
	goldenFile(t, "recurrence-page.jira", e.stable(epic.Description))
	// The link-back and the recurrence note, each once.
	e.wantNotes("PSEV1", 2)
	if n := e.recurrencesCounted("SEV-1"); n != 1 {
		t.Fatalf("aftermath_recurrences_total{severity=SEV-1} = %v, want 1", n)
	}
	// The new post-mortem is itself in the index, for the incidents after.
	pms, err := e.store.PostmortemsOn(ctx, []string{"PSVC002"}, t0, at.Add(time.Hour))
	if err != nil || len(pms) != 1 || pms[0].Incident != "PSEV1" {
		t.Fatalf("post-mortems on PSVC002: %+v, %v", pms, err)
	}
}

// No recurrence: the earlier post-mortem's follow-ups are done, it resolved
// before the window, or the incident is on a service outside its scope.
// Nothing is written, recorded or counted, and the decision says why.
func TestNoRecurrence(t *testing.T) {
	window := 2160 * time.Hour // recurrence.window's default
	for _, tc := range []struct {
		name, service string
		resolved      time.Duration // after the earlier one resolved
		done          bool          // the index has every follow-up done
	}{
		{name: "follow-ups done", service: "PSVC001", resolved: 24 * time.Hour, done: true},
		{name: "outside the window", service: "PSVC001", resolved: window + time.Minute},
		{name: "another service outside the scope", service: "PSVC009", resolved: 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := recurrenceEnv(t)
			if tc.done {
				if err := e.store.SaveFollowups(context.Background(), "POLD", []store.Followup{
					{Key: "PM-2", Epic: "PM-1", Done: true}, {Key: "PM-3", Epic: "PM-1", Done: true},
					{Key: "PM-7", Epic: "PM-1", Deleted: true}, // gone from Jira: not open either
				}); err != nil {
					t.Fatal(err)
				}
			}
			resolved := t0.Add(30*time.Minute + tc.resolved)
			e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PNEW", Title: "again", ServiceID: tc.service, Priority: "P3", CreatedAt: resolved.Add(-10 * time.Minute)})
			e.sim.Resolve("PNEW", "PUSER02", resolved)
			e.mustProcess(EventResolved, "PNEW")
			if st := e.step("PNEW", StepRecurrence); st.Status != store.StepDone || !strings.HasPrefix(st.Detail, "no post-mortem on ") {
				t.Fatalf("the decision: %+v", st)
			}
			if c := e.recurredComments("PM-1"); len(c) != 0 {
				t.Fatalf("comments: %q", c)
			}
			e.wantNotes("PNEW", 0)
			if rs := e.recurrences(); len(rs) != 0 {
				t.Fatalf("recorded %+v", rs)
			}
			if n := e.recurrencesCounted("SEV-3"); n != 0 {
				t.Fatalf("counted %v", n)
			}
			if w := e.writes(); len(w) != 0 {
				t.Fatalf("PagerDuty writes: %+v", w)
			}
		})
	}
}

// An incident of the earlier post-mortem's own group is no recurrence of
// it: neither its primary nor a member, whether the member's resolution
// comes after the post-mortem (it is attached) or its decision is worked
// out afresh.
func TestRecurrenceIsNeverOfTheIncidentsOwnGroup(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.res.Metrics = NewMetrics(nil)
	groupScenario(e.pdEnv)
	e.mustProcess(EventResolved, "PPRIM")
	d, found, err := e.store.Deadline(context.Background(), "PPRIM")
	if err != nil || !found || !slices.Contains(d.Group, "PMDONE") || len(d.Followups) == 0 {
		t.Fatalf("the group's post-mortem: %+v, %v, %v", d, found, err)
	}
	// The SEV-3 member's own resolution: attached, and left to its primary.
	e.mustProcess(EventResolved, "PMDONE")
	if st := e.step("PMDONE", StepRecurrence); st.Status != store.StepSkipped || !strings.Contains(st.Detail, "a member of PPRIM's group") {
		t.Fatalf("the member's recurrence step: %+v", st)
	}
	if c := e.recurredComments(d.Key); len(c) != 0 {
		t.Fatalf("comments on the group's own epic: %q", c)
	}
	// Worked out afresh, as a release without the recurrence step would
	// leave it: neither the primary nor a member recurs its own group.
	for _, id := range []string{"PPRIM", "PMDONE", "PMOPEN"} {
		in, err := e.pd.Incident(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		x := e.res.newRun(id, EventResolved, "", e.rules, nil)
		dec, err := x.decideRecurrence(context.Background(), in, nil)
		if err != nil || len(dec.Earlier) != 0 {
			t.Fatalf("%s recurs %+v, %v", id, dec.Earlier, err)
		}
	}
	if rs := e.recurrences(); len(rs) != 0 {
		t.Fatalf("recorded %+v", rs)
	}
}

// A dry run decides and records the plan, writes and records nothing; the
// live run after it decides again and does it all, once.
func TestRecurrenceDryRunThenLive(t *testing.T) {
	e := recurrenceEnv(t)
	resolved := t0.Add(5 * 24 * time.Hour)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PNEW", Title: "again", ServiceID: "PSVC002", Priority: "P4", CreatedAt: resolved.Add(-10 * time.Minute)})
	e.sim.Resolve("PNEW", "PUSER02", resolved)
	e.res.Mode = DryRun
	e.mustProcess(EventResolved, "PNEW")
	if st := e.step("PNEW", StepRecurrence); st.Status != store.StepPlanned {
		t.Fatalf("dry run's decision: %+v", st)
	}
	if c := e.recurredComments("PM-1"); len(c) != 0 || len(e.ourNotes("PNEW")) != 0 || len(e.recurrences()) != 0 {
		t.Fatalf("a dry run wrote: comments %q, notes %+v, recorded %+v", c, e.ourNotes("PNEW"), e.recurrences())
	}
	e.res.Mode = Live
	e.mustProcess(EventResolved, "PNEW")
	if c := e.recurredComments("PM-1"); len(c) != 1 {
		t.Fatalf("comments: %q", c)
	}
	e.wantNotes("PNEW", 1)
	// P4 maps to no severity: recorded without one, counted as none.
	if rs := e.recurrences(); len(rs) != 1 || rs[0].Severity != "" {
		t.Fatalf("recorded %+v", rs)
	}
	if n := e.recurrencesCounted("none"); n != 1 {
		t.Fatalf("aftermath_recurrences_total{severity=none} = %v", n)
	}
}

// The page's section, as render lays it out, lists what the decision
// recorded: CapEarlier bounds it.
func TestPageEarlierIsCapped(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	x := e.res.newRun("PX", EventResolved, "", e.rules, nil)
	var earlier []EarlierPostmortem
	for i := range 7 {
		ep := EarlierPostmortem{Incident: "P" + string(rune('A'+i)), Number: i, Key: "PM-" + string(rune('1'+i)), Status: store.StatusDraft, ResolvedAt: t0}
		for range 8 {
			ep.Open = append(ep.Open, OpenFollowup{Key: "PM-99"})
		}
		earlier = append(earlier, ep)
	}
	got := x.pageEarlier(earlier)
	if len(got) != render.EarlierShown || len(got[0].Open) != render.EarlierOpenShown || got[0].MoreOpen != 3 ||
		got[0].URL != e.jsim.URL()+"/browse/PM-1" || got[0].Open[0].URL != e.jsim.URL()+"/browse/PM-99" {
		t.Fatalf("page's earlier post-mortems: %+v", got)
	}
}

// Two replicas, the same webhook delivered twice and the resolution
// replayed: the duplicate is not queued, the two queued resolutions run
// one after the other under the incident's lock, and the comment, the note,
// the record and the count are each there once.
func TestRecurrenceOnceAcrossReplicasAndDuplicates(t *testing.T) {
	e := recurrenceEnv(t)
	ctx := context.Background()
	resolved2 := t0.Add(7 * 24 * time.Hour)
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: "PNEW", Number: 4300, Title: "checkout 502", ServiceID: "PSVC001", Priority: "P3", CreatedAt: resolved2.Add(-20 * time.Minute)})
	e.sim.Resolve("PNEW", "PUSER02", resolved2)
	// Slow writes, so that the two runs would overlap without the lock.
	e.jsim.Inject("POST /rest/api/2/issue/{issueIdOrKey}/comment", jiratest.Fault{Latency: 300 * time.Millisecond, Times: 5})
	e.sim.Inject("POST /incidents/{id}/notes", pagerdutytest.Fault{Latency: 300 * time.Millisecond, Times: 5})

	w := &env{t: t, r: e.r, store: e.store}
	for _, name := range []string{"replica-a", "replica-b"} {
		cfg := fast(name)
		cfg.Rules = func() *rules.Rules { return e.rules }
		cfg.RetryHorizon = 10 * 365 * 24 * time.Hour
		w.start(cfg, e.res)
	}
	first := resolved("EV-PNEW-1", "PNEW")
	w.enqueue(first)
	if res, err := e.store.Enqueue(ctx, first); err != nil || !res.Duplicate {
		t.Fatalf("the same delivery again: %+v, %v; want a duplicate", res, err)
	}
	w.enqueue(resolved("EV-PNEW-replay", "PNEW"))
	eventually(t, "both resolutions processed", func() bool {
		st := w.stats()
		return st.Length == 0 && st.Pending == 0 && len(w.record("PNEW").Events) == 2
	})
	if st := w.stats(); st.Dead != 0 {
		t.Fatalf("dead letters: %+v", st)
	}
	if c := e.recurredComments("PM-1"); len(c) != 1 {
		t.Fatalf("recurrence comments on PM-1: %q", c)
	}
	e.wantNotes("PNEW", 1)
	if rs := e.recurrences(); len(rs) != 1 {
		t.Fatalf("recorded %+v", rs)
	}
	if n := e.recurrencesCounted("SEV-3"); n != 1 {
		t.Fatalf("counted %v, want 1", n)
	}
}
