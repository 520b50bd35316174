package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/e2e/e2ekit"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
)

const deadlineRules = `version: 1
timezone: America/New_York
holidays:
  calendar: us
severities:
  - name: SEV-1
    priorities: [P1]
    meeting_due: 3 calendar days
  - name: SEV-2
    priorities: [P2]
    meeting_due: 5 business days
process: [SEV-1, SEV-2]
owner:
  from: [resolver]
jira:
  deployment: cloud
  project: PM
status_sync:
  every: 1s
catch_up:
  enabled: false
`

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// End to end with the real binary, three replicas on one Redis, against
// the simulators: a SEV-2 resolved before Thanksgiving gets its meeting
// date past the holiday in Jira; two post-mortems whose meetings are
// overdue get one overdue comment each, once across the replicas; moving
// an epic to Reviewed in Jira (found by the status sync) or through
// POST /webhooks/jira stops its reminders, including one that falls due
// after the move.
func TestDeadlinesEndToEnd(t *testing.T) {
	const secret, admin, jiraSecret = "pd-webhook-secret", "admin-token-0123456789abcdef0123456789", "jira-webhook-secret-0123456789"
	r := redistest.New(t)
	pd := pagerdutytest.New(t)
	pd.AddUser(pagerdutytest.User{ID: "PALICE", Name: "Alice Ng", Email: "alice@example.com"})
	pd.AddUser(pagerdutytest.User{ID: "PBOT", Name: "aftermath", Email: "aftermath@example.com"})
	pd.AddService(pagerdutytest.Service{ID: "PSVC001", Name: "checkout"})
	old := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
	pd.AddIncident(pagerdutytest.NewIncident{ID: "QOLD", Title: "Checkout down", ServiceID: "PSVC001", Priority: "P1", CreatedAt: old})
	pd.Resolve("QOLD", "PALICE", old.Add(time.Hour))
	// Wednesday before Thanksgiving, 10:00 in New York.
	hol := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	pd.AddIncident(pagerdutytest.NewIncident{ID: "QHOL", Title: "Payments slow", ServiceID: "PSVC001", Priority: "P2", CreatedAt: hol})
	pd.Resolve("QHOL", "PALICE", hol.Add(time.Hour))
	js := jiratest.New(t, jiratest.Cloud)
	js.AddProject(jiratest.Project{Key: "PM", Name: "Post-mortems"})
	js.AddUser(jiratest.User{AccountID: "acc-alice", Name: "alice", Email: "alice@example.com", DisplayName: "Alice", Active: true})

	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(deadlineRules), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"REDIS_URL=" + r.URL, "AFTERMATH_REDIS_PREFIX=" + r.Prefix, "AFTERMATH_RULES=" + rulesFile,
		"PAGERDUTY_API_URL=" + pd.URL(), "PAGERDUTY_API_TOKEN=" + pd.Token(), "PAGERDUTY_FROM_EMAIL=aftermath@example.com",
		"PAGERDUTY_WEBHOOK_SECRETS=" + secret, "AFTERMATH_ADMIN_TOKEN=" + admin,
		"JIRA_BASE_URL=" + js.URL(), "JIRA_EMAIL=" + js.Email(), "JIRA_API_TOKEN=" + js.APIToken(), "JIRA_WEBHOOK_SECRET=" + jiraSecret,
	}
	reps := e2ekit.StartReplicas(t, 3, env, "--workers", "2")
	for i, id := range []string{"QOLD", "QHOL", "QOLD"} {
		wh := pd.IncidentWebhook(id, "incident.resolved", "PALICE", secret)
		post(t, reps.URL(i)+"/webhooks/pagerduty", wh.Body, wh.Headers)
	}

	epicOf := func(id string) jiratest.Issue {
		for _, is := range js.Issues() {
			if is.IssueType == "Epic" && strings.Contains(strings.Join(is.Labels, ","), "pagerduty-"+id) {
				return is
			}
		}
		return jiratest.Issue{}
	}
	overdue := func(id string) int {
		n := 0
		for _, c := range epicOf(id).Comments {
			if strings.Contains(c.Body, "meeting was due") {
				n++
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "an overdue comment on each epic", func() bool { return overdue("QOLD") >= 1 && overdue("QHOL") >= 1 })
	time.Sleep(3 * time.Second) // three more ticks of each replica
	if a, b := overdue("QOLD"), overdue("QHOL"); a != 1 || b != 1 {
		t.Fatalf("overdue comments: QOLD %d, QHOL %d; want one each across 3 replicas", a, b)
	}
	// 5 business days from Wed 25 Nov: Thanksgiving and the weekend skipped.
	if due := epicOf("QHOL").DueDate; due != "2026-12-03" {
		t.Fatalf("SEV-2 meeting due %s in Jira, want 2026-12-03", due)
	}
	if !strings.Contains(epicOf("QOLD").Comments[0].Body, "[~accountid:acc-alice]") {
		t.Fatalf("the overdue comment does not mention the owner: %q", epicOf("QOLD").Comments[0].Body)
	}

	// QOLD's epic is moved to Reviewed in Jira: the status sync finds it.
	js.SetStatus(epicOf("QOLD").Key, "Reviewed")
	waitFor(t, 15*time.Second, "QOLD's post-mortem Reviewed", func() bool {
		pm := postmortemOf(t, reps.URL(2), admin, "QOLD")
		return pm.Status == "Reviewed" && pm.NextReminder == ""
	})
	// QHOL's through Jira's webhook, signed as Jira Cloud signs it: the
	// epic moves in Jira, and Jira tells.
	jiraHook := func(key, status, delivery string) []byte {
		js.SetStatus(key, status)
		body, _ := json.Marshal(map[string]any{"timestamp": time.Now().UnixMilli(), "webhookEvent": "jira:issue_updated",
			"issue": map[string]any{"key": key, "fields": map[string]any{"status": map[string]string{"name": status}}}})
		mac := hmac.New(sha256.New, []byte(jiraSecret))
		mac.Write(body)
		if code, answer := post(t, reps.URL(1)+"/webhooks/jira", body, map[string]string{"X-Hub-Signature": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
			"X-Atlassian-Webhook-Identifier": delivery}); code != 200 || !strings.Contains(answer, `"status":"updated"`) {
			t.Fatalf("Jira webhook %s: %d %s", delivery, code, answer)
		}
		return body
	}
	body := jiraHook(epicOf("QHOL").Key, "Reviewed", "delivery-qhol")
	pm := postmortemOf(t, reps.URL(0), admin, "QHOL")
	if pm.Status != "Reviewed" || pm.NextReminder != "" || len(pm.History) != 2 || pm.History[1].Source != "webhook" || len(pm.Reminders) != 1 {
		t.Fatalf("QHOL's post-mortem = %+v", pm)
	}
	if code, _ := post(t, reps.URL(1)+"/webhooks/jira?secret=wrong", body, nil); code != 401 {
		t.Fatalf("Jira webhook with a wrong secret: %d, want 401", code)
	}

	// Reviewed must stop a reminder that falls due afterwards. The repeat
	// of QOLD's and QHOL's is a day away (the rules refuse less than an
	// hour), so two more post-mortems have their meeting due in 30 s:
	// QSOON is moved to Reviewed before, QCTL stays Draft. When QCTL's
	// overdue reminder is written and the queue is empty, QSOON's (due at
	// the same moment) would have been too.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	meeting := time.Now().Add(30 * time.Second).Truncate(time.Second)
	resolved := meeting.In(ny).AddDate(0, 0, -3) // SEV-1: 3 calendar days, wall clock
	pd.AddService(pagerdutytest.Service{ID: "PSVC002", Name: "payments"})
	for _, in := range []pagerdutytest.NewIncident{
		{ID: "QSOON", Title: "Search slow", ServiceID: "PSVC001", Priority: "P1", CreatedAt: resolved.Add(-time.Hour)},
		{ID: "QCTL", Title: "Payments down", ServiceID: "PSVC002", Priority: "P1", CreatedAt: resolved.Add(-time.Hour)},
	} {
		pd.AddIncident(in)
		pd.Resolve(in.ID, "PALICE", resolved)
		wh := pd.IncidentWebhook(in.ID, "incident.resolved", "PALICE", secret)
		post(t, reps.URL(0)+"/webhooks/pagerduty", wh.Body, wh.Headers)
	}
	comments := func(id, s string) int {
		n := 0
		for _, c := range epicOf(id).Comments {
			if strings.Contains(c.Body, s) {
				n++
			}
		}
		return n
	}
	// Their reviews are past due, the meetings ahead: a review reminder each.
	waitFor(t, 25*time.Second, "a review reminder on QSOON's and QCTL's epics", func() bool {
		return comments("QSOON", "due for review") == 1 && comments("QCTL", "due for review") == 1
	})
	if time.Until(meeting) < 2*time.Second {
		t.Fatalf("too slow: the meeting (%s) is due before QSOON could be moved to Reviewed", meeting)
	}
	jiraHook(epicOf("QSOON").Key, "Reviewed", "delivery-qsoon")
	waitFor(t, time.Until(meeting)+30*time.Second, "QCTL's overdue reminder, and the queue empty", func() bool {
		return overdue("QCTL") == 1 && queueEmpty(t, reps.URL(2))
	})
	if a, b, c := overdue("QOLD"), overdue("QHOL"), overdue("QSOON"); a != 1 || b != 1 || c != 0 {
		t.Fatalf("overdue comments after Reviewed: QOLD %d, QHOL %d, QSOON %d; want 1, 1, 0", a, b, c)
	}
	if pm := postmortemOf(t, reps.URL(0), admin, "QSOON"); pm.Status != "Reviewed" || len(pm.Reminders) != 1 || pm.Reminders[0].Kind != "review" {
		t.Fatalf("QSOON's post-mortem = %+v", pm)
	}
	if v := append(pd.Violations(), js.Violations()...); len(v) > 0 {
		t.Fatalf("requests the official specs refuse: %v", v)
	}
}

// queueEmpty reads the queue's gauges on a replica's /metrics: nothing
// waiting, nothing being processed.
func queueEmpty(t *testing.T, base string) bool {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	page := "\n" + b.String()
	return strings.Contains(page, "\naftermath_queue_length 0\n") && strings.Contains(page, "\naftermath_queue_pending 0\n")
}

func post(t *testing.T, u string, body []byte, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// trackedPM is what the admin API shows of a post-mortem.
type trackedPM struct {
	Status       string `json:"status"`
	NextReminder string `json:"next_reminder"`
	History      []struct {
		Status, Source string
	} `json:"history"`
	Reminders []struct {
		Kind string
		N    int
	} `json:"reminders"`
}

func postmortemOf(t *testing.T, base, admin, id string) trackedPM {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/incidents/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec struct {
		Postmortem *trackedPM `json:"postmortem"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil || rec.Postmortem == nil {
		t.Fatalf("record of %s: %v %+v", id, err, rec)
	}
	return *rec.Postmortem
}
