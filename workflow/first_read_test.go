package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/store"
)

// webhookJob is the job of incident id's resolve webhook as the simulator
// sends it (occurred when the incident resolved), its data changed by edit
// when edit is set: the queued body the workflow decodes.
func (e *pdEnv) webhookJob(id, agent string, edit func(event, data map[string]any)) queue.Job {
	e.t.Helper()
	body := e.sim.IncidentWebhook(id, EventResolved, agent, "test-secret").Body
	var env map[string]map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		e.t.Fatal(err)
	}
	if edit != nil {
		edit(env["event"], env["event"]["data"].(map[string]any))
	}
	body, err := json.Marshal(env)
	if err != nil {
		e.t.Fatal(err)
	}
	occurred, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(env["event"]["occurred_at"]))
	job := e.job(EventResolved, id)
	job.Delivery.Body, job.Delivery.OccurredAt, job.Delivery.ReceivedAt = body, occurred, occurred
	return job
}

// processAt runs one attempt at job with the worker's clock at now.
func (e *pdEnv) processAt(job queue.Job, now time.Time) {
	e.t.Helper()
	e.res.Now = func() time.Time { return now }
	defer func() { e.res.Now = nil }()
	if _, err := e.res.process(context.Background(), job); err != nil {
		e.t.Fatalf("process %s: %v", job.Delivery.IncidentID, err)
	}
}

// routes are the requests the simulator saw since its last reset.
func routes(calls []pagerdutytest.Call) string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Route)
	}
	return strings.Join(out, "; ")
}

// epicOf is the epic made for the incident, if any.
func (e *pdEnv) epicOf(number int) (jiratest.Issue, bool) {
	for _, ep := range e.epics() {
		if strings.HasSuffix(ep.Summary, fmt.Sprintf("(#%d)", number)) {
			return ep, true
		}
	}
	return jiratest.Issue{}, false
}

// The PagerDuty twin of TestJiraRequestBudget: on a warm cache a lone
// SEV-1 whose fresh webhook carries its incident costs PagerDuty 3
// requests (log entries, notes, the link-back note), 4 in a grouping scope
// (the scope's search), and Jira 3; a stale webhook costs the read back.
func TestPagerDutyRequestBudget(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	n := 0
	numbers := map[string]int{}
	resolve := func(id, service string, at time.Time) (int, time.Time) {
		n++
		numbers[id] = 100 + n
		e.sim.AddIncident(pagerdutytest.NewIncident{ID: id, Number: 100 + n, Title: "Budget " + id, ServiceID: service, Priority: "P1", CreatedAt: at})
		e.sim.Acknowledge(id, "PUSER01", at.Add(time.Minute))
		e.sim.Annotate(id, "PUSER01", "TODO: "+id, at.Add(5*time.Minute))
		e.sim.Resolve(id, "PUSER01", at.Add(30*time.Minute))
		return 100 + n, at.Add(30 * time.Minute)
	}
	type cost struct {
		pd, jira int
		calls    string
		byStep   testutil.APIRequests
	}
	// Each incident's post-mortem has its follow-ups done before the next
	// resolves: none recurs an earlier one (a recurrence's comment and
	// note are requests of their own: recurrence_test.go).
	var earlier []string
	run := func(id string, resolved time.Time, age time.Duration) cost {
		t.Helper()
		for _, prev := range earlier {
			ep, ok := e.epicOf(numbers[prev])
			if !ok {
				t.Fatalf("no epic of %s", prev)
			}
			var done []store.Followup
			for _, c := range e.children(ep.Key) {
				done = append(done, store.Followup{Key: c.Key, Epic: ep.Key, Done: true})
			}
			if err := e.store.SaveFollowups(context.Background(), prev, done); err != nil {
				t.Fatal(err)
			}
		}
		earlier = append(earlier, id)
		job := e.webhookJob(id, "PUSER01", nil)
		e.sim.ResetCalls()
		e.jsim.ResetCalls()
		before := apiRequests(t)
		e.processAt(job, resolved.Add(age))
		c := cost{pd: e.sim.Count(""), jira: len(e.jsim.Calls()), calls: routes(e.sim.Calls()), byStep: apiRequests(t).Minus(before)}
		t.Logf("%s, webhook %s old: PagerDuty %d (%s), Jira %d; by step %v", id, age, c.pd, c.calls, c.jira, c.byStep)
		if got := c.byStep.Total("pagerduty"); got != c.pd {
			t.Errorf("aftermath_api_requests_total counts %d PagerDuty requests, the simulator saw %d", got, c.pd)
		}
		return c
	}
	// The first incident fills the caches (the resolver's user, the Jira
	// account).
	_, at := resolve("PWARM", "PSVC009", t0)
	run("PWARM", at, 2*time.Second)

	num, at := resolve("PLONE", "PSVC009", t0.Add(72*time.Hour))
	lone := run("PLONE", at, 5*time.Second)
	if lone.pd != 3 || lone.jira != 3 || strings.Contains(lone.calls, "GET /incidents/{id};") || strings.HasSuffix(lone.calls, "GET /incidents/{id}") {
		t.Errorf("a warm lone SEV-1 with a fresh webhook: PagerDuty %d (%s), Jira %d; want 3 and 3, no read of the incident", lone.pd, lone.calls, lone.jira)
	}
	if k := (testutil.APIStep{API: "pagerduty", Step: StepSeverity}); lone.byStep[k] != 0 {
		t.Errorf("the severity step asked PagerDuty %d times", lone.byStep[k])
	}
	if ep, ok := e.epicOf(num); !ok || !strings.HasPrefix(ep.Summary, "[SEV-1]") {
		t.Errorf("no SEV-1 post-mortem from the webhook's incident: %+v", e.epics())
	}
	if d := e.step("PLONE", StepSeverity).Detail; !strings.Contains(d, "as the webhook carried it (5s old, within 1m0s)") {
		t.Errorf("the severity record does not say the webhook stood for the read: %q", d)
	}

	_, at = resolve("PSCOPE", "PSVC001", t0.Add(144*time.Hour))
	scoped := run("PSCOPE", at, 5*time.Second)
	if scoped.pd != 4 || scoped.jira != 3 || e.sim.Count("GET /incidents/{id}") != 0 || e.sim.Count("GET /incidents") != 1 {
		t.Errorf("a warm SEV-1 in a grouping scope: PagerDuty %d (%s), Jira %d; want 4 (one search, no read) and 3", scoped.pd, scoped.calls, scoped.jira)
	}

	// Past the bound the incident is read again: the saving is exactly
	// that one request.
	_, at = resolve("PSTALE", "PSVC009", t0.Add(216*time.Hour))
	stale := run("PSTALE", at, DefaultFreshness+time.Second)
	if stale.pd != lone.pd+1 || e.sim.Count("GET /incidents/{id}") != 1 {
		t.Errorf("a stale webhook: PagerDuty %d (%s), want %d with one read of the incident", stale.pd, stale.calls, lone.pd+1)
	}
}

