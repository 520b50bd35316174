package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testspecs"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/workflow"
)

const (
	sampleSecret = "HvPtlQNKMPpHSSqJpCdndXfo7HnGXa1pnH6w5axpxLFn9aRBNBGh4e8/HlonK5mz"
	adminToken   = "admin-token-FOR-TESTS-0123456789abcdef"
)

// pagerDuty starts a PagerDuty simulator holding the incident of the signed
// webhook samples (resolved, P1: a SEV-1 under the built-in rules) and
// returns the environment that points aftermath at it.
func pagerDuty(t *testing.T) (*pagerdutytest.Server, map[string]string) {
	t.Helper()
	sim := pagerdutytest.New(t)
	sim.SeedWebhookSample("aftermath@example.com")
	return sim, map[string]string{
		"PAGERDUTY_API_URL":    sim.URL(),
		"PAGERDUTY_API_TOKEN":  sim.Token(),
		"PAGERDUTY_FROM_EMAIL": "aftermath@example.com",
	}
}

// with merges environments; later ones win.
func with(envs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, env := range envs {
		for k, v := range env {
			out[k] = v
		}
	}
	return out
}

// serveEnv is what every served test app needs: a free port, the test's
// Redis prefix, the sample webhooks' secret and the admin token.
func serveEnv(r *redistest.Redis) map[string]string {
	return map[string]string{
		"AFTERMATH_LISTEN_ADDR":     "127.0.0.1:0",
		"REDIS_URL":                 r.URL,
		"AFTERMATH_REDIS_PREFIX":    r.Prefix,
		"PAGERDUTY_WEBHOOK_SECRETS": sampleSecret,
		"AFTERMATH_ADMIN_TOKEN":     adminToken,
	}
}

