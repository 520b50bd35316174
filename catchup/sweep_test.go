package catchup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/webhook"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// fixture is a PagerDuty simulator validated against the official spec, a
// client for it that retries quickly, and a store under the test's prefix.
type fixture struct {
	sim *pagerdutytest.Server
	pd  *pagerduty.Client
	st  *store.Store
	r   *redistest.Redis
	rl  *rules.Rules
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sim := pagerdutytest.New(t)
	sim.AddUser(pagerdutytest.User{ID: "PALICE", Name: "Alice", Email: "alice@example.com"})
	sim.AddService(pagerdutytest.Service{ID: "PCHECKOUT", Name: "checkout"})
	fast := pagerduty.TransportConfig{RequestsPerMinute: 600_000, Burst: 1000, MaxRetries: 2,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, AttemptTimeout: 10 * time.Second}
	pd := pagerduty.New(pagerduty.Config{APIURL: sim.URL(), Token: sim.Token()}, nil, pagerduty.NewHTTPClient(fast, nil, nil))
	r := redistest.New(t)
	return &fixture{sim: sim, pd: pd, st: store.New(r.Client, r.Prefix), r: r, rl: rules.Builtin(),
		now: time.Now().UTC().Truncate(time.Second)}
}

// resolved seeds an incident created at created and resolved at resolved.
func (f *fixture) resolved(id string, created, resolved time.Time) {
	f.sim.AddIncident(pagerdutytest.NewIncident{ID: id, Title: "Checkout is down " + id, ServiceID: "PCHECKOUT", Priority: "P1", CreatedAt: created})
	f.sim.Resolve(id, "PALICE", resolved)
}

func (f *fixture) sweeper(owner string) *Sweeper {
	return New(Config{Rules: func() *rules.Rules { return f.rl }, Owner: owner, Settle: -1, Now: func() time.Time { return f.now }},
		f.pd, f.st, nil, nil)
}

// queued returns the incident IDs of the entries in the queue, after
// checking each decodes as a V3 incident.resolved webhook would.
func (f *fixture) queued(t *testing.T) []string {
	t.Helper()
	msgs, err := f.r.Client.XRange(context.Background(), f.r.Prefix+":{queue}:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		body, _ := m.Values["body"].(string)
		env, err := webhook.Decode([]byte(body))
		if err != nil || env.Event.EventType != webhook.EventIncidentResolved || env.Event.Data.Incident.ID != m.Values["incident_id"] {
			t.Fatalf("queued entry %v does not decode as its incident's resolution: %v", m.Values, err)
		}
		ids = append(ids, env.Event.Data.Incident.ID)
	}
	return ids
}

// A resolution whose webhook never came is queued, once; one a webhook
// brought is not; an incident created long before the look-back but
// resolved inside it is found.
func TestSweepQueuesWhatNoWebhookBrought(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.resolved("QMISSED", f.now.Add(-2*time.Hour), f.now.Add(-time.Hour))
	f.resolved("QOLD", f.now.Add(-10*24*time.Hour), f.now.Add(-47*time.Hour))
	f.resolved("QTOOOLD", f.now.Add(-10*24*time.Hour), f.now.Add(-49*time.Hour))
	f.resolved("QHOOKED", f.now.Add(-2*time.Hour), f.now.Add(-30*time.Minute))
	f.sim.AddIncident(pagerdutytest.NewIncident{ID: "QOPEN", Title: "still open", ServiceID: "PCHECKOUT", CreatedAt: f.now.Add(-time.Hour)})
	hooked, err := Delivery(pagerduty.Incident{ID: "QHOOKED", Status: "resolved"}, f.now)
	if err != nil {
		t.Fatal(err)
	}
	hooked.EventID, hooked.WebhookID = "EVREAL", "W1" // as the webhook handler queues it
	if _, err := f.st.Enqueue(ctx, hooked); err != nil {
		t.Fatal(err)
	}

	res, err := f.sweeper("a").Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Queued) != 2 || res.Queued[0].IncidentID != "QOLD" || res.Queued[1].IncidentID != "QMISSED" || res.Resolutions != 3 {
		t.Fatalf("sweep result %+v: want QOLD and QMISSED queued of 3 resolutions", res)
	}
	if !res.From.Equal(f.now.Add(-48 * time.Hour)) {
		t.Fatalf("first sweep from %v, want the look-back %v", res.From, f.now.Add(-48*time.Hour))
	}
	again, err := f.sweeper("b").Sweep(ctx)
	if err != nil || len(again.Queued) != 0 {
		t.Fatalf("second sweep queued %+v, %v", again.Queued, err)
	}
	if got := f.queued(t); len(got) != 3 || got[1] != "QOLD" || got[2] != "QMISSED" {
		t.Fatalf("queue %v, want the webhook's QHOOKED, then QOLD and QMISSED", got)
	}
}