// A priority a person changes after the resolve is never missed: a
// webhook older than the bound (a PagerDuty retry, a replay) reads the
// incident, and the priority read is the one used. Within the bound the
// webhook's own priority stands, which is what the bound trades.
func TestStaleWebhookReadsTheIncident(t *testing.T) {
	e := newPDEnv(t, testRules)
	setup := func(id string, number int) (queue.Job, time.Time) {
		e.sim.AddIncident(pagerdutytest.NewIncident{ID: id, Number: number, Title: "Search slow " + id, ServiceID: "PSVC009", Priority: "P3", CreatedAt: t0})
		e.sim.Acknowledge(id, "PUSER01", t0.Add(time.Minute))
		e.sim.Resolve(id, "PUSER01", t0.Add(30*time.Minute))
		job := e.webhookJob(id, "PUSER01", nil) // says P3: SEV-3, not in process
		// Then a person raises it to P1.
		e.sim.SetPriority(id, "P1", "PUSER02", t0.Add(2*time.Hour))
		return job, t0.Add(30 * time.Minute)
	}

	job, resolved := setup("PSTALE", 61)
	e.sim.ResetCalls()
	e.processAt(job, resolved.Add(3*time.Hour))
	if n := e.sim.Count("GET /incidents/{id}"); n != 1 {
		t.Fatalf("the incident was read %d times for a webhook 3h old; calls: %s", n, routes(e.sim.Calls()))
	}
	sev := e.step("PSTALE", StepSeverity)
	if sev.Status != store.StepDone || !strings.Contains(sev.Detail, "read from PagerDuty: the webhook is 3h0m0s old, over the 1m0s") {
		t.Errorf("severity record %+v", sev)
	}
	if ep, ok := e.epicOf(61); !ok || !strings.HasPrefix(ep.Summary, "[SEV-1]") {
		t.Fatalf("the priority set after the resolve (P1) was not used: epics %+v", e.epics())
	}

	// The same within the bound: the webhook's P3 stands, nothing is read.
	job, resolved = setup("PFRESH", 62)
	e.sim.ResetCalls()
	e.processAt(job, resolved.Add(10*time.Second))
	if n := e.sim.Count(""); n != 0 {
		t.Errorf("a fresh webhook of an incident out of process made %d requests: %s", n, routes(e.sim.Calls()))
	}
	if sev := e.step("PFRESH", StepSeverity); sev.Status != store.StepSkipped || !strings.Contains(sev.Detail, "P3") {
		t.Errorf("severity record %+v", sev)
	}
	if _, ok := e.epicOf(62); ok {
		t.Error("a post-mortem for the webhook's P3")
	}
	// Aftermath's own catch-up and replay queue a body without the fields
	// a read brings, whatever its age: TestIncompleteWebhookReadsTheIncident.
}

