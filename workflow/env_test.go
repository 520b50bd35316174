package workflow

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// The workflow's tests run against the PagerDuty and Jira simulators (each
// request checked against the official specs), through the real clients,
// and a real Redis.

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testRules = `version: 1
timezone: America/New_York
severities:
  - name: SEV-1
    priorities: [P1]
    meeting_due: 3 calendar days
  - name: SEV-2
    priorities: [P2]
    meeting_due: 5 business days
  - name: SEV-3
    priorities: [P3]
    meeting_due: 10 business days
process: [SEV-1, SEV-2]
grouping:
  window: 30m
  scopes:
    - name: checkout
      services: [PSVC001, PSVC002]
  resolve_open_members: true
  merge_while_open: true
owner:
  from: [resolver, last_assignee]
  fallback: sre-lead@example.com
jira:
  project: PM
followups:
  from_notes: true
  markers: [TODO, FOLLOWUP]
  max: 10
`

// t0 is when the test outages start.
var t0 = time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)

const fromEmail = "aftermath-bot@example.com"

const jiraRules = testRules + `
jira:
  deployment: %s
  project: PM
  epic_issue_type: Epic
  followup_issue_type: Task
  labels: [postmortem]
  routes:
    - services: [PSVC002]
      project: PAY
followups:
  from_notes: true
  markers: [TODO, FOLLOWUP]
  max: %d
  standard:
    - summary: Schedule the post-mortem meeting
    - summary: Write and send the external message
      description: Say "incident" or "service degradation", not "outage", unless it was a full outage.
      severities: [SEV-1]
`

// pdEnv is one workflow under test: the PagerDuty and Jira simulators, the
// clients, the store and the rules.
type pdEnv struct {
	t     *testing.T
	sim   *pagerdutytest.Server
	pd    *pagerduty.Client
	jsim  *jiratest.Server
	jc    *jira.Client
	store *store.Store
	r     *redistest.Redis
	rules *rules.Rules
	res   *Resolution
	seq   atomic.Int64

	mu    sync.Mutex
	asked []Postmortem // what each run that reached the post-mortem step had gathered
}

// jiraUser is a Jira user of the simulator.
type jiraUser struct{ id, name, email string }

var (
	alice   = jiraUser{"acc-alice", "alice", "alice@example.com"}
	bob     = jiraUser{"acc-bob", "bob", "bob@example.com"}
	carol   = jiraUser{"acc-carol", "carol", "carol@example.com"}
	sreLead = jiraUser{"acc-sre", "sre-lead", "sre-lead@example.com"}
)

// newPDEnv is a workflow on Jira Cloud where every PagerDuty user is a Jira
// user too: the tests of the PagerDuty side.
func newPDEnv(t *testing.T, rulesYAML string) *pdEnv {
	return newWorkflowEnv(t, rulesYAML, jiratest.Cloud, alice, bob, carol, sreLead)
}

// jiraEnv is a workflow whose rules describe the Jira side in full, on Jira
// Cloud or Data Center, where bob has no Jira user.
type jiraEnv struct {
	*pdEnv
	rulesText string // the rules file's text
}

func newJiraEnv(t *testing.T, mode jiratest.Mode, max int) *jiraEnv {
	t.Helper()
	src := strings.Replace(testRules, "jira:\n  project: PM\nfollowups:\n  from_notes: true\n  markers: [TODO, FOLLOWUP]\n  max: 10\n", "", 1)
	rulesSrc := fmt.Sprintf(src+jiraRules[len(testRules):], mode, max)
	return &jiraEnv{pdEnv: newWorkflowEnv(t, rulesSrc, mode, alice, carol, sreLead), rulesText: rulesSrc}
}

