// Package bench holds the end-to-end benchmarks of issue 13 (`make
// bench`): the real binary, real Redis, the simulators behind the e2ekit
// proxies at 100 ms latency with PagerDuty's 960 requests a minute. Each
// benchmark prints a table and reports its figures with b.ReportMetric,
// each against a baseline measured in the same run. Run them with
// `-benchtime 1x`: one iteration is one whole scenario.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/e2e/e2ekit"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	e2ekit.RemoveBinary()
	os.Exit(code)
}

// The conditions every benchmark runs under (issue 13).
const (
	apiLatency  = 100 * time.Millisecond
	pdPerMinute = 960 // PagerDuty's limit, enforced by the proxy
	// outboundPerMinute and outboundBurst are aftermath's own pace
	// (outbound.DefaultRequestsPerMinute and DefaultBurst).
	outboundPerMinute = 900
	outboundBurst     = 10
)

// responders resolve the incidents: each a PagerDuty user and a Jira
// account with the same email, so the owner is the resolver.
var responders = []struct{ id, name, email string }{
	{"PALICE", "Alice Ng", "alice@example.com"},
	{"PBOB", "Bob Diaz", "bob@example.com"},
	{"PCAROL", "Carol Lee", "carol@example.com"},
	{"PDAVE", "Dave Kim", "dave@example.com"},
}

var services = []string{"PSVC001", "PSVC002", "PSVC003", "PSVC004", "PSVC005"}

// benchRules: SEV-1 and SEV-2 processed, no grouping (no scopes: each
// incident is its own post-mortem), the resolver owns it, standard tasks
// plus the TODOs of the notes as follow-ups, a Slack message.
const benchRules = `version: 1
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
followups:
  from_notes: true
  markers: [TODO]
  max: 10
  standard:
    - summary: Schedule the post-mortem meeting
    - summary: Write and send the external message
      severities: [SEV-1]
catch_up:
  enabled: false
notify:
  - slack_webhook_env: %s
`

// world is one benchmark's aftermath: Redis, the simulators behind their
// proxies (100 ms, PagerDuty limited to 960 a minute) and the replicas.
type world struct {
	b    *testing.B
	sims *e2ekit.Sims
	rs   *e2ekit.Replicas
	snd  *e2ekit.Sender
	seq  int
}

func newWorld(b *testing.B, replicas int) *world {
	b.Helper()
	redis := redistest.StartServer(b)
	s := e2ekit.StartSims(b, 13)
	for _, r := range responders {
		s.PD.AddUser(pagerdutytest.User{ID: r.id, Name: r.name, Email: r.email})
		s.Jira.AddUser(jiratest.User{AccountID: "acc-" + strings.ToLower(r.id), Name: strings.ToLower(r.id), Email: r.email, DisplayName: r.name, Active: true})
	}
	for i, id := range services {
		s.PD.AddService(pagerdutytest.Service{ID: id, Name: fmt.Sprintf("service-%d", i+1)})
	}
	rules := filepath.Join(b.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(fmt.Sprintf(benchRules, e2ekit.SlackEnv)), 0o600); err != nil {
		b.Fatal(err)
	}
	env := append(s.Env(), "REDIS_URL="+redis.URL, "AFTERMATH_RULES="+rules)
	rs := e2ekit.StartReplicas(b, replicas, env)
	s.PDProxy.SetLatency(apiLatency)
	s.JiraProxy.SetLatency(apiLatency)
	s.PDProxy.SetRateLimit(pdPerMinute)
	b.Cleanup(func() {
		if v := s.Violations(); len(v) > 0 {
			b.Errorf("%d requests against the specs, first: %s", len(v), v[0])
		}
	})
	return &world{b: b, sims: s, rs: rs, snd: e2ekit.NewSender(rs)}
}

// incident seeds a resolved SEV-1 (even n) or SEV-2 incident with a note
// of one or two TODOs, and returns its ID and resolver.
func (w *world) incident() (id, resolver string) {
	w.seq++
	n := w.seq
	id = fmt.Sprintf("QB%04d", n)
	r := responders[n%len(responders)]
	prio := "P1"
	if n%2 == 1 {
		prio = "P2"
	}
	// Resolved now, as the webhook about to be sent says: PagerDuty sends
	// it within seconds, so the workflow takes its incident as the first
	// read (workflow.DefaultFreshness).
	resolved := time.Now()
	start := resolved.Add(-40 * time.Minute)
	w.sims.PD.AddIncident(pagerdutytest.NewIncident{ID: id, Number: 1000 + n, Title: fmt.Sprintf("Checkout errors %d", n),
		ServiceID: services[n%len(services)], Priority: prio, CreatedAt: start})
	w.sims.PD.Acknowledge(id, r.id, start.Add(2*time.Minute))
	note := "TODO: add an alert on the error rate"
	if n%3 == 0 {
		note += "\nTODO: load test the checkout path"
	}
	w.sims.PD.Annotate(id, r.id, note, start.Add(10*time.Minute))
	w.sims.PD.Resolve(id, r.id, resolved)
	return id, r.id
}

