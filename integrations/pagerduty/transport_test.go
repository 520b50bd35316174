package pagerduty

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
)

// The retry and pacing policy, driven through the client against the
// simulator's injected faults. Timing assertions are lower bounds, except
// that a cancelled call must return well before the wait it was in.

func TestReadWaitsAsTheServerAsks(t *testing.T) {
	cases := []struct {
		name  string
		fault pagerdutytest.Fault
	}{
		{"429 with Retry-After", pagerdutytest.Fault{Status: 429, RetryAfter: "1"}},
		{"429 with ratelimit-reset", pagerdutytest.Fault{Status: 429, RateLimitReset: "1"}},
		{"503 with Retry-After", pagerdutytest.Fault{Status: 503, RetryAfter: "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, withTransport(func(c *TransportConfig) { c.MaxBackoff = 5 * time.Second }))
			id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
			f.sim.Inject("GET /incidents/{id}", tc.fault)
			start := time.Now()
			in, err := f.pd.Incident(context.Background(), id)
			if err != nil || in.ID != id {
				t.Fatalf("got %+v, %v", in, err)
			}
			if d := time.Since(start); d < 950*time.Millisecond {
				t.Errorf("answered after %s; the server asked for 1s", d)
			}
			calls := f.sim.Calls()
			if len(calls) != 2 {
				t.Fatalf("%d requests, want 2", len(calls))
			}
			if gap := calls[1].At.Sub(calls[0].At); gap < 950*time.Millisecond {
				t.Errorf("retried %s after the %d, want at least 1s", gap, calls[0].Status)
			}
		})
	}
}

func TestReadRetriesServerErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
	f.sim.SetRelated(id, "PREL001")
	cases := []struct {
		route string
		read  func() error
	}{
		{"GET /incidents/{id}", func() error { _, err := f.pd.Incident(ctx, id); return err }},
		{"GET /incidents", func() error { _, err := f.pd.Incidents(ctx, []string{web.ID}, t0, t0.Add(time.Hour)); return err }},
		{"GET /incidents/{id}/log_entries", func() error { _, err := f.pd.LogEntries(ctx, id, true); return err }},
		{"GET /incidents/{id}/notes", func() error { _, err := f.pd.Notes(ctx, id); return err }},
		{"GET /incidents/{id}/related_incidents", func() error { _, err := f.pd.Related(ctx, id); return err }},
		{"GET /users/{id}", func() error { _, err := f.pd.User(ctx, alice.ID); return err }},
		{"GET /priorities", func() error { _, err := f.pd.Priorities(ctx); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.route, func(t *testing.T) {
			// A burst of three different 5xx: MaxRetries is 3.
			for _, status := range []int{500, 502, 503} {
				f.sim.Inject(tc.route, pagerdutytest.Fault{Status: status})
			}
			f.sim.ResetCalls()
			if err := tc.read(); err != nil {
				t.Fatalf("read failed after the burst: %v", err)
			}
			if n := f.sim.Count(tc.route); n != 4 {
				t.Errorf("%d requests, want 4 (3 failed, 1 answered)", n)
			}
		})
	}
}

// TestWriteNotRetriedOnServerError: a 5xx on a write may come after the
// write took effect, so it is returned (retryable) for the caller to look
// before writing again, never resent by the transport.
func TestWriteNotRetriedOnServerError(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	add := func() string {
		return f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0, Priority: "P3"}).ID
	}
	cases := []struct {
		name  string
		route string
		fault pagerdutytest.Fault
		write func(id string) error
		// unchanged reports whether the incident is as it was.
		unchanged func(x pagerdutytest.Incident) bool
	}{
		{
			"note 500", "POST /incidents/{id}/notes", pagerdutytest.Fault{Status: 500},
			func(id string) error { _, err := f.pd.AddNote(ctx, id, "hi"); return err },
			func(x pagerdutytest.Incident) bool { return len(x.Notes) == 0 },
		},
		{
			"note 503 with Retry-After", "POST /incidents/{id}/notes", pagerdutytest.Fault{Status: 503, RetryAfter: "0"},
			func(id string) error { _, err := f.pd.AddNote(ctx, id, "hi"); return err },
			func(x pagerdutytest.Incident) bool { return len(x.Notes) == 0 },
		},
		{
			"set priority 502", "PUT /incidents", pagerdutytest.Fault{Status: 502},
			func(id string) error { return f.pd.SetPriority(ctx, id, "PPRIO01") },
			func(x pagerdutytest.Incident) bool { return x.Priority == "P3" },
		},
		{
			"resolve 500", "PUT /incidents", pagerdutytest.Fault{Status: 500},
			func(id string) error { return f.pd.Resolve(ctx, []string{id}) },
			func(x pagerdutytest.Incident) bool { return x.Status == pagerdutytest.StatusTriggered },
		},
		{
			"merge 504", "PUT /incidents/{id}/merge", pagerdutytest.Fault{Status: 504},
			func(id string) error { _, err := f.pd.Merge(ctx, add(), []string{id}); return err },
			func(x pagerdutytest.Incident) bool { return x.ResolveReason == nil },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := add()
			f.sim.Inject(tc.route, tc.fault)
			f.sim.ResetCalls()
			err := tc.write(id)
			e := wantError(t, err)
			if !e.Retryable() || e.Status != tc.fault.Status {
				t.Errorf("error %v: status %d retryable %v; want %d, retryable", e, e.Status, e.Retryable(), tc.fault.Status)
			}
			if n := f.sim.Count(tc.route); n != 1 {
				t.Errorf("%d requests, want exactly 1", n)
			}
			if x, _ := f.sim.Incident(id); !tc.unchanged(x) {
				t.Errorf("the write took effect: %+v", x)
			}
		})
	}
}