func newWorkflowEnv(t *testing.T, rulesYAML string, mode jiratest.Mode, users ...jiraUser) *pdEnv {
	t.Helper()
	sim := pagerdutytest.New(t)
	for _, u := range []pagerdutytest.User{
		{ID: "PUSER01", Name: "Alice Ng", Email: "alice@example.com"},
		{ID: "PUSER02", Name: "Bob Stone", Email: "bob@example.com"},
		{ID: "PUSER03", Name: "Carol Diaz", Email: "carol@example.com"},
		{ID: "PBOT", Name: "aftermath", Email: fromEmail},
	} {
		sim.AddUser(u)
	}
	for _, s := range []pagerdutytest.Service{
		{ID: "PSVC001", Name: "checkout-api"}, {ID: "PSVC002", Name: "payments"}, {ID: "PSVC009", Name: "search"},
	} {
		sim.AddService(s)
	}
	rl, err := rules.Load("test-rules.yaml", []byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	pd := pagerduty.New(pagerduty.Config{APIURL: sim.URL(), Token: sim.Token(), From: fromEmail}, log,
		pagerduty.NewHTTPClient(pagerduty.TransportConfig{RequestsPerMinute: 60000, Burst: 100, MinBackoff: 5 * time.Millisecond, MaxBackoff: 1500 * time.Millisecond}, nil, log))
	js := jiratest.New(t, mode)
	js.AddProject(jiratest.Project{Key: "PM", Name: "Post-mortems"})
	js.AddProject(jiratest.Project{Key: "PAY", Name: "Payments"})
	for _, u := range users {
		js.AddUser(jiratest.User{AccountID: u.id, Name: u.name, Key: u.name, Email: u.email, DisplayName: strings.ToUpper(u.name[:1]) + u.name[1:], Active: true})
	}
	// Writes to one issue are spaced, as in production, but briefly: the
	// spacing itself is tested in package jira.
	cfg := jira.Config{BaseURL: js.URL(), Deployment: string(mode), IssueWriteInterval: 10 * time.Millisecond}
	if mode == jiratest.Cloud {
		cfg.Email, cfg.APIToken = js.Email(), js.APIToken()
	} else {
		cfg.PAT = js.PAT()
	}
	jc, err := jira.New(cfg, log, jira.NewHTTPClient(outbound.Config{RequestsPerMinute: 60000, Burst: 100, MinBackoff: 5 * time.Millisecond, MaxBackoff: 1500 * time.Millisecond}, nil, log))
	if err != nil {
		t.Fatal(err)
	}
	r := redistest.New(t)
	st := store.New(r.Client, r.Prefix)
	e := &pdEnv{t: t, sim: sim, pd: pd, jsim: js, jc: jc, store: st, r: r, rules: rl}
	e.res = &Resolution{PagerDuty: pd, Jira: jc, Store: st, Log: log, MemberLockWait: 5 * time.Second}
	return e
}

// postmortems is how many post-mortem epics Jira holds.
func (e *pdEnv) postmortems() int { return len(e.epics()) }

// incident seeds an incident with a realistic log: triggered, assigned,
// acknowledged, a note, and resolved (unless resolveAfter is 0).
func (e *pdEnv) incident(id, service, priority string, created time.Time, resolveAfter time.Duration) {
	e.t.Helper()
	e.sim.AddIncident(pagerdutytest.NewIncident{ID: id, Title: "Checkout errors " + id, ServiceID: service, Priority: priority, CreatedAt: created})
	e.sim.Assign(id, "PUSER01", created.Add(time.Minute))
	e.sim.Acknowledge(id, "PUSER01", created.Add(2*time.Minute))
	if resolveAfter > 0 {
		e.sim.Resolve(id, "PUSER02", created.Add(resolveAfter))
	}
}

func (e *pdEnv) job(eventType, incidentID string) queue.Job {
	n := e.seq.Add(1)
	return queue.Job{
		EntryID: fmt.Sprintf("0-%d", n), Attempt: 1, Rules: e.rules,
		Delivery: store.Delivery{EventID: fmt.Sprintf("EV%d-%s", n, incidentID), EventType: eventType, IncidentID: incidentID, OccurredAt: t0, ReceivedAt: t0},
	}
}

// process runs one attempt at the event, keeping the post-mortem the run
// made or found (its plan says what went into it).
func (e *pdEnv) process(eventType, incidentID string) error {
	e.t.Helper()
	plan, err := e.res.process(context.Background(), e.job(eventType, incidentID))
	if slices.ContainsFunc(plan.Steps, func(s PlanStep) bool { return s.Name == StepPostmortem && s.Incident == incidentID }) {
		e.mu.Lock()
		e.asked = append(e.asked, Postmortem{Primary: plan.Incident, Members: plan.Members, Severity: plan.FinalSeverity,
			Timeline: *plan.Timeline, Owner: plan.Owner, MeetingDue: plan.MeetingDue})
		e.mu.Unlock()
	}
	return err
}

func (e *pdEnv) mustProcess(eventType, incidentID string) {
	e.t.Helper()
	if err := e.process(eventType, incidentID); err != nil {
		e.t.Fatalf("process %s %s: %v", eventType, incidentID, err)
	}
}

// steps are the incident's step records as its record shows them: the
// checkpoints of writes and the trace of reads.
func (e *pdEnv) steps(incidentID string) map[string]store.StepRecord {
	e.t.Helper()
	st, err := e.store.Steps(context.Background(), incidentID)
	if err != nil {
		e.t.Fatal(err)
	}
	trace, err := e.store.Trace(context.Background(), incidentID)
	if err != nil {
		e.t.Fatal(err)
	}
	for name, rec := range trace {
		if _, ok := st[name]; ok {
			e.t.Fatalf("incident %s: step %s is both a checkpoint and in the trace", incidentID, name)
		}
		st[name] = rec
	}
	return st
}

func (e *pdEnv) step(incidentID, name string) store.StepRecord {
	e.t.Helper()
	st, ok := e.steps(incidentID)[name]
	if !ok {
		e.t.Fatalf("incident %s has no step %s; steps: %+v", incidentID, name, e.steps(incidentID))
	}
	return st
}

// ourNotes returns the notes aftermath wrote on an incident.
func (e *pdEnv) ourNotes(incidentID string) []pagerdutytest.Note {
	var out []pagerdutytest.Note
	for _, n := range e.sim.Notes(incidentID) {
		if strings.Contains(n.Content, "[aftermath:") {
			out = append(out, n)
		}
	}
	return out
}

// writes lists the non-GET calls that PagerDuty answered 2xx.
func (e *pdEnv) writes() []pagerdutytest.Call {
	var out []pagerdutytest.Call
	for _, c := range e.sim.Calls() {
		if c.Method != "GET" && c.Status >= 200 && c.Status < 300 {
			out = append(out, c)
		}
	}
	return out
}

func (e *pdEnv) wantNotes(incidentID string, n int) {
	e.t.Helper()
	if got := e.ourNotes(incidentID); len(got) != n {
		e.t.Fatalf("incident %s has %d aftermath notes, want %d: %+v", incidentID, len(got), n, got)
	}
}

// retryUntilDone processes an event again, as the queue would, until it
// succeeds: a retry may wait for Jira's search to catch up. A permanent
// error or 10 s without success fails the test.
func (e *pdEnv) retryUntilDone(eventType, incidentID string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := e.process(eventType, incidentID)
		if err == nil {
			return
		}
		if IsPermanent(err) || time.Now().After(deadline) {
			e.t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stable replaces the simulators' addresses (a new port each run) for the
// golden files.
func (e *pdEnv) stable(s string) string {
	return strings.NewReplacer(e.sim.URL(), "https://acme.pagerduty.com", e.jsim.URL(), "https://acme.atlassian.net").Replace(s)
}

func (e *pdEnv) epics() []jiratest.Issue {
	var out []jiratest.Issue
	for _, is := range e.jsim.Issues() {
		if is.IssueType == "Epic" {
			out = append(out, is)
		}
	}
	return out
}

func (e *pdEnv) children(epic string) []jiratest.Issue {
	var out []jiratest.Issue
	for _, is := range e.jsim.Issues() {
		if is.Parent == epic {
			out = append(out, is)
		}
	}
	return out
}

func (e *pdEnv) wantOneEpic() jiratest.Issue {
	e.t.Helper()
	eps := e.epics()
	if len(eps) != 1 {
		e.t.Fatalf("%d epics, want 1: %+v", len(eps), eps)
	}
	return eps[0]
}

// realisticSEV1 seeds an outage: a SEV-1 on checkout with 30+ key events,
// three responders (one named incident commander), two TODO items, a
// resolution note, a conference bridge, a dashboard and a log search in the
// notes, and a related SEV-2 on payments.
func realisticSEV1(e *pdEnv) {
	s := e.sim
	s.AddIncident(pagerdutytest.NewIncident{ID: "PCHK1", Number: 4211, Title: "Checkout API returning 502 for 38% of requests", ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0,
		Conference: &pagerdutytest.ConferenceBridge{URL: "https://meet.example.com/inc-4211", Number: "+1-415-555-1212,,,,4211#"}})
	s.Assign("PCHK1", "PUSER01", t0.Add(30*time.Second))
	s.AddNotifyEntries("PCHK1", 12, t0.Add(40*time.Second))
	s.Acknowledge("PCHK1", "PUSER01", t0.Add(3*time.Minute))
	s.Annotate("PCHK1", "PUSER01", "IC: Alice Ng\nScribe: Carol Diaz\nOpened #inc-4211 in chat.\nError rate: https://grafana.example.com/d/checkout-5xx?from=now-1h.", t0.Add(4*time.Minute))
	s.Escalate("PCHK1", "PUSER03", t0.Add(6*time.Minute))
	s.Acknowledge("PCHK1", "PUSER03", t0.Add(7*time.Minute))
	for i := range 15 {
		at := t0.Add(time.Duration(9+2*i) * time.Minute)
		s.Annotate("PCHK1", []string{"PUSER01", "PUSER03", "PUSER02"}[i%3], fmt.Sprintf("Update %d: error rate %d%%, pool saturation at %d%%.", i+1, 38-2*i, 99-i), at)
	}
	s.Assign("PCHK1", "PUSER02", t0.Add(40*time.Minute))
	s.Acknowledge("PCHK1", "PUSER02", t0.Add(41*time.Minute))
	s.Annotate("PCHK1", "PUSER02", "Rolled back deploy 7781.\nTODO: alert on connection pool saturation above 90%\n- FOLLOWUP: load test checkout with the new driver before the next rollout", t0.Add(55*time.Minute))
	s.Annotate("PCHK1", "PUSER01", "Error rate back to baseline; the rollback of deploy 7781 fixed it. Root cause: the new DB driver leaked connections under retries.\nThe leak in the logs: https://logs.example.com/search?q=%22pool+exhausted%22&service=checkout", t0.Add(70*time.Minute))
	s.AddIncident(pagerdutytest.NewIncident{ID: "PPAY1", Number: 4212, Title: "Payments authorisations timing out", ServiceID: "PSVC002", Priority: "P2", CreatedAt: t0.Add(8 * time.Minute)})
	s.Acknowledge("PPAY1", "PUSER02", t0.Add(10*time.Minute))
	s.Annotate("PPAY1", "PUSER02", "Payments timeouts follow checkout: same DB pool.", t0.Add(20*time.Minute))
	s.Resolve("PPAY1", "PUSER02", t0.Add(65*time.Minute))
	s.Resolve("PCHK1", "PUSER01", t0.Add(72*time.Minute))
}

func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./workflow -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; go test ./workflow -run %s -update rewrites it. Got:\n%s", path, t.Name(), got)
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
