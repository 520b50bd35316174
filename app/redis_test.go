package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/store"
)

// When the Sentinel master dies, the process follows the failover: webhooks
// meanwhile are answered 202 or 503 (never another answer, never a 2xx that
// was not stored), and once the replica is promoted a webhook is queued on it
// and processed, without a restart.
func TestAppFollowsSentinelFailover(t *testing.T) {
	rm := redistest.ForMode(t, "sentinel")
	sim, pdEnv := pagerDuty(t)
	for _, id := range []string{"QBEFORE", "QAFTER"} {
		sim.AddIncident(pagerdutytest.NewIncident{ID: id, Title: id, ServiceID: "PNE3JZM", CreatedAt: time.Now().Add(-time.Hour)})
		sim.Resolve(id, "PBEN", time.Now().Add(-time.Minute))
	}
	a, _ := startApp(t, with(serveEnv(redistest.New(t)), pdEnv, rm.Env))
	base := "http://" + a.Addr()
	webhook := func(incident string) int {
		body := fmt.Appendf(nil, `{"event":{"id":"E-%s","event_type":"incident.resolved","occurred_at":"2026-11-21T10:00:00Z","data":{"id":%q,"type":"incident"}}}`, incident, incident)
		code, out := post(t, base+"/webhooks/pagerduty", body, map[string]string{"X-PagerDuty-Signature": sign(sampleSecret, body)})
		if code != http.StatusAccepted && code != http.StatusServiceUnavailable {
			t.Fatalf("webhook for %s: %d %s", incident, code, out)
		}
		return code
	}
	done := func(rec store.IncidentRecord) bool {
		return len(rec.Attempts) > 0 && rec.Attempts[len(rec.Attempts)-1].Outcome == store.OutcomeDone
	}

	if code := webhook("QBEFORE"); code != http.StatusAccepted {
		t.Fatalf("webhook before the failover: %d", code)
	}
	waitRecord(t, base, "QBEFORE", done)

	s := rm.Sentinel
	s.Failover(t)
	deadline := time.Now().Add(15 * time.Second)
	for webhook("QAFTER") != http.StatusAccepted {
		if time.Now().After(deadline) {
			t.Fatal("webhooks still refused 15s after the failover")
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitRecord(t, base, "QAFTER", done)
	if code, out := get(t, base+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz after the failover: %d %s", code, out)
	}
	// QAFTER's record is on the promoted master.
	if n := rm.Client.Exists(context.Background(), rm.Prefix+":incident:QAFTER:attempts").Val(); n != 1 {
		t.Fatalf("QAFTER's record is not on the promoted master %s", s.MasterAddr)
	}
}

// sample is one request of a test that keeps sending them: when it was sent
// and answered, and the status.
type sample struct {
	start, end time.Time
	code       int
}

// When the master that holds the queue's slot dies and the cluster promotes
// its replica, webhooks are accepted again within seconds of the promotion,
// not at go-redis's next periodic slot-map reload (a minute after the client
// loaded it); /readyz answers 503 while the queue cannot be written and never
// says ready while webhooks are still refused; every webhook answered 202 is
// processed.
func TestAppFollowsClusterFailoverWithinSeconds(t *testing.T) {
	const recoverWithin = 15 * time.Second
	cluster := redistest.StartClusterWith(t, redistest.ClusterOptions{Replicas: 1, NodeTimeout: time.Second})
	r := redistest.New(t) // for a prefix of the test's own
	var processed sync.Map
	proc := queue.ProcessorFunc(func(_ context.Context, j queue.Job) error {
		processed.Store(j.Delivery.EventID, true)
		return nil
	})
	a, _ := startAppWith(t, with(serveEnv(r), map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": cluster.URL}),
		Options{Ingest: true, Worker: true, Processor: proc})
	base := "http://" + a.Addr()
	hc := &http.Client{Timeout: 10 * time.Second}
	send := func(n int) sample {
		body := fmt.Appendf(nil, `{"event":{"id":"E-%d","event_type":"incident.resolved","occurred_at":"2026-11-21T10:00:00Z","data":{"id":"Q%d","type":"incident"}}}`, n, n)
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/pagerduty", bytes.NewReader(body))
		req.Header.Set("X-PagerDuty-Signature", sign(sampleSecret, body))
		s := sample{start: time.Now()}
		resp, err := hc.Do(req)
		s.end = time.Now()
		if err != nil {
			t.Errorf("webhook %d: %v", n, err)
			return s
		}
		_ = resp.Body.Close()
		s.code = resp.StatusCode
		return s
	}
	if s := send(0); s.code != http.StatusAccepted {
		t.Fatalf("webhook before the failover: %d", s.code)
	}
	if code, out := get(t, base+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz before the failover: %d %s", code, out)
	}
	waitProcessed := func(ids []string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for _, id := range ids {
			for {
				if _, ok := processed.Load(id); ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("event %s was answered 202 but not processed within %s", id, within)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	waitProcessed([]string{"E-0"}, 10*time.Second) // the workers run

	f := cluster.KillMaster(t, r.Prefix+":{queue}:events") // the queue's slot (docs/redis.md)
	// From the kill on, one sender sends webhooks one after the other and
	// another asks /readyz, until told to stop.
	stop := make(chan struct{})
	var mu sync.Mutex
	var hooks, probes []sample
	accepted := []string{"E-0"}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			s := send(n)
			mu.Lock()
			hooks = append(hooks, s)
			if s.code == http.StatusAccepted {
				accepted = append(accepted, fmt.Sprintf("E-%d", n))
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			s := sample{start: time.Now()}
			resp, err := hc.Get(base + "/readyz")
			s.end = time.Now()
			if err != nil {
				t.Errorf("readyz: %v", err)
				continue
			}
			_ = resp.Body.Close()
			s.code = resp.StatusCode
			mu.Lock()
			probes = append(probes, s)
			mu.Unlock()
		}
	}()

	cluster.AwaitPromotion(t, f)
	// Wait for webhooks to be accepted again, then keep sending a moment.
	var recovered time.Time
	for recovered.IsZero() && time.Since(f.Promoted) < recoverWithin+time.Second {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		for _, s := range hooks {
			// The first 202 to a webhook sent after the kill.
			if s.code == http.StatusAccepted && s.start.After(f.Killed) {
				recovered = s.end
				break
			}
		}
		mu.Unlock()
	}
	// Keep sending a moment, and until /readyz, probed after the recovery,
	// says ready: a failed probe stands for a second (App.ready), so its
	// first 200 may come up to a second after the first 202.
	time.Sleep(500 * time.Millisecond)
	for until := time.Now().Add(3 * time.Second); time.Now().Before(until); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		last := probes[len(probes)-1]
		mu.Unlock()
		if last.code == http.StatusOK && !recovered.IsZero() && last.start.After(recovered) {
			break
		}
	}
	close(stop)
	wg.Wait()

	after := "never"
	if !recovered.IsZero() {
		after = recovered.Sub(f.Promoted).Round(time.Millisecond).String() + " after the promotion"
	}
	var slowest, slowestProbe time.Duration
	for _, s := range hooks {
		slowest = max(slowest, s.end.Sub(s.start))
	}
	for _, p := range probes {
		slowestProbe = max(slowestProbe, p.end.Sub(p.start))
	}
	t.Logf("master %s killed; replica %s promoted %s later; webhooks accepted again: %s; %d webhooks (slowest answer %s), %d /readyz (slowest %s)",
		f.Old, f.New, f.Promoted.Sub(f.Killed).Round(time.Millisecond), after,
		len(hooks), slowest.Round(time.Millisecond), len(probes), slowestProbe.Round(time.Millisecond))
	refused := 0
	for _, s := range hooks {
		switch s.code {
		case http.StatusAccepted:
		case http.StatusServiceUnavailable:
			refused++
		default:
			t.Errorf("webhook answered %d, want 202 or 503", s.code)
		}
	}
	if refused == 0 {
		t.Error("no webhook was refused while the queue's master was down")
	}
	if recovered.IsZero() || recovered.Sub(f.Promoted) > recoverWithin {
		t.Errorf("webhooks not accepted again within %s of the promotion (first 202: %s; %d refused)", recoverWithin, after, refused)
	}
	// Readiness: 503 while the slot had no master; and once it says ready
	// no webhook sent afterwards is refused.
	notReady, readyTooSoon := 0, 0
	for _, p := range probes {
		if p.start.After(f.Killed) && p.end.Before(f.Promoted) {
			if p.code == http.StatusServiceUnavailable {
				notReady++
			} else if readyTooSoon++; readyTooSoon == 1 {
				t.Errorf("/readyz answered %d at %s after the kill, before the promotion", p.code, p.end.Sub(f.Killed).Round(time.Millisecond))
			}
			continue
		}
		if p.code != http.StatusOK || !p.start.After(f.Killed) {
			continue
		}
		for _, s := range hooks {
			if s.code == http.StatusServiceUnavailable && s.start.After(p.end) {
				if readyTooSoon++; readyTooSoon == 1 {
					t.Errorf("/readyz said ready %s after the kill, yet a webhook sent %s later was refused",
						p.end.Sub(f.Killed).Round(time.Millisecond), s.start.Sub(p.end).Round(time.Millisecond))
				}
				break
			}
		}
	}
	if readyTooSoon > 1 {
		t.Errorf("... %d /readyz answers in all said ready too soon", readyTooSoon)
	}
	if notReady == 0 {
		t.Error("no /readyz answer 503 between the kill and the promotion")
	}
	if last := probes[len(probes)-1]; last.code != http.StatusOK {
		t.Errorf("/readyz after the failover: %d", last.code)
	}
	// Nothing acknowledged is lost: the workers process every event
	// answered 202.
	waitProcessed(accepted, 30*time.Second)
}

// /readyz proves the queue can be written, not only that Redis answers: a
// server that answers PING but refuses writes (here min-replicas-to-write
// without replicas, as docs/redis.md suggests for Sentinel; a replica or a
// full server refuses the same way) is not ready, and webhooks are refused
// meanwhile.
func TestReadyzFailsWhileRedisRefusesWrites(t *testing.T) {
	srv := redistest.StartServer(t, "--min-replicas-to-write", "1")
	env := serveEnv(&redistest.Redis{URL: srv.URL, Prefix: "test-ready"})
	a, _ := startAppWith(t, env, Options{Ingest: true})
	base := "http://" + a.Addr()
	body := []byte(`{"event":{"id":"E-R1","event_type":"incident.resolved","occurred_at":"2026-11-21T10:00:00Z","data":{"id":"QR1","type":"incident"}}}`)
	hdr := map[string]string{"X-PagerDuty-Signature": sign(sampleSecret, body)}

	if code, out := post(t, base+"/webhooks/pagerduty", body, hdr); code != http.StatusServiceUnavailable {
		t.Fatalf("webhook while Redis refuses writes: %d %s", code, out)
	}
	code, out := get(t, base+"/readyz", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(out, "redis does not take writes to the queue") {
		t.Fatalf("/readyz while Redis answers PING but refuses writes: %d %s", code, out)
	}
	direct := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer direct.Close()
	if err := direct.ConfigSet(context.Background(), "min-replicas-to-write", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// A failed probe stands for a second (/readyz is unauthenticated).
	testutil.EventuallyWithin(t, "/readyz 200 once Redis takes writes", 3*time.Second, func() bool {
		code, _ := get(t, base+"/readyz", "")
		return code == http.StatusOK
	})
	if code, out := post(t, base+"/webhooks/pagerduty", body, hdr); code != http.StatusAccepted {
		t.Fatalf("webhook once Redis takes writes: %d %s", code, out)
	}
}

// /readyz is unauthenticated: however many ask at once, Redis sees one probe
// at a time, and while it fails, one a second; yet a success is never
// reused by a later caller, so readiness follows Redis at once.
func TestReadyzProbesAreBounded(t *testing.T) {
	a, _ := startAppWith(t, serveEnv(redistest.New(t)), Options{Ingest: true})
	var probes atomic.Int64
	fail := atomic.Bool{}
	a.probeQueue = func(ctx context.Context) error {
		probes.Add(1)
		time.Sleep(20 * time.Millisecond)
		if fail.Load() {
			return errors.New("down")
		}
		return nil
	}
	ask := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); _ = a.ready(context.Background()) }()
		}
		wg.Wait()
	}
	ask(50)
	if n := probes.Load(); n > 10 {
		t.Fatalf("50 concurrent readiness checks made %d probes", n)
	}
	if err := a.ready(context.Background()); err != nil || probes.Load() < 2 {
		t.Fatalf("a later check reused an earlier success: %v, %d probes", err, probes.Load())
	}
	fail.Store(true)
	if err := a.ready(context.Background()); err == nil {
		t.Fatal("the first check after Redis failed said ready")
	}
	before := probes.Load()
	ask(50)
	if n := probes.Load() - before; n != 0 {
		t.Fatalf("checks within a second of a failed probe made %d more probes", n)
	}
}

// The cluster client reloads its slot map when a node does not answer, and
// only then: not on Redis's own replies nor on the caller's context; at most
// once per interval.
func TestSlotMapReloaderReloadsOnlyWhenANodeDoesNotAnswer(t *testing.T) {
	ctx := context.Background()
	nobody := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	defer nobody.Close()
	refused := nobody.Ping(ctx).Err()
	r := redistest.New(t)
	reply := r.Client.Do(ctx, "NO-SUCH-COMMAND").Err()
	moved := r.Client.Do(ctx, "EVAL", "return redis.error_reply('MOVED 1 127.0.0.1:1')", 0).Err()
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", refused, true},
		{"connection refused, wrapped", fmt.Errorf("enqueue event: %w", refused), true},
		{"connection closed", fmt.Errorf("read queue: %w", io.EOF), true},
		{"connection closed mid-reply", io.ErrUnexpectedEOF, true},
		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
		{"error reply", reply, false},
		{"redirection reply", moved, false},
		{"no value", redis.Nil, false},
		{"caller gave up", context.Canceled, false},
		{"caller's deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil && c.name != "nil" {
				t.Fatal("no error to classify")
			}
			if got := noAnswer(c.err); got != c.want {
				t.Fatalf("noAnswer(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}

	var reloads atomic.Int32
	h := &slotMapReloader{reload: func(context.Context) { reloads.Add(1) }, every: 200 * time.Millisecond}
	fail := h.ProcessHook(func(context.Context, redis.Cmder) error { return refused })
	answer := h.ProcessHook(func(context.Context, redis.Cmder) error { return reply })
	pipe := h.ProcessPipelineHook(func(_ context.Context, cmds []redis.Cmder) error {
		cmds[1].SetErr(refused)
		return refused
	})
	cmd := func() redis.Cmder { return redis.NewStatusCmd(ctx, "set", "k", "v") }
	for range 5 {
		_ = answer(ctx, cmd())
	}
	if n := reloads.Load(); n != 0 {
		t.Fatalf("%d reloads after error replies, want 0", n)
	}
	for range 5 {
		if err := fail(ctx, cmd()); err != refused {
			t.Fatalf("the hook changed the error: %v", err)
		}
	}
	if n := reloads.Load(); n != 1 {
		t.Fatalf("%d reloads after 5 refusals in a row, want 1", n)
	}
	time.Sleep(250 * time.Millisecond)
	_ = pipe(ctx, []redis.Cmder{cmd(), cmd()})
	if n := reloads.Load(); n != 2 {
		t.Fatalf("%d reloads after a pipeline refused past the interval, want 2", n)
	}
}