// expectedFollowups is how many tickets incident n's epic gets.
func expectedFollowups(n int) int {
	f := 1 + 1 // the meeting, one TODO
	if n%2 == 0 {
		f++ // SEV-1: the external message
	}
	if n%3 == 0 {
		f++ // a second TODO
	}
	return f
}

func (w *world) webhook(id, resolver string) pagerdutytest.Webhook {
	return w.sims.PD.IncidentWebhook(id, "incident.resolved", resolver, e2ekit.WebhookSecret)
}

// epics maps each incident ID to its epic, from the epics' labels.
func (w *world) epics() map[string]jiratest.Issue {
	out := map[string]jiratest.Issue{}
	for _, is := range w.sims.Jira.Issues() {
		if is.IssueType != "Epic" {
			continue
		}
		for _, l := range is.Labels {
			if id, ok := strings.CutPrefix(l, "pagerduty-"); ok {
				out[id] = is
			}
		}
	}
	return out
}

// children counts the follow-ups under each epic key.
func (w *world) children() map[string]int {
	out := map[string]int{}
	for _, is := range w.sims.Jira.Issues() {
		if is.Parent != "" {
			out[is.Parent]++
		}
	}
	return out
}

// linkBack is when aftermath's link-back note (the workflow's last step)
// was written on incident id: the bot's note naming the epic.
func (w *world) linkBack(id, epicKey string) (time.Time, bool) {
	for _, n := range w.sims.PD.Notes(id) {
		if n.UserID == e2ekit.BotUserID && strings.Contains(n.Content, epicKey) {
			return n.CreatedAt, true
		}
	}
	return time.Time{}, false
}

// apiRequests scrapes aftermath_api_requests_total from every replica and
// sums it by API and step; tooMany counts the 429 answers among them.
func (w *world) apiRequests() (counts testutil.APIRequests, tooMany int) {
	w.b.Helper()
	counts = testutil.APIRequests{}
	for i := range w.rs.N() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code, body := w.rs.Get(ctx, i, "/metrics")
		cancel()
		if code != http.StatusOK {
			w.b.Fatalf("replica %d: /metrics answered %d", i, code)
		}
		c, n, err := testutil.ParseAPIRequests(body)
		if err != nil {
			w.b.Fatalf("replica %d: %v", i, err)
		}
		counts.Add(c)
		tooMany += n
	}
	return counts, tooMany
}

// requestTable prints the requests per incident by step, for n incidents.
func requestTable(c testutil.APIRequests, n int) string {
	var keys []testutil.APIStep
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].API != keys[j].API {
			return keys[i].API > keys[j].API // pagerduty first
		}
		return keys[i].Step < keys[j].Step
	})
	var sb strings.Builder
	fmt.Fprintf(&sb, "| API | step | requests | per incident |\n| --- | --- | ---: | ---: |\n")
	for _, k := range keys {
		fmt.Fprintf(&sb, "| %s | %s | %d | %.2f |\n", k.API, k.Step, c[k], float64(c[k])/float64(n))
	}
	for _, api := range []string{"pagerduty", "jira"} {
		fmt.Fprintf(&sb, "| **%s** | **all** | **%d** | **%.2f** |\n", api, c.Total(api), float64(c.Total(api))/float64(n))
	}
	return sb.String()
}

// roundTrip measures the proxy's round trip: n plain GETs of one incident
// through the PagerDuty proxy, one after the other; it returns the median.
func (w *world) roundTrip(id string, n int) time.Duration {
	w.b.Helper()
	var d []time.Duration
	for range n {
		t0 := time.Now()
		if code := w.pdGet("/incidents/" + id); code != http.StatusOK {
			w.b.Fatalf("GET through the proxy: %d", code)
		}
		d = append(d, time.Since(t0))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

var plainClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// pdGet GETs path from PagerDuty through the proxy, as a plain client.
func (w *world) pdGet(path string) int {
	req, _ := http.NewRequest(http.MethodGet, w.sims.PDProxy.URL+path, nil)
	req.Header.Set("Authorization", "Token token="+w.sims.PD.Token())
	req.Header.Set("Accept", "application/vnd.pagerduty+json;version=2")
	req.Header.Set("Content-Type", "application/json")
	resp, err := plainClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = bufio.NewReader(resp.Body).WriteTo(discard{})
	return resp.StatusCode
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func mb(bytes int64) float64 { return float64(bytes) / 1e6 }

// percentile is the nearest-rank percentile p (0-100) of sorted d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(p/100*float64(len(d))+0.999999) - 1
	return d[max(0, min(i, len(d)-1))]
}
