package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/store"
)

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
	if st := e.step("PINC050", StepLinkBack); st.Status != store.StepFailed || !st.Refused || !strings.Contains(st.Detail, "not retried") {
		t.Fatalf("link-back step = %+v", st)
	}
	if n := e.sim.Count("POST /incidents/{id}/notes"); n != 0 {
		t.Fatalf("%d note requests without a From user", n)
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

// snapshot reads every key of the test's prefix with its value.
func snapshot(t *testing.T, e *pdEnv) map[string]string {
	t.Helper()
	ctx := context.Background()
	rdb := e.r.Client
	out := map[string]string{}
	for _, k := range e.r.Keys(t) {
		var v any
		var err error
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "list":
			v, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = rdb.SMembers(ctx, k).Result()
		case "zset":
			v, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = rdb.XRange(ctx, k, "-", "+").Result()
		default:
			t.Fatalf("key %s of type %q", k, typ)
		}
		if err != nil {
			t.Fatal(err)
		}
		out[k] = fmt.Sprint(v)
	}
	return out
}

// A plan writes nothing to Redis, and a dry run writes no more than the
// incident's record: its plan in the checkpoints (planned writes only), its
// trace and its event, all marked as a dry run. Neither claims a group or
// takes a lock, and neither touches another incident's record.
func TestDryRunAndPlanWriteNothingMore(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PEARLIER", "PSVC009", "P1", t0.Add(-48*time.Hour), 30*time.Minute)
	e.mustProcess(EventResolved, "PEARLIER") // some state to keep
	groupScenario(e)
	e.sim.ResetCalls()
	before := snapshot(t, e)

	if _, err := e.res.Plan(context.Background(), "PPRIM", e.rules); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, e); !maps.Equal(before, after) {
		t.Fatalf("plan changed Redis:\nbefore %v\nafter  %v", before, after)
	}

	e.res.Mode = DryRun
	e.mustProcess(EventResolved, "PPRIM")
	after := snapshot(t, e)
	record := e.r.Prefix + ":incident:PPRIM:"
	allowed := []string{record + "steps", record + "trace", record + "events"}
	for k, v := range after {
		if before[k] != v && !slices.Contains(allowed, k) {
			t.Errorf("a dry run changed %s", k)
		}
	}
	for _, k := range allowed {
		if _, ok := after[k]; !ok {
			t.Errorf("a dry run did not record %s", k)
		}
	}
	for name, st := range e.steps("PPRIM") {
		if st.Status != store.StepPlanned && !strings.HasPrefix(st.Detail, "dry run: ") || st.Intent != "" || st.Result != "" && name != StepGroup {
			t.Errorf("a dry run recorded %s as %+v", name, st)
		}
	}
	if len(e.writes()) != 0 || e.postmortems() != 1 {
		t.Fatalf("a dry run wrote outside: %d PagerDuty writes, %d epics", len(e.writes()), e.postmortems())
	}
}