// TestWriteRetriedOn429: PagerDuty did not act on a rate-limited request,
// so the write is sent again and happens once.
func TestWriteRetriedOn429(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		route string
		fault pagerdutytest.Fault
		write func(id string) error
		once  func(x pagerdutytest.Incident) bool
	}{
		{
			"note, Retry-After 0", "POST /incidents/{id}/notes", pagerdutytest.Fault{Status: 429, RetryAfter: "0"},
			func(id string) error { _, err := f.pd.AddNote(ctx, id, "PM-1"); return err },
			func(x pagerdutytest.Incident) bool { return len(x.Notes) == 1 && x.Notes[0].Content == "PM-1" },
		},
		{
			"note, no headers", "POST /incidents/{id}/notes", pagerdutytest.Fault{Status: 429},
			func(id string) error { _, err := f.pd.AddNote(ctx, id, "PM-2"); return err },
			func(x pagerdutytest.Incident) bool { return len(x.Notes) == 1 && x.Notes[0].Content == "PM-2" },
		},
		{
			"set priority, ratelimit-reset 0", "PUT /incidents", pagerdutytest.Fault{Status: 429, RateLimitReset: "0"},
			func(id string) error { return f.pd.SetPriority(ctx, id, "PPRIO01") },
			func(x pagerdutytest.Incident) bool {
				n := 0
				for _, e := range x.LogEntries {
					if e.Type == pagerdutytest.PriorityChangeLogEntry {
						n++
					}
				}
				return x.Priority == "P1" && n == 1
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
			f.sim.Inject(tc.route, tc.fault)
			f.sim.ResetCalls()
			if err := tc.write(id); err != nil {
				t.Fatal(err)
			}
			calls := f.sim.Calls()
			if len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 200 {
				t.Fatalf("calls %+v, want a 429 then a 200", calls)
			}
			if string(calls[0].Body) != string(calls[1].Body) || calls[1].From != bot.Email {
				t.Errorf("the retry differs: %s / %s, From %q", calls[0].Body, calls[1].Body, calls[1].From)
			}
			if x, _ := f.sim.Incident(id); !tc.once(x) {
				t.Errorf("the write did not happen exactly once: %+v", x)
			}
		})
	}
}

// TestWriteAppliedThenFailed: PagerDuty applied the write and the answer
// was a 5xx: the error is returned, the write exists once.
func TestWriteAppliedThenFailed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		route string
		write func(id string) error
		once  func(x pagerdutytest.Incident) bool
	}{
		{
			"note", "POST /incidents/{id}/notes",
			func(id string) error { _, err := f.pd.AddNote(ctx, id, "PM-3"); return err },
			func(x pagerdutytest.Incident) bool { return len(x.Notes) == 1 },
		},
		{
			"resolve", "PUT /incidents",
			func(id string) error { return f.pd.Resolve(ctx, []string{id}) },
			func(x pagerdutytest.Incident) bool { return x.Status == pagerdutytest.StatusResolved },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
			f.sim.Inject(tc.route, pagerdutytest.Fault{Status: 502, AfterApply: true})
			f.sim.ResetCalls()
			e := wantError(t, tc.write(id))
			if e.Status != 502 || !e.Retryable() {
				t.Errorf("error %v (retryable %v), want a retryable 502", e, e.Retryable())
			}
			if n := f.sim.Count(""); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if x, _ := f.sim.Incident(id); !tc.once(x) {
				t.Errorf("want the write applied once: %+v", x)
			}
		})
	}
}