// Three replicas sweeping at once queue each missed resolution once, and
// only one of them claims the interval.
func TestConcurrentSweepsQueueOnce(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"Q1", "Q2", "Q3"} {
		f.resolved(id, f.now.Add(-3*time.Hour), f.now.Add(-2*time.Hour))
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	claimed := 0
	for _, owner := range []string{"r1", "r2", "r3"} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			swept, _, err := f.sweeper(owner).Round(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			claimed += map[bool]int{true: 1}[swept]
			mu.Unlock()
		}()
		// Sweeps without a claim too (a slow sweep overlapping the next):
		// the queue still holds each resolution once.
		go func() {
			defer wg.Done()
			if _, err := f.sweeper(owner + "-direct").Sweep(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if claimed != 1 {
		t.Fatalf("%d replicas claimed the interval, want 1", claimed)
	}
	got := f.queued(t)
	if len(got) != 3 {
		t.Fatalf("queued %v, want Q1, Q2, Q3 once each", got)
	}
}

// PagerDuty failing during a sweep moves the cursor nowhere and loses
// nothing: the next sweep finds what the failed one would have.
func TestSweepErrorsMoveNothing(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			f.resolved("QEARLY", f.now.Add(-5*time.Hour), f.now.Add(-4*time.Hour))
			if err := f.st.AdvanceSweepCursor(ctx, f.now.Add(-6*time.Hour)); err != nil {
				t.Fatal(err)
			}
			// A small chunk: the first window succeeds, later ones fail
			// past the client's retries.
			s := f.sweeper("a")
			s.cfg.Chunk = time.Hour
			f.sim.Inject("GET /log_entries", pagerdutytest.Fault{})                                          // the first window, answered normally
			f.sim.Inject("GET /log_entries", pagerdutytest.Fault{Status: status, Times: 3, RetryAfter: "0"}) // every attempt of one request (MaxRetries 2)
			_, err := s.Sweep(ctx)
			var pe *pagerduty.Error
			if !errors.As(err, &pe) || pe.Status != status {
				t.Fatalf("sweep error %v, want PagerDuty's %d", err, status)
			}
			cur, _, _ := f.st.SweepCursor(ctx)
			if want := f.now.Add(-6*time.Hour - 5*time.Minute + time.Hour); !cur.Equal(want) {
				t.Fatalf("cursor %v after the failure, want the end of the one window that succeeded, %v", cur, want)
			}
			if got := f.queued(t); len(got) != 0 {
				t.Fatalf("queued %v during the failed sweep", got)
			}
			f.sim.ResetCalls()
			res, err := f.sweeper("a").Sweep(ctx)
			if err != nil || len(res.Queued) != 1 || res.Queued[0].IncidentID != "QEARLY" {
				t.Fatalf("next sweep: %+v, %v", res, err)
			}
		})
	}
}

// The cursor lives in Redis: a new process (new client, new sweeper)
// starts at it, less the margin, not at the look-back.
func TestCursorSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.sweeper("before").Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(10 * time.Minute)
	f.resolved("QAFTER", f.now.Add(-time.Hour), f.now.Add(-3*time.Minute))
	opts, err := redis.ParseURL(f.r.URL)
	if err != nil {
		t.Fatal(err)
	}
	fresh := redis.NewClient(opts)
	t.Cleanup(func() { _ = fresh.Close() })
	f.st = store.New(fresh, f.r.Prefix)
	res, err := f.sweeper("after").Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.now.Add(-10*time.Minute - 5*time.Minute); !res.From.Equal(want) {
		t.Fatalf("after a restart the sweep starts at %v, want the cursor less the margin, %v", res.From, want)
	}
	if len(res.Queued) != 1 || res.Queued[0].IncidentID != "QAFTER" {
		t.Fatalf("queued %+v", res.Queued)
	}
}