func loadConfig(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	c, err := config.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startApp(t *testing.T, env map[string]string) (*App, *testutil.Buffer) {
	t.Helper()
	return startAppWith(t, env, Options{Ingest: true, Worker: true})
}

// startAppWith starts an App with opts (a JSON logger into the returned
// buffer unless opts has one) and stops it when the test ends.
func startAppWith(t *testing.T, env map[string]string, opts Options) (*App, *testutil.Buffer) {
	t.Helper()
	logs := &testutil.Buffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := New(loadConfig(t, env), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return a, logs
}

// do sends one request and returns the status and body.
func do(t *testing.T, method, url string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	return do(t, http.MethodPost, url, body, hdr)
}

// get sends a GET, with the admin token when token is set.
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	var hdr map[string]string
	if token != "" {
		hdr = map[string]string{"Authorization": "Bearer " + token}
	}
	return do(t, http.MethodGet, url, nil, hdr)
}

// The whole path in one process: a signed webhook is queued, processed by the
// resolution workflow against the PagerDuty simulator and visible in the
// admin API; stop is clean.
func TestAppEndToEnd(t *testing.T) {
	r := redistest.New(t)
	sim, pdEnv := pagerDuty(t)
	a, logs := startApp(t, with(pdEnv, map[string]string{
		"AFTERMATH_LISTEN_ADDR":     "127.0.0.1:0",
		"REDIS_URL":                 r.URL,
		"AFTERMATH_REDIS_PREFIX":    r.Prefix,
		"PAGERDUTY_WEBHOOK_SECRETS": "rotated-out," + sampleSecret,
		"AFTERMATH_ADMIN_TOKEN":     adminToken,
	}))
	base := "http://" + a.Addr()
	body := testspecs.Sample(t, "webhooks/incident.resolved.json")

	code, out := post(t, base+"/webhooks/pagerduty", body, map[string]string{"X-PagerDuty-Signature": testspecs.Sign(sampleSecret, body), "X-Webhook-Id": "W1"})
	if code != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", code, out)
	}
	var rec struct {
		Events   []map[string]any `json:"events"`
		Attempts []map[string]any `json:"attempts"`
		Steps    []map[string]any `json:"steps"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out = get(t, base+"/api/v1/incidents/Q2CKYRLH85UNN4", adminToken)
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(out), &rec); err != nil {
				t.Fatal(err)
			}
			if len(rec.Attempts) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("incident record never showed the processed event: %d %s", code, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(rec.Events) != 1 || rec.Events[0]["event_id"] != "01FKZSYE5HCMM576S6JUVIGLQT" || rec.Attempts[0]["outcome"] != "done" {
		t.Fatalf("record = %+v", rec)
	}
	steps := map[string]string{}
	for _, s := range rec.Steps {
		steps[s["name"].(string)] = s["status"].(string) + ": " + fmt.Sprint(s["detail"])
	}
	for name, want := range map[string]string{
		"severity":   "done: priority P1 maps to SEV-1",
		"group":      "done: no related incidents",
		"timeline":   "done: 3 key events",
		"owner":      "done: resolver: Ben <ben@example.com>",
		"postmortem": "skipped: Jira is not configured",
		"link_back":  "skipped: no post-mortem exists yet",
	} {
		if !strings.HasPrefix(steps[name], want) {
			t.Errorf("step %s = %q, want %q...", name, steps[name], want)
		}
	}
	if n := sim.Count("GET /incidents/{id}"); n != 1 {
		t.Errorf("incident read %d times", n)
	}
	if code, _ := get(t, base+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("readyz = %d", code)
	}
	code, out = get(t, base+"/metrics", "")
	if code != http.StatusOK || !strings.Contains(out, `aftermath_processing_total{outcome="done"} 1`) || !strings.Contains(out, "process_resident_memory_bytes") {
		t.Fatalf("metrics: %d, missing the processing outcome or process metrics", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("the server still answers after Stop")
	}
	if strings.Contains(logs.String(), sampleSecret) || strings.Contains(logs.String(), adminToken) {
		t.Fatal("a secret reached the logs")
	}
}

func TestAppEmbeddedRedisWarns(t *testing.T) {
	a, logs := startApp(t, map[string]string{
		"AFTERMATH_LISTEN_ADDR":     "127.0.0.1:0",
		"PAGERDUTY_WEBHOOK_SECRETS": sampleSecret,
	})
	defer a.Stop(context.Background())
	if !strings.Contains(logs.String(), "REDIS_URL is not set: using embedded in-memory Redis") ||
		!strings.Contains(logs.String(), "lost when the process exits") {
		t.Fatalf("no warning about embedded Redis in:\n%s", logs)
	}
	body := testspecs.Sample(t, "webhooks/incident.resolved.json")
	if code, out := post(t, "http://"+a.Addr()+"/webhooks/pagerduty", body, map[string]string{"X-PagerDuty-Signature": testspecs.Sign(sampleSecret, body)}); code != http.StatusAccepted {
		t.Fatalf("webhook on embedded Redis: %d %s", code, out)
	}
}

// With Redis unreachable every webhook gets 503 and the Redis password, the
// webhook secret and the admin token never reach a log line or an answer.
func TestAppRedisDownAnswers503WithoutLeakingSecrets(t *testing.T) {
	const redisPW = "redis-pw-SHOULD-NOT-LEAK"
	a, logs := startApp(t, map[string]string{
		"AFTERMATH_LISTEN_ADDR":     "127.0.0.1:0",
		"REDIS_URL":                 "redis://:" + redisPW + "@127.0.0.1:1/0",
		"PAGERDUTY_WEBHOOK_SECRETS": sampleSecret,
		"AFTERMATH_ADMIN_TOKEN":     adminToken,
	})
	base := "http://" + a.Addr()
	body := testspecs.Sample(t, "webhooks/incident.resolved.json")
	var answers []string
	code, out := post(t, base+"/webhooks/pagerduty", body, map[string]string{"X-PagerDuty-Signature": testspecs.Sign(sampleSecret, body)})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("webhook with Redis down: %d %s", code, out)
	}
	answers = append(answers, out)
	_, out = post(t, base+"/webhooks/pagerduty", body, map[string]string{"X-PagerDuty-Signature": "v1=00"})
	answers = append(answers, out)
	code, out = get(t, base+"/api/v1/incidents/Q1", adminToken)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("admin API with Redis down: %d %s", code, out)
	}
	answers = append(answers, out)
	code, out = get(t, base+"/readyz", "")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with Redis down: %d", code)
	}
	answers = append(answers, out)
	time.Sleep(300 * time.Millisecond) // let the worker log its read failures
	_ = a.Stop(context.Background())

	all := logs.String() + strings.Join(answers, "\n")
	if !strings.Contains(all, "webhook not stored") {
		t.Fatalf("expected the failure to be logged:\n%s", all)
	}
	for _, s := range []string{redisPW, sampleSecret, adminToken} {
		if strings.Contains(all, s) {
			t.Errorf("secret %q leaked into logs or answers:\n%s", s, all)
		}
	}
}

// A worker-only replica serves health and metrics (processing outcomes must
// be scrapeable everywhere) but takes no webhooks and has no admin API.
func TestWorkerOnlyRoleServesHealthAndMetrics(t *testing.T) {
	r := redistest.New(t)
	a, _ := startAppWith(t, map[string]string{
		"AFTERMATH_LISTEN_ADDR":  "127.0.0.1:0",
		"REDIS_URL":              r.URL,
		"AFTERMATH_REDIS_PREFIX": r.Prefix,
		"AFTERMATH_ADMIN_TOKEN":  adminToken,
	}, Options{Worker: true})
	base := "http://" + a.Addr()
	if code, _ := get(t, base+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	if code, _ := get(t, base+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("readyz: %d", code)
	}
	if code, out := get(t, base+"/metrics", ""); code != http.StatusOK || !strings.Contains(out, "aftermath_processing_total") {
		t.Fatalf("metrics: %d", code)
	}
	if code, _ := post(t, base+"/webhooks/pagerduty", []byte("{}"), nil); code != http.StatusNotFound {
		t.Fatalf("a worker-only replica must not take webhooks: %d", code)
	}
	if code, _ := get(t, base+"/api/v1/incidents/Q1", adminToken); code != http.StatusNotFound {
		t.Fatalf("a worker-only replica has no admin API: %d", code)
	}
	// But it reloads its rules: the workers are what use them.
	if code, out := post(t, base+"/-/reload", nil, map[string]string{"Authorization": "Bearer " + adminToken}); code != http.StatusOK {
		t.Fatalf("reload on a worker-only replica: %d %s", code, out)
	}
}

// An event that cannot be processed is parked and visible where ops look:
// the dead-letter API, the incident's record, and the metrics.
func TestDeadLetterIsVisible(t *testing.T) {
	r := redistest.New(t)
	a, _ := startAppWith(t, map[string]string{
		"AFTERMATH_LISTEN_ADDR":     "127.0.0.1:0",
		"REDIS_URL":                 r.URL,
		"AFTERMATH_REDIS_PREFIX":    r.Prefix,
		"PAGERDUTY_WEBHOOK_SECRETS": sampleSecret,
		"AFTERMATH_ADMIN_TOKEN":     adminToken,
	}, Options{
		Ingest: true, Worker: true,
		Processor: queue.ProcessorFunc(func(ctx context.Context, j queue.Job) error {
			return workflow.Permanent(errors.New("incident Q2CKYRLH85UNN4 no longer exists in PagerDuty"))
		}),
	})
	base := "http://" + a.Addr()
	body := testspecs.Sample(t, "webhooks/incident.resolved.json")
	if code, out := post(t, base+"/webhooks/pagerduty", body, map[string]string{"X-PagerDuty-Signature": testspecs.Sign(sampleSecret, body)}); code != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", code, out)
	}
	var list struct {
		DeadLetters []map[string]any `json:"dead_letters"`
	}
	testutil.Eventually(t, "the dead letter listed", func() bool {
		code, out := get(t, base+"/api/v1/dead-letters", adminToken)
		return code == http.StatusOK && json.Unmarshal([]byte(out), &list) == nil && len(list.DeadLetters) == 1
	})
	dl := list.DeadLetters[0]
	if dl["event_id"] != "01FKZSYE5HCMM576S6JUVIGLQT" || dl["incident_id"] != "Q2CKYRLH85UNN4" || dl["reason"] != "incident Q2CKYRLH85UNN4 no longer exists in PagerDuty" || dl["attempts"] != float64(1) {
		t.Fatalf("dead letter = %v", dl)
	}
	_, out := get(t, base+"/api/v1/incidents/Q2CKYRLH85UNN4", adminToken)
	if !strings.Contains(out, `"outcome":"dead_lettered"`) || !strings.Contains(out, fmt.Sprintf(`"dead_letter_id":%q`, dl["id"])) {
		t.Fatalf("incident record does not show the dead letter: %s", out)
	}
	_, out = get(t, base+"/metrics", "")
	for _, want := range []string{"aftermath_queue_dead_letters 1", `aftermath_processing_total{outcome="dead_lettered"} 1`, "aftermath_queue_length 0"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Served replicas share the admin lockout through Redis, under the key
// prefix, and tell clients apart through the proxy AFTERMATH_TRUSTED_PROXIES
// names: five wrong tokens from one client on each of two replicas lock
// that client out on both, while another client behind the same proxy
// still gets in with the right token. The failures are logged with the
// client's address, never the token, and counted in the metrics.
func TestServedReplicasShareTheAdminLockout(t *testing.T) {
	r := redistest.New(t)
	env := with(serveEnv(r), map[string]string{"AFTERMATH_TRUSTED_PROXIES": "127.0.0.1"})
	a, logsA := startAppWith(t, env, Options{Ingest: true})
	b, _ := startAppWith(t, env, Options{Ingest: true})
	dead := func(app *App, client, token string) int {
		code, _ := do(t, http.MethodGet, "http://"+app.Addr()+"/api/v1/dead-letters", nil,
			map[string]string{"Authorization": "Bearer " + token, "X-Forwarded-For": client})
		return code
	}
	const guess = "not-the-admin-token-guess-0123456789"
	for i := range 5 {
		if code := dead(a, "203.0.113.9", guess); code != http.StatusUnauthorized {
			t.Fatalf("replica a, wrong token %d: %d", i+1, code)
		}
		want := http.StatusUnauthorized
		if i == 4 {
			want = http.StatusTooManyRequests
		}
		if code := dead(b, "203.0.113.9", guess); code != want {
			t.Fatalf("replica b, wrong token %d (the %dth in all): %d, want %d", i+1, 2*i+2, code, want)
		}
	}
	if code := dead(a, "203.0.113.9", adminToken); code != http.StatusTooManyRequests {
		t.Fatalf("the locked client with the right token: %d, want 429", code)
	}
	if code := dead(a, "203.0.113.10", adminToken); code != http.StatusOK {
		t.Fatalf("another client behind the proxy with the right token: %d, want 200", code)
	}
	if n, err := r.Client.Get(context.Background(), r.Prefix+":auth:failures:203.0.113.9").Int(); err != nil || n != 10 {
		t.Fatalf("the count in Redis: %d %v, want 10", n, err)
	}
	if !strings.Contains(logsA.String(), `"msg":"admin token refused","remote":"203.0.113.9"`) || strings.Contains(logsA.String(), guess) {
		t.Fatalf("replica a's log lacks the refused token's address, or shows the token:\n%s", logsA.String())
	}
	if _, m := get(t, "http://"+b.Addr()+"/metrics", ""); !strings.Contains(m, `aftermath_admin_auth_lockouts_total{route="/api/v1/dead-letters"} 1`) {
		t.Fatalf("replica b's metrics lack the lockout:\n%s", m)
	}
}

// serve says at start, in one warn line each, that the admin token or Jira
// is unset, what that turns off and what to set; set, they are not named.
func TestServeWarnsWhatIsUnset(t *testing.T) {
	r := redistest.New(t)
	base := map[string]string{"REDIS_URL": r.URL, "AFTERMATH_REDIS_PREFIX": r.Prefix, "PAGERDUTY_WEBHOOK_SECRETS": sampleSecret, "AFTERMATH_LISTEN_ADDR": "127.0.0.1:0"}
	jira := map[string]string{"JIRA_BASE_URL": "https://example.atlassian.net", "JIRA_EMAIL": "bot@example.com", "JIRA_API_TOKEN": "jira-token"}
	admin := "AFTERMATH_ADMIN_TOKEN is not set"
	noJira := "JIRA_BASE_URL is not set"
	for _, tc := range []struct {
		name       string
		env        map[string]string
		opts       Options
		want, dont []string
	}{
		{"nothing set", base, Options{Ingest: true, Worker: true}, []string{admin, noJira}, nil},
		{"worker only", base, Options{Worker: true}, []string{admin, noJira}, nil},
		{"ingest only: it makes no post-mortems anyway", base, Options{Ingest: true}, []string{admin}, []string{noJira}},
		{"both set", with(base, jira, map[string]string{"AFTERMATH_ADMIN_TOKEN": adminToken}), Options{Ingest: true, Worker: true}, nil, []string{admin, noJira}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &testutil.Buffer{}
			tc.opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			a, err := New(loadConfig(t, tc.env), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Stop(context.Background())
			warns := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var l struct{ Level, Msg string }
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("not a JSON log line: %q", line)
				}
				for _, w := range []string{admin, noJira} {
					if strings.HasPrefix(l.Msg, w) {
						if l.Level != "WARN" || warns[w] != "" {
							t.Errorf("%q: level %s, or said twice", l.Msg, l.Level)
						}
						warns[w] = l.Msg
					}
				}
			}
			for _, w := range tc.want {
				if warns[w] == "" {
					t.Errorf("no warning %q in:\n%s", w, logs)
				}
			}
			for _, w := range tc.dont {
				if warns[w] != "" {
					t.Errorf("warned %q though it is set or unused", warns[w])
				}
			}
			// Each says what it turns off and what to set.
			if m := warns[admin]; m != "" && (!strings.Contains(m, "/api/v1/*") || !strings.Contains(m, "/postmortems") || !strings.Contains(m, "openssl rand -hex 32")) {
				t.Errorf("admin token warning does not say what is off and how to set it: %q", m)
			}
			if m := warns[noJira]; m != "" && (!strings.Contains(m, "no post-mortems will be made") || !strings.Contains(m, "Set JIRA_BASE_URL with JIRA_EMAIL and JIRA_API_TOKEN")) {
				t.Errorf("Jira warning does not say what is off and what to set: %q", m)
			}
		})
	}
}
