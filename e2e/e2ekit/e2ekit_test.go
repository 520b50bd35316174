package e2ekit

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveBinary()
	os.Exit(code)
}

// The proxy forwards, counts by route and incident, makes up the answers
// it is told to in the proportions asked (503 and 429 unforwarded, 500
// after forwarding), limits requests per minute, and stops when reset.
func TestProxy(t *testing.T) {
	s := StartSims(t, 7)
	s.PD.AddService(pagerdutytest.Service{ID: "PSVC001", Name: "checkout"})
	s.PD.AddIncident(pagerdutytest.NewIncident{ID: "Q1", Title: "down", ServiceID: "PSVC001", Priority: "P1"})
	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.PDProxy.URL+path, nil)
		req.Header.Set("Authorization", "Token token="+s.PD.Token())
		req.Header.Set("Accept", "application/vnd.pagerduty+json;version=2")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get("/incidents/Q1"); r.StatusCode != 200 {
		t.Fatalf("through the proxy: %d", r.StatusCode)
	}
	s.PDProxy.SetFaults(Faults{Unavailable: 0.2, LostAnswer: 0.1, RateLimited: 0.2, RetryAfter: 2 * time.Second})
	codes := map[int]int{}
	const n = 200
	for range n {
		r := get("/incidents/Q1/notes")
		codes[r.StatusCode]++
		if r.StatusCode == 429 && r.Header.Get("Retry-After") != "2" {
			t.Fatalf("429 with Retry-After %q", r.Header.Get("Retry-After"))
		}
	}
	for code, want := range map[int]float64{503: 0.2, 500: 0.1, 429: 0.2, 200: 0.5} {
		if got := float64(codes[code]) / n; got < want-0.1 || got > want+0.1 {
			t.Errorf("%d answered to %.2f of the requests, want about %.2f (%v)", code, got, want, codes)
		}
	}
	st := s.PDProxy.Stats()
	if st.ByRoute["GET /incidents/{id}/notes"] != n || st.ByIncident["Q1"] != n+1 || st.Injected[InjectedLostAnswer] != codes[500] {
		t.Errorf("stats %+v, answers %v", st, codes)
	}
	// What the simulator saw: everything but the unforwarded answers.
	if got, want := s.PD.Count("GET /incidents/{id}/notes"), n-codes[503]-codes[429]; got != want {
		t.Errorf("simulator saw %d requests, want %d", got, want)
	}
	s.PDProxy.Reset()
	s.PDProxy.SetRateLimit(5)
	codes = map[int]int{}
	for range 8 {
		codes[get("/incidents/Q1").StatusCode]++
	}
	if codes[200] != 5 || codes[429] != 3 {
		t.Errorf("with 5 a minute, 8 requests got %v", codes)
	}
	s.PDProxy.Reset()
	if r := get("/incidents/Q1"); r.StatusCode != 200 {
		t.Errorf("after Reset: %d", r.StatusCode)
	}
	// Jira's 429 names its reason.
	s.JiraProxy.SetFaults(Faults{RateLimited: 1})
	req, _ := http.NewRequest(http.MethodGet, s.JiraProxy.URL+"/rest/api/2/myself", nil)
	req.SetBasicAuth(s.Jira.Email(), s.Jira.APIToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("RateLimit-Reason") == "" || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("Jira 429: %d %v", resp.StatusCode, resp.Header)
	}
}

// One replica of the real binary against the proxies, SMTP and Slack: a
// SEV-1 webhook sent through the Sender becomes an epic in Jira, a note in
// PagerDuty, a mail and a Slack post; the replica survives a SIGKILL and a
// restart, and its memory can be read.
func TestReplicaSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	redis := redistest.StartServer(t, redistest.Durable...)
	s := StartSims(t, 1)
	s.PD.AddUser(pagerdutytest.User{ID: "PALICE", Name: "Alice Ng", Email: "alice@example.com"})
	s.PD.AddService(pagerdutytest.Service{ID: "PSVC001", Name: "checkout"})
	s.Jira.AddUser(jiratest.User{AccountID: "acc-alice", Name: "alice", Email: "alice@example.com", DisplayName: "Alice", Active: true})
	s.PD.AddIncident(pagerdutytest.NewIncident{ID: "Q1", Title: "Checkout down", ServiceID: "PSVC001", Priority: "P1", CreatedAt: time.Now().Add(-time.Hour)})
	s.PD.Resolve("Q1", "PALICE", time.Time{})
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(fmt.Sprintf(`version: 1
owner:
  from: [resolver]
jira:
  deployment: cloud
catch_up:
  enabled: false
notify:
  - email: [sre@example.com]
  - slack_webhook_env: %s
`, SlackEnv)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(s.Env(), "REDIS_URL="+redis.URL, "AFTERMATH_RULES="+rules)
	rs := StartReplicas(t, 1, env, "--workers", "2")
	if m, err := rs.Memory(0); err != nil || m.RSS < 1<<20 || m.Peak < m.RSS {
		t.Errorf("memory %+v, %v", m, err)
	}
	rs.Kill(0)
	if rs.PID(0) != 0 || rs.Kills(0) != 1 {
		t.Fatalf("after Kill: pid %d, kills %d", rs.PID(0), rs.Kills(0))
	}
	if err := rs.Restart(0); err != nil {
		t.Fatal(err)
	}
	snd := NewSender(rs)
	d := snd.Deliver(context.Background(), "Q1", s.PD.IncidentWebhook("Q1", "incident.resolved", "PALICE", WebhookSecret), 0)
	if d.Acked.IsZero() || d.Status != "queued" {
		t.Fatalf("delivery %+v", d)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(s.Slack.Posts()) == 0 || len(s.SMTP.Mails()) == 0 || len(s.PD.Notes("Q1")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %d issues, %d notes, %d mails, %d Slack posts\n%s", len(s.Jira.Issues()), len(s.PD.Notes("Q1")),
				len(s.SMTP.Mails()), len(s.Slack.Posts()), rs.Logs(0))
		}
		time.Sleep(100 * time.Millisecond)
	}
	epics := 0
	for _, is := range s.Jira.Issues() {
		if is.IssueType == "Epic" && strings.Contains(strings.Join(is.Labels, " "), "pagerduty-Q1") {
			epics++
		}
	}
	if epics != 1 {
		t.Errorf("%d epics for Q1", epics)
	}
	if st := s.PDProxy.Stats(); st.ByIncident["Q1"] == 0 || s.JiraProxy.Stats().Requests == 0 {
		t.Errorf("the replica did not go through the proxies: %+v", st)
	}
}