// TestRetriesExhausted: the caller gets PagerDuty's last status and message,
// not a generic "giving up" error.
func TestRetriesExhausted(t *testing.T) {
	f := newFixture(t, withTransport(func(c *TransportConfig) { c.MaxRetries = 2 }))
	ctx := context.Background()
	id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
	incident := func() error { _, err := f.pd.Incident(ctx, id); return err }
	cases := []struct {
		name    string
		route   string
		fault   pagerdutytest.Fault
		read    func() error
		message string
	}{
		{"500", "GET /incidents/{id}", pagerdutytest.Fault{Status: 500}, incident, "An internal error has occurred"},
		{"503", "GET /incidents/{id}", pagerdutytest.Fault{Status: 503}, incident, "Service Unavailable"},
		{"429", "GET /incidents/{id}", pagerdutytest.Fault{Status: 429, RetryAfter: "0"}, incident, "Rate Limit Exceeded"},
		{"502 on related incidents", "GET /incidents/{id}/related_incidents", pagerdutytest.Fault{Status: 502},
			func() error { _, err := f.pd.Related(ctx, id); return err }, "Bad Gateway"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.fault.Times = 3 // every attempt
			f.sim.Inject(tc.route, tc.fault)
			f.sim.ResetCalls()
			e := wantError(t, tc.read())
			if e.Status != tc.fault.Status || !e.Retryable() || !strings.Contains(e.Message, tc.message) {
				t.Errorf("error %q: status %d retryable %v; want %d, retryable, %q", e, e.Status, e.Retryable(), tc.fault.Status, tc.message)
			}
			if strings.Contains(e.Error(), "giving up") {
				t.Errorf("generic error %q", e)
			}
			if n := f.sim.Count(tc.route); n != 3 {
				t.Errorf("%d requests, want 3 (MaxRetries 2)", n)
			}
		})
	}
}

// TestCancelWhileWaiting: a cancelled context ends every kind of wait at
// once, well before the wait would have ended.
func TestCancelWhileWaiting(t *testing.T) {
	cases := []struct {
		name  string
		opts  []option
		fault *pagerdutytest.Fault
		warm  bool // one request first, to use up the pacing burst
	}{
		{"Retry-After", []option{withTransport(func(c *TransportConfig) { c.MaxBackoff = time.Minute })},
			&pagerdutytest.Fault{Status: 429, RetryAfter: "30"}, false},
		{"backoff after a 5xx", []option{withTransport(func(c *TransportConfig) { c.MinBackoff, c.MaxBackoff = 30*time.Second, time.Minute })},
			&pagerdutytest.Fault{Status: 500}, false},
		{"pacing", []option{withTransport(func(c *TransportConfig) { c.RequestsPerMinute, c.Burst = 1, 1 })},
			nil, true},
		{"slow answer", nil, &pagerdutytest.Fault{Latency: 30 * time.Second}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.opts...)
			id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
			if tc.warm {
				if _, err := f.pd.Incident(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			if tc.fault != nil {
				f.sim.Inject("GET /incidents/{id}", *tc.fault)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			_, err := f.pd.Incident(ctx, id)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("returned after %s; the wait was at least 30s", d)
			}
			noSecret(t, err)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v (%T) is not context.Canceled", err, err)
			}
			if !strings.Contains(err.Error(), "get incident "+id) {
				t.Errorf("error %q does not say what was being done", err)
			}
		})
	}
}