// A fresh webhook that lacks a field the steps need (a hand-made or
// replayed body, a payload PagerDuty trimmed) is not taken as the read:
// the incident is read, and what the read says is used.
func TestIncompleteWebhookReadsTheIncident(t *testing.T) {
	e := newPDEnv(t, testRules)
	for i, tc := range []struct {
		name string
		edit func(event, data map[string]any)
		want string
	}{
		{"no priority", func(_, d map[string]any) { delete(d, "priority") }, "lacks priority"},
		{"no conference bridge", func(_, d map[string]any) { delete(d, "conference_bridge") }, "lacks conference_bridge"},
		{"no assignees", func(_, d map[string]any) { delete(d, "assignees") }, "lacks assignees"},
		{"no teams", func(_, d map[string]any) { delete(d, "teams") }, "lacks teams"},
		{"no resolve reason", func(_, d map[string]any) { delete(d, "resolve_reason") }, "lacks resolve_reason"},
		{"no service", func(_, d map[string]any) { delete(d, "service") }, "lacks service"},
		{"no occurred_at", func(ev, _ map[string]any) { delete(ev, "occurred_at") }, "lacks occurred_at"},
		{"another incident", func(_, d map[string]any) { d["id"] = "POTHER" }, "carries incident.resolved of POTHER"},
		{"still open", func(_, d map[string]any) { d["status"] = "acknowledged" }, "the webhook's incident is acknowledged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, number := fmt.Sprintf("PINCOMPLETE%d", i), 70+i
			e.sim.AddIncident(pagerdutytest.NewIncident{ID: id, Number: number, Title: "Partial " + id, ServiceID: "PSVC009", Priority: "P1", CreatedAt: t0})
			e.sim.Acknowledge(id, "PUSER01", t0.Add(time.Minute))
			e.sim.Resolve(id, "PUSER01", t0.Add(30*time.Minute))
			job := e.webhookJob(id, "PUSER01", func(ev, d map[string]any) {
				// What the body says otherwise would skip it.
				if _, ok := d["priority"]; ok {
					d["priority"] = map[string]any{"id": "PXP3", "type": "priority_reference", "summary": "P3"}
				}
				tc.edit(ev, d)
			})
			e.sim.ResetCalls()
			e.processAt(job, t0.Add(30*time.Minute+5*time.Second))
			if n := e.sim.Count("GET /incidents/{id}"); n != 1 {
				t.Fatalf("the incident was read %d times; calls: %s", n, routes(e.sim.Calls()))
			}
			if d := e.step(id, StepSeverity).Detail; !strings.Contains(d, tc.want) {
				t.Errorf("severity record %q does not say %q", d, tc.want)
			}
			if ep, ok := e.epicOf(number); !ok || !strings.HasPrefix(ep.Summary, "[SEV-1]") {
				t.Errorf("the read's P1 was not used: epics %+v", e.epics())
			}
		})
	}
}

// The group's members the scope's search returned are not read again:
// with a fresh webhook a primary and two resolved members cost no
// GET /incidents/{id} at all.
func TestGroupMembersFromTheSearchAreNotReadAgain(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PGPRIM", "PSVC001", "P1", t0, 60*time.Minute)
	e.incident("PGMEM1", "PSVC002", "P2", t0.Add(10*time.Minute), 20*time.Minute)
	e.incident("PGMEM2", "PSVC001", "P3", t0.Add(20*time.Minute), 10*time.Minute)
	e.sim.SetConferenceBridge("PGPRIM", &pagerdutytest.ConferenceBridge{URL: "https://meet.example.com/war-room"})
	job := e.webhookJob("PGPRIM", "PUSER02", nil)
	e.sim.ResetCalls()
	e.processAt(job, t0.Add(60*time.Minute+3*time.Second))
	if n := e.sim.Count("GET /incidents/{id}"); n != 0 {
		t.Errorf("%d reads of incidents the search returned: %s", n, routes(e.sim.Calls()))
	}
	if n := e.sim.Count("GET /incidents"); n != 1 {
		t.Errorf("%d searches of the scope", n)
	}
	g, ok, err := e.store.GroupOf(context.Background(), "PGPRIM")
	if err != nil || !ok || len(g.Members) != 3 {
		t.Fatalf("group %+v %v %v, want the primary and 2 members", g, ok, err)
	}
	ep := e.wantOneEpic()
	if !strings.Contains(ep.Description, "https://meet.example.com/war-room") {
		t.Error("the page lacks the conference bridge the webhook carried")
	}
	e.wantNotes("PGMEM1", 1)
	e.wantNotes("PGMEM2", 1)
}
