package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testspecs"
	"github.com/aftermath-dev/aftermath/store"
)

// waitRecord polls the admin API until the incident's record satisfies ok.
func waitRecord(t *testing.T, base, incident string, ok func(store.IncidentRecord) bool) store.IncidentRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out := get(t, base+"/api/v1/incidents/"+incident, adminToken)
		var rec store.IncidentRecord
		if code == http.StatusOK && json.Unmarshal([]byte(out), &rec) == nil && ok(rec) {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("incident %s: record never got there: %d %s", incident, code, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stepOf(rec store.IncidentRecord, name string) (store.StepRecord, bool) {
	for _, s := range rec.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return store.StepRecord{}, false
}

// Without PAGERDUTY_API_TOKEN a webhook is still accepted, and its event is
// parked in the dead-letter stream with the reason instead of being lost or
// silently acknowledged.
func TestAppWithoutPagerDutyTokenDeadLettersWithReason(t *testing.T) {
	r := redistest.New(t)
	a, logs := startApp(t, serveEnv(r))
	base := "http://" + a.Addr()
	body := testspecs.Sample(t, "webhooks/incident.resolved.json")
	if code, out := post(t, base+"/webhooks/pagerduty", body, map[string]string{"X-PagerDuty-Signature": testspecs.Sign(sampleSecret, body)}); code != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", code, out)
	}
	waitRecord(t, base, "Q2CKYRLH85UNN4", func(rec store.IncidentRecord) bool {
		return len(rec.Attempts) == 1 && rec.Attempts[0].Outcome == store.OutcomeDeadLettered &&
			strings.Contains(rec.Attempts[0].Error, "PAGERDUTY_API_TOKEN is not set")
	})
	_, out := get(t, base+"/api/v1/dead-letters", adminToken)
	if !strings.Contains(out, "PAGERDUTY_API_TOKEN is not set") {
		t.Fatalf("dead letters: %s", out)
	}
	if !strings.Contains(logs.String(), "PAGERDUTY_API_TOKEN is not set: webhooks are accepted and queued") {
		t.Fatal("no start-up warning about the missing token")
	}
}

// AFTERMATH_DRY_RUN: the workflow reads PagerDuty, writes nothing there, and
// records its plan.
func TestAppDryRunRecordsThePlan(t *testing.T) {
	r := redistest.New(t)
	sim, pdEnv := pagerDuty(t)
	// Raise the final severity: a P2 primary with a P1 incident on the
	// same service, in a scope.
	sim.SetPriority("Q2CKYRLH85UNN4", "P2", "PBEN", time.Date(2025, 4, 7, 3, 47, 30, 0, time.UTC))
	sim.AddIncident(pagerdutytest.NewIncident{ID: "QSIBLING", Title: "Also broken", ServiceID: "PNE3JZM", Priority: "P1",
		CreatedAt: time.Date(2025, 4, 7, 3, 48, 0, 0, time.UTC)})
	path := filepath.Join(t.TempDir(), "rules.yaml")
	rulesYAML := "grouping:\n  scopes:\n    - name: tester\n      services: [PNE3JZM]\n"
	if err := os.WriteFile(path, []byte(rulesYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	a, logs := startApp(t, with(pdEnv, serveEnv(r), map[string]string{
		"AFTERMATH_RULES":   path,
		"AFTERMATH_DRY_RUN": "true",
	}))
	base := "http://" + a.Addr()
	body := testspecs.Sample(t, "webhooks/incident.resolved.json")
	if code, out := post(t, base+"/webhooks/pagerduty", body, map[string]string{"X-PagerDuty-Signature": testspecs.Sign(sampleSecret, body)}); code != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", code, out)
	}
	rec := waitRecord(t, base, "Q2CKYRLH85UNN4", func(rec store.IncidentRecord) bool { return len(rec.Attempts) == 1 })
	if rec.Attempts[0].Outcome != store.OutcomeDone {
		t.Fatalf("attempt = %+v", rec.Attempts[0])
	}
	for _, name := range []string{"final_severity", "resolve_members"} {
		st, ok := stepOf(rec, name)
		if !ok || st.Status != store.StepPlanned || !strings.HasPrefix(st.Detail, "would ") {
			t.Errorf("step %s = %+v, want planned", name, st)
		}
	}
	if st, _ := stepOf(rec, "severity"); !strings.HasPrefix(st.Detail, "dry run: ") {
		t.Errorf("severity step = %+v", st)
	}
	for _, c := range sim.Calls() {
		if c.Method != http.MethodGet {
			t.Fatalf("dry run wrote to PagerDuty: %s %s", c.Method, c.Path)
		}
	}
	if in, _ := sim.Incident("QSIBLING"); in.Status == pagerdutytest.StatusResolved {
		t.Fatal("dry run resolved the open member")
	}
	if !strings.Contains(logs.String(), "AFTERMATH_DRY_RUN is on") {
		t.Fatal("no dry-run warning at start")
	}
}

// incident.triggered is queued only while the rules merge into open
// primaries; the decision follows a reload.
func TestAppQueuesTriggeredOnlyForMergeWhileOpen(t *testing.T) {
	r := redistest.New(t)
	_, pdEnv := pagerDuty(t)
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte("grouping:\n  merge_while_open: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, _ := startApp(t, with(pdEnv, serveEnv(r), map[string]string{
		"AFTERMATH_RULES": path,
	}))
	base := "http://" + a.Addr()
	body := testspecs.Sample(t, "webhooks/incident.triggered.json")
	hdr := map[string]string{"X-PagerDuty-Signature": sign(sampleSecret, body)}
	if code, out := post(t, base+"/webhooks/pagerduty", body, hdr); code != http.StatusOK || !strings.Contains(out, "ignored") {
		t.Fatalf("triggered with merge_while_open off: %d %s", code, out)
	}
	if err := os.WriteFile(path, []byte("grouping:\n  merge_while_open: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.ReloadRules(); err != nil {
		t.Fatal(err)
	}
	if code, out := post(t, base+"/webhooks/pagerduty", body, hdr); code != http.StatusAccepted {
		t.Fatalf("triggered with merge_while_open on: %d %s", code, out)
	}
	// The incident is resolved in the simulator: the merge step says so.
	rec := waitRecord(t, base, "Q2CKYRLH85UNN4", func(rec store.IncidentRecord) bool { _, ok := stepOf(rec, "merge"); return ok })
	if st, _ := stepOf(rec, "merge"); st.Status != store.StepSkipped {
		t.Fatalf("merge step = %+v", st)
	}
}

// The whole path against both simulators: a signed webhook becomes a Jira
// epic with its page, owner and follow-up, the link-back note, once, even
// when PagerDuty delivers it twice. The same on each REDIS_MODE: one server,
// a 3-master Redis Cluster, a master found through Redis Sentinel.
func TestAppEndToEndWithJira(t *testing.T) {
	for _, mode := range redistest.Modes {
		t.Run(mode, func(t *testing.T) {
			rm := redistest.ForMode(t, mode)
			endToEndWithJira(t, with(serveEnv(redistest.New(t)), rm.Env))
			// The state is where that mode puts it, the PagerDuty pace that
			// every replica shares included.
			ctx := context.Background()
			for _, k := range []string{":{queue}:events", ":incident:" + pagerdutytest.SampleIncidentID + ":steps", ":pace:pagerduty", ":pace:jira"} {
				if n, err := rm.Client.Exists(ctx, rm.Prefix+k).Result(); n != 1 {
					t.Errorf("key %s is not in the %s Redis: %d %v", k, mode, n, err)
				}
			}
		})
	}
}

func endToEndWithJira(t *testing.T, redisEnv map[string]string) {
	sim, pdEnv := pagerDuty(t)
	sim.Annotate(pagerdutytest.SampleIncidentID, "PBEN", "TODO: add a synthetic check for the webhook tester", time.Date(2025, 4, 7, 3, 48, 30, 0, time.UTC))
	js := jiratest.New(t, jiratest.Cloud)
	js.AddProject(jiratest.Project{Key: "PM", Name: "Post-mortems"})
	js.AddUser(jiratest.User{AccountID: "acc-ben", Name: "ben", Key: "ben", Email: "ben@example.com", DisplayName: "Ben", Active: true})
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte("jira:\n  deployment: cloud\n  project: PM\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, logs := startApp(t, with(pdEnv, redisEnv, map[string]string{
		"AFTERMATH_RULES": path,
		"JIRA_BASE_URL":   js.URL(),
		"JIRA_EMAIL":      js.Email(),
		"JIRA_API_TOKEN":  js.APIToken(),
	}))
	base := "http://" + a.Addr()
	if code, out := get(t, base+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz on REDIS_MODE=%s: %d %s", redisEnv["REDIS_MODE"], code, out)
	}
	body := testspecs.Sample(t, "webhooks/incident.resolved.json")
	for _, wid := range []string{"W1", "W2"} { // a redelivery with a new webhook ID
		if code, out := post(t, base+"/webhooks/pagerduty", body, map[string]string{"X-PagerDuty-Signature": testspecs.Sign(sampleSecret, body), "X-Webhook-Id": wid}); code != http.StatusAccepted && code != http.StatusOK {
			t.Fatalf("webhook: %d %s", code, out)
		}
	}
	rec := waitRecord(t, base, pagerdutytest.SampleIncidentID, func(rec store.IncidentRecord) bool {
		st, ok := stepOf(rec, "link_back")
		return ok && st.Status == store.StepDone
	})
	issues := js.Issues()
	if len(issues) != 2 || issues[0].IssueType != "Epic" || issues[1].Parent != issues[0].Key {
		t.Fatalf("issues = %+v", issues)
	}
	epic := issues[0]
	if epic.Summary != "[SEV-1] Post-mortem: Test (#37)" || epic.Assignee != "acc-ben" || !strings.Contains(epic.Description, "h2. Timeline") {
		t.Fatalf("epic = %+v", epic)
	}
	if issues[1].Summary != "Add a synthetic check for the webhook tester" {
		t.Fatalf("follow-up = %q", issues[1].Summary)
	}
	var link string
	for _, n := range sim.Notes(pagerdutytest.SampleIncidentID) {
		if strings.Contains(n.Content, "[aftermath:") {
			link = n.Content
		}
	}
	if !strings.Contains(link, js.URL()+"/browse/"+epic.Key) || !strings.Contains(link, "Owner: ben@example.com") {
		t.Fatalf("link-back note = %q", link)
	}
	for _, name := range []string{"epic", "followups", "epic_page", "postmortem"} {
		if st, _ := stepOf(rec, name); st.Status != store.StepDone {
			t.Errorf("step %s = %+v", name, st)
		}
	}
	// The post-mortem counts on /metrics as soon as it is made: no status
	// sync has read it yet (the first ran at start, before it existed).
	if _, m := get(t, base+"/metrics", ""); !strings.Contains(m, `aftermath_postmortems{status="Draft"} 1`) {
		t.Errorf("/metrics does not count the new post-mortem as Draft:\n%s", grepLines(m, "aftermath_postmortems"))
	}
	if strings.Contains(logs.String(), js.APIToken()) || strings.Contains(logs.String(), sim.Token()) {
		t.Fatal("a token leaked into the log")
	}
}