// TestTransportErrors: errors below HTTP are retryable; reads are retried,
// writes are not (the request may have reached PagerDuty).
func TestTransportErrors(t *testing.T) {
	t.Run("server gone", func(t *testing.T) {
		f := newFixture(t)
		ctx := context.Background()
		id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
		f.sim.Close()
		_, rerr := f.pd.Incident(ctx, id)
		_, werr := f.pd.AddNote(ctx, id, "x")
		for _, err := range []error{rerr, werr} {
			e := wantError(t, err)
			if e.Status != 0 || !e.Retryable() || !retryable(err) {
				t.Errorf("error %v: status %d retryable %v; want 0, retryable", e, e.Status, e.Retryable())
			}
		}
	})

	cases := []struct {
		name     string
		failures int // attempts the flaky transport fails before passing through
		call     func(f *fixture, id string) error
		wantErr  bool
		attempts int32
		route    string
		requests int
	}{
		{"read retried", 2, func(f *fixture, id string) error { _, err := f.pd.Incident(context.Background(), id); return err },
			false, 3, "GET /incidents/{id}", 1},
		{"write not retried", 1, func(f *fixture, id string) error { _, err := f.pd.AddNote(context.Background(), id, "x"); return err },
			true, 1, "POST /incidents/{id}/notes", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flaky := &flakyTransport{failures: tc.failures, base: http.DefaultTransport.(*http.Transport).Clone()}
			f := newFixture(t, withBase(flaky))
			id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
			err := tc.call(f, id)
			if tc.wantErr {
				if e := wantError(t, err); !e.Retryable() || e.Status != 0 || !strings.Contains(e.Message, "connection reset") {
					t.Errorf("error %v: want a retryable transport error", e)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if n := flaky.attempts.Load(); n != tc.attempts {
				t.Errorf("%d attempts, want %d", n, tc.attempts)
			}
			if n := f.sim.Count(tc.route); n != tc.requests {
				t.Errorf("%d requests reached the server, want %d", n, tc.requests)
			}
		})
	}
}

// flakyTransport fails its first attempts as a reset connection would.
type flakyTransport struct {
	failures int
	base     http.RoundTripper
	attempts atomic.Int32
}

func (f *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if int(f.attempts.Add(1)) <= f.failures {
		return nil, errors.New("read tcp: connection reset by peer")
	}
	return f.base.RoundTrip(r)
}

// TestCancelledAfterAnswerClosesBody: when the context ends between the
// answer and the retry decision, the dropped answer is closed.
func TestCancelledAfterAnswerClosesBody(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt := &cancelOnAnswer{cancel: cancel, base: http.DefaultTransport.(*http.Transport).Clone()}
	f := newFixture(t, withBase(rt))
	id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
	_, err := f.pd.Incident(ctx, id)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v is not context.Canceled", err)
	}
	if !rt.closed() {
		t.Error("the answer dropped with the cancellation was not closed")
	}
}

// cancelOnAnswer cancels the call's context once the answer arrives and
// records whether its body gets closed.
type cancelOnAnswer struct {
	cancel context.CancelFunc
	base   http.RoundTripper
	mu     sync.Mutex
	bodies []*closeRecorder
}

func (c *cancelOnAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b := &closeRecorder{ReadCloser: resp.Body}
	resp.Body = b
	c.mu.Lock()
	c.bodies = append(c.bodies, b)
	c.mu.Unlock()
	c.cancel()
	return resp, nil
}

func (c *cancelOnAnswer) closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bodies {
		if !b.closed.Load() {
			return false
		}
	}
	return len(c.bodies) > 0
}

type closeRecorder struct {
	io.ReadCloser
	closed atomic.Bool
}

func (c *closeRecorder) Close() error {
	c.closed.Store(true)
	return c.ReadCloser.Close()
}

func TestPacing(t *testing.T) {
	t.Parallel()
	// 600 a minute is one every 100ms; with a burst of 1, six requests
	// span at least five intervals.
	f := newFixture(t, withTransport(func(c *TransportConfig) { c.RequestsPerMinute, c.Burst = 600, 1 }))
	id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
	start := time.Now()
	for range 6 {
		if _, err := f.pd.Incident(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("6 requests took %s, want at least 450ms at 600 a minute", d)
	}
	if n := f.sim.Count(""); n != 6 {
		t.Errorf("%d requests, want 6", n)
	}
}

// TestPacingNotBoundByAttemptTimeout: waiting for a turn under the pace is
// not part of an attempt, so a queue longer than AttemptTimeout waits.
func TestPacingNotBoundByAttemptTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withTransport(func(c *TransportConfig) {
		c.RequestsPerMinute, c.Burst, c.AttemptTimeout, c.MaxRetries = 120, 1, 200*time.Millisecond, 1
	}))
	id := f.sim.AddIncident(pagerdutytest.NewIncident{Title: "A", ServiceID: web.ID, CreatedAt: t0}).ID
	start := time.Now()
	for i := range 2 { // the second waits 500ms for its turn
		if _, err := f.pd.Incident(context.Background(), id); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("2 requests took %s, want at least 450ms at 120 a minute", d)
	}
	if n := f.sim.Count(""); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// retryable is what the workflow asks of an error: its Retryable method, and
// yes for errors without one (a cancelled context).
func retryable(err error) bool {
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	return true
}