// The queued body is what PagerDuty would have sent, under the missed
// event ID.
func TestDeliveryIsAV3Resolution(t *testing.T) {
	in := pagerduty.Incident{ID: "Q1", Number: 7, Title: "down", Status: "resolved", Service: pagerduty.Ref{ID: "PS", Summary: "checkout"},
		Priority: &pagerduty.Priority{ID: "PP1", Name: "P1"}, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ResolvedAt: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)}
	d, err := Delivery(in, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	env, err := webhook.Decode(d.Body)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(env.Event.Data.Incident)
	if env.Event.ID != store.MissedEventID("Q1") || !env.Event.OccurredAt.Equal(in.ResolvedAt) || env.Event.Data.Incident.ID != "Q1" || d.IncidentID != "Q1" {
		t.Fatalf("event %+v data %s", env.Event, raw)
	}
}

// A resolution that cannot be queued for a reason a retry cannot fix (the
// incident's read refused, or reopened since) is skipped, and does not hold
// back the cursor or the resolutions after it.
func TestSweepSkipsWhatItCannotQueue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.resolved("QFORBIDDEN", f.now.Add(-3*time.Hour), f.now.Add(-2*time.Hour))
	f.resolved("QAFTER", f.now.Add(-2*time.Hour), f.now.Add(-time.Hour))
	f.sim.Inject("GET /incidents/{id}", pagerdutytest.Fault{Status: http.StatusForbidden})
	res, err := f.sweeper("a").Sweep(ctx)
	if err != nil || len(res.Queued) != 1 || res.Queued[0].IncidentID != "QAFTER" {
		t.Fatalf("sweep = %+v, %v; want QAFTER queued past the refused QFORBIDDEN", res, err)
	}
	if cur, _, _ := f.st.SweepCursor(ctx); !cur.Equal(res.Until) {
		t.Fatalf("cursor %v, want %v", cur, res.Until)
	}
}

// The first sweep reads its whole look-back (48 h) as one listing, paged:
// one request on a quiet account (windows of 6 h took 8), and for a busy
// one exactly the pages its entries fill, every resolution found once
// whichever page it falls on.
func TestFirstSweepIsOneWindowPaged(t *testing.T) {
	t.Run("quiet", func(t *testing.T) {
		f := newFixture(t)
		res, err := f.sweeper("a").Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n := f.sim.Count("GET /log_entries"); n != 1 || res.Resolutions != 0 {
			t.Fatalf("%d requests for an empty 48 h (%+v), want 1", n, res)
		}
	})
	t.Run("busy", func(t *testing.T) {
		f := newFixture(t)
		from := f.now.Add(-48 * time.Hour)
		// 230 incidents triggered and resolved inside the window (two
		// overview entries each), one triggered before it and resolved in
		// it (one): 461 entries, 5 pages of 100.
		const n = 230
		want := map[string]bool{}
		for i := range n {
			id := fmt.Sprintf("QPAGE%03d", i)
			resolved := from.Add(30*time.Minute + time.Duration(i)*12*time.Minute)
			f.resolved(id, resolved.Add(-10*time.Minute), resolved)
			want[id] = true
		}
		f.resolved("QLONG", from.Add(-24*time.Hour), from.Add(time.Hour))
		want["QLONG"] = true
		res, err := f.sweeper("a").Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := f.sim.Count("GET /log_entries"); got != 5 {
			t.Errorf("%d requests for 461 entries, want 5 pages of 100", got)
		}
		if res.Resolutions != n+1 || len(res.Queued) != n+1 {
			t.Errorf("%d resolutions listed, %d queued; want %d", res.Resolutions, len(res.Queued), n+1)
		}
		got := f.queued(t)
		for _, id := range got {
			if !want[id] {
				t.Errorf("queued %s twice or unknown", id)
			}
			delete(want, id)
		}
		if len(want) > 0 {
			t.Errorf("missed across pages: %v", want)
		}
		if cur, _, _ := f.st.SweepCursor(context.Background()); !cur.Equal(f.now) {
			t.Errorf("cursor %v, want the window's end %v", cur, f.now)
		}
	})
}
