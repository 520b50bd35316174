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
