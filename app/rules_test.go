package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
)

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Reloading the rules, well or badly, while webhooks arrive drops none: each
// is answered 202 and queued, and the workers process all of them.
func TestReloadDoesNotDropWebhooks(t *testing.T) {
	r := redistest.New(t)
	path := filepath.Join(t.TempDir(), "rules.yaml")
	good := func(project string) string { return "jira:\n  project: " + project + "\n" }
	if err := os.WriteFile(path, []byte(good("AAA")), 0o644); err != nil {
		t.Fatal(err)
	}
	// Q0..Q6 exist in PagerDuty with no priority: each is read and skipped.
	sim, pdEnv := pagerDuty(t)
	for i := range 7 {
		id := fmt.Sprintf("Q%d", i)
		sim.AddIncident(pagerdutytest.NewIncident{ID: id, Title: id, ServiceID: "PNE3JZM", CreatedAt: time.Now().Add(-time.Hour)})
		sim.Resolve(id, "PBEN", time.Now().Add(-time.Minute))
	}
	a, logs := startApp(t, with(pdEnv, map[string]string{
		"AFTERMATH_LISTEN_ADDR":     "127.0.0.1:0",
		"REDIS_URL":                 r.URL,
		"AFTERMATH_REDIS_PREFIX":    r.Prefix,
		"AFTERMATH_RULES":           path,
		"PAGERDUTY_WEBHOOK_SECRETS": sampleSecret,
		"AFTERMATH_ADMIN_TOKEN":     adminToken,
	}))
	defer a.Stop(context.Background())
	base := "http://" + a.Addr()

	const senders, each = 4, 50
	var accepted, other atomic.Int32
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := []byte(fmt.Sprintf(`{"event":{"id":"E-%d-%d","event_type":"incident.resolved","occurred_at":"2026-11-21T10:00:00Z","data":{"id":"Q%d","type":"incident"}}}`, s, i, i%7))
				req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/pagerduty", bytes.NewReader(body))
				req.Header.Set("X-PagerDuty-Signature", sign(sampleSecret, body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					accepted.Add(1)
				} else {
					other.Add(1)
				}
			}
		}()
	}
	// Reload meanwhile: good and bad files, by signal path and by HTTP.
	for i := range 20 {
		src := good(fmt.Sprintf("P%c", 'A'+i))
		if i%3 == 0 {
			src = "jira:\n  project: not-a-key\n"
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			_, _, _ = a.ReloadRules()
		} else {
			code, _ := post(t, base+"/-/reload", nil, map[string]string{"Authorization": "Bearer " + adminToken})
			want := http.StatusOK
			if i%3 == 0 {
				want = http.StatusUnprocessableEntity
			}
			if code != want {
				t.Fatalf("reload %d: %d, want %d", i, code, want)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	if accepted.Load() != senders*each || other.Load() != 0 {
		t.Fatalf("accepted %d of %d webhooks (%d other answers)", accepted.Load(), senders*each, other.Load())
	}
	// i = 19 was a good file.
	if got := a.Rules().Jira.Project; got != "PT" {
		t.Fatalf("rules in force: project %s, want PT (the last good file)", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := a.Store().Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Length == 0 && st.Dead == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The outcome is counted just after the entry is acknowledged: wait
	// for it too.
	var out string
	for {
		var code int
		code, out = get(t, base+"/metrics", "")
		if code == http.StatusOK && strings.Contains(out, `aftermath_processing_total{outcome="done"} 200`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics: processed count is not 200:\n%s", grepLines(out, "aftermath_processing_total"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out, "aftermath_rules_last_reload_success 1") {
		t.Fatalf("metrics: reload gauge wrong:\n%s", grepLines(out, "aftermath_rules_last_reload"))
	}
	if !strings.Contains(logs.String(), "rules reload failed; keeping the rules in force") || !strings.Contains(logs.String(), path+":2:12: ") {
		t.Fatal("a failed reload should log each problem with its position")
	}
}

func TestBadRulesStopStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte("timezone: Mars/Base\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(loadConfig(t, map[string]string{"AFTERMATH_RULES": path, "PAGERDUTY_WEBHOOK_SECRETS": "s"}), Options{Ingest: true})
	if err == nil || !strings.Contains(err.Error(), path+":1:11: unknown time zone") {
		t.Fatalf("New with bad rules: %v", err)
	}
}

func TestRulesCheckCommand(t *testing.T) {
	var out bytes.Buffer
	if code := RulesCheck("../config/rules.example.yaml", &out); code != 0 || !strings.HasPrefix(out.String(), "../config/rules.example.yaml: OK: 3 severities") || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("example: %d %q", code, out.String())
	}
	out.Reset()
	if code := RulesCheck("", &out); code != 0 || !strings.HasPrefix(out.String(), "built-in rules: OK") {
		t.Fatalf("built-in: %d %q", code, out.String())
	}
	out.Reset()
	bad := "../rules/testdata/invalid/many-problems.yaml"
	want, _ := os.ReadFile("../rules/testdata/invalid/many-problems.want")
	if code := RulesCheck(bad, &out); code != 1 {
		t.Fatalf("bad file exit %d", code)
	}
	wantOut := strings.ReplaceAll(string(want), "testdata/invalid/", "../rules/testdata/invalid/") + bad + ": 9 problems\n"
	if out.String() != wantOut {
		t.Fatalf("bad file output:\n%s\nwant:\n%s", out.String(), wantOut)
	}
	out.Reset()
	if code := RulesCheck("nope.yaml", &out); code != 1 || out.String() != "rules file nope.yaml does not exist\n" {
		t.Fatalf("missing file: %d %q", code, out.String())
	}
}

func TestRulesExplainCommand(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "incident.json")
	write := func(s string) {
		if err := os.WriteFile(inc, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"incident":{"id":"Q1ABC","incident_number":42,"title":"Checkout is down","status":"resolved","created_at":"2026-11-20T21:50:00Z","resolved_at":"2026-11-21T03:10:00Z","service":{"id":"PSVC002","summary":"payments"},"priority":{"summary":"P2"}}}`)
	var out bytes.Buffer
	if err := RulesExplain("../config/rules.example.yaml", inc, time.Now(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"severity:        SEV-2 (priority P2 maps to SEV-2)",
		"process:         yes: SEV-2 is in process (SEV-1, SEV-2)",
		`grouping:        scope "checkout" (services PSVC001, PSVC002)`,
		"owner:           first that maps to a Jira user by email: 1. resolver; 2. last_assignee; 3. fallback sre-lead@example.com",
		"jira project:    PAY (a route for service PSVC002)",
		"labels:          sev-2, incident-2026-11-20, postmortem",
		// Resolved Fri 22:10 New York: Mon, Tue, Wed, (Thanksgiving), Fri, Mon.
		"meeting due:     Mon 2026-11-30 22:10 EST (5 business days after resolved Fri 2026-11-20 22:10 EST)",
		"review due:      Sun 2026-11-29 22:10 EST (24h before the meeting)",
	} {
		if !strings.Contains(out.String(), want+"\n") && !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "standard: Write and send the external message") {
		t.Error("a SEV-1-only standard follow-up was listed for SEV-2")
	}

	// Outside process: said, and why.
	write(`{"id":"Q2","incident_number":7,"title":"Disk","status":"resolved","created_at":"2026-11-20T21:50:00Z","priority":{"summary":"P3"}}`)
	out.Reset()
	if err := RulesExplain("../config/rules.example.yaml", inc, time.Now(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "skipped: SEV-3 is not in process (SEV-1, SEV-2); nothing would be written anywhere") {
		t.Fatalf("SEV-3:\n%s", out.String())
	}
	write(`{"incident":{"id":"Q3","status":"triggered","created_at":"2026-11-20T21:50:00Z"}}`)
	out.Reset()
	if err := RulesExplain("", inc, time.Now(), &out); err != nil || !strings.Contains(out.String(), "severity:        none: the incident has no priority") {
		t.Fatalf("no priority: %v\n%s", err, out.String())
	}
	write(`[1,2]`)
	if err := RulesExplain("", inc, time.Now(), &out); err == nil || !strings.Contains(err.Error(), "is not PagerDuty incident JSON") {
		t.Fatalf("not an incident: %v", err)
	}
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
