package workflow

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// faultyTransport answers for the server: during an outage every request
// gets a 503; otherwise writes (any method but GET) get a 500 or 503 with
// probability p5xx and a 429 with probability p429. None of them reaches
// the server, as when the API answers that it did not do it.
type faultyTransport struct {
	base       http.RoundTripper
	mu         sync.Mutex
	rng        *rand.Rand
	outage     time.Time // until when every request gets a 503
	p5xx, p429 float64
	n5xx, n429 int
}

func (f *faultyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	status := 0
	switch r := f.rng.Float64(); {
	case time.Now().Before(f.outage):
		status = http.StatusServiceUnavailable
	case req.Method == http.MethodGet:
	case r < f.p5xx:
		status = []int{http.StatusInternalServerError, http.StatusServiceUnavailable}[f.rng.IntN(2)]
		f.n5xx++
	case r < f.p5xx+f.p429:
		status = http.StatusTooManyRequests
		f.n429++
	}
	f.mu.Unlock()
	if status == 0 {
		return f.base.RoundTrip(req)
	}
	if req.Body != nil {
		_ = req.Body.Close()
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if status == http.StatusTooManyRequests {
		h.Set("Retry-After", "1")
	}
	return &http.Response{StatusCode: status, Header: h, Request: req, Body: io.NopCloser(strings.NewReader(`{"errorMessages":["injected"],"error":{"message":"injected"}}`))}, nil
}

// faultyClients points the workflow at both simulators through ft.
func (e *jiraEnv) faultyClients(ft *faultyTransport) {
	e.t.Helper()
	log := slog.New(slog.DiscardHandler)
	e.res.PagerDuty = pagerduty.New(pagerduty.Config{APIURL: e.sim.URL(), Token: e.sim.Token(), From: fromEmail}, log,
		pagerduty.NewHTTPClient(pagerduty.TransportConfig{RequestsPerMinute: 60000, Burst: 100, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, ft, log))
	jc, err := jira.New(jira.Config{BaseURL: e.jsim.URL(), Deployment: jira.Cloud, Email: e.jsim.Email(), APIToken: e.jsim.APIToken()}, log,
		jira.NewHTTPClient(outbound.Config{RequestsPerMinute: 60000, Burst: 100, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, ft, log))
	if err != nil {
		e.t.Fatal(err)
	}
	e.res.Jira = jc
}

// timeScale is how much faster than in production the retry tests run:
// their backoff and search lag are production's divided by it.
const timeScale = 100

// scaled is the worker of a retry test: production's backoff (1s doubling to
// 5m) and Jira search lag (60s), timeScale times faster.
func scaled(consumer string) queue.Config {
	cfg := fast(consumer)
	cfg.BackoffBase, cfg.BackoffMax = time.Second/timeScale, 5*time.Minute/timeScale
	return cfg
}

// runToTheEnd processes the realistic SEV-1 through a worker until its
// queue is empty, and checks that every effect happened once.
func runToTheEnd(t *testing.T, e *jiraEnv, cfg queue.Config) store.IncidentRecord {
	t.Helper()
	e.res.SearchLag = DefaultSearchLag / timeScale
	w := &env{t: t, r: e.r, store: e.store}
	cfg.Rules = func() *rules.Rules { return e.rules }
	w.start(cfg, e.res)
	w.enqueue(resolved("EPCHK1", "PCHK1"))
	deadline := time.Now().Add(60 * time.Second)
	for st := w.stats(); st.Length != 0 || st.Pending != 0; st = w.stats() {
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained: %+v; attempts %+v", st, w.record("PCHK1").Attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := w.stats(); st.Dead != 0 {
		dl, _ := e.store.DeadLetters(context.Background(), 5)
		t.Fatalf("dead-lettered: %+v", dl)
	}
	epic := e.wantOneEpic()
	if n := len(e.children(epic.Key)); n != 4 {
		t.Fatalf("%d follow-ups, want 4", n)
	}
	e.wantNotes("PCHK1", 1)
	e.wantNotes("PPAY1", 1)
	// The last attempt's record follows its acknowledgement.
	var rec store.IncidentRecord
	eventually(t, "the last attempt recorded", func() bool {
		rec = w.record("PCHK1")
		return len(rec.Attempts) > 0 && rec.Attempts[len(rec.Attempts)-1].Outcome == store.OutcomeDone
	})
	return rec
}

// A Jira and PagerDuty outage of 10 minutes (scaled) ends with the
// post-mortem made, once, not dead-lettered: the entry waits parked, and the
// backoff stays under 5 minutes.
func TestOutageOfTenMinutesEndsWithThePostmortem(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	realisticSEV1(e.pdEnv)
	ft := &faultyTransport{base: http.DefaultTransport, rng: rand.New(rand.NewPCG(1, 2)), outage: time.Now().Add(10 * time.Minute / timeScale)}
	e.faultyClients(ft)
	rec := runToTheEnd(t, e, scaled("c1"))
	for _, a := range rec.Attempts[:len(rec.Attempts)-1] {
		if d, _ := time.ParseDuration(a.RetryAfter); a.Outcome != store.OutcomeRetry || d > 5*time.Minute/timeScale {
			t.Fatalf("attempt %+v: want a retry within 5 minutes (scaled)", a)
		}
	}
	if n := len(rec.Attempts); n < 5 {
		t.Fatalf("%d attempts over a 10-minute outage", n)
	}
}

// Under 30% 5xx (500 and 503) and 20% 429 on every write to PagerDuty and
// Jira, a SEV-1's post-mortem is made, every effect once, within 2 minutes
// of production time: a write the API answered it did not do (503, 429)
// needs no wait for Jira's search, one that may have taken effect (500)
// waits exactly until the search can be trusted, and each write that goes
// through starts the backoff again.
func TestFlakyAPIsPostmortemWithinTwoMinutes(t *testing.T) {
	var worst time.Duration
	var injected int
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			e := newJiraEnv(t, jiratest.Cloud, 10)
			realisticSEV1(e.pdEnv)
			ft := &faultyTransport{base: http.DefaultTransport, rng: rand.New(rand.NewPCG(seed, 7)), p5xx: 0.3, p429: 0.2}
			e.faultyClients(ft)
			start := time.Now()
			rec := runToTheEnd(t, e, scaled("c1"))
			elapsed := time.Since(start)
			// Production time: the backoff waits were timeScale times
			// shorter here, and the clients waited less than the 429s'
			// Retry-After of 1s; the requests took as long as they would.
			var backoff time.Duration
			for _, a := range rec.Attempts {
				d, _ := time.ParseDuration(a.RetryAfter)
				backoff += d
			}
			production := elapsed + backoff*(timeScale-1) + time.Duration(ft.n429)*time.Second
			worst = max(worst, production)
			t.Logf("%d attempts, %d injected 5xx, %d injected 429; %s here, %s in production time",
				len(rec.Attempts), ft.n5xx, ft.n429, elapsed.Round(time.Millisecond), production.Round(time.Second))
			injected += ft.n5xx
			if production > 2*time.Minute {
				t.Fatalf("post-mortem after %s of production time (%d injected 5xx), want within 2 minutes", production, ft.n5xx)
			}
		})
	}
	t.Logf("worst of 5 runs: %s in production time", worst.Round(time.Second))
	if injected < 5 {
		t.Fatalf("only %d 5xx answers injected in 5 runs", injected)
	}
}
