package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/e2e/e2ekit"
)

// redisUnderTest is the Redis a run uses: one server or a cluster, with
// what the replicas need to reach it and how to crash and restart it.
// kill and start run on the test's goroutine.
type redisUnderTest struct {
	name string
	env  []string
	// pick, when set, chooses with the run's seed what kill and start act
	// on, and names it.
	pick  func(seed uint64) string
	kill  func()
	start func()
}

// Timings of a run, from the moment the incidents are resolved.
const (
	replicas       = 3
	copies         = 2                       // every webhook is delivered this many times, to different replicas
	deliverySpread = 8 * time.Second         // deliveries start within this
	faultsAt       = 1 * time.Second         // both APIs fail ...
	faultsFor      = 20 * time.Second        // ... for this long
	redisDownAt    = 4 * time.Second         // Redis is killed then ...
	redisDownFor   = 3 * time.Second         // ... and restarted this much later
	replicaKills   = 3                       // a random replica is killed at random moments this many times
	killFrom       = 2 * time.Second         // within this ...
	killWindow     = 20 * time.Second        // ... window
	doneWithin     = 4 * time.Minute         // everything done within this, or the run fails
	settle         = 4 * time.Second         // after all is done, wait this long for duplicates to show
	apiLatency     = 20 * time.Millisecond   // added by the proxies all along
	faultRetry     = 1500 * time.Millisecond // Retry-After of the injected 429s
)

// faults are the answers both APIs give during the fault window: 30% 5xx
// (20% unapplied 503, 10% 500 after the API did the work) and 20% 429.
var faults = e2ekit.Faults{Unavailable: 0.2, LostAnswer: 0.1, RateLimited: 0.2, RetryAfter: faultRetry}

// event is one thing the chaos schedule does, at a time from the start.
type event struct {
	at   time.Duration
	what string
	do   func()
}

// runSuite is the whole suite against one Redis: seed, start, resolve,
// deliver under chaos, wait, check, and print the summary.
func runSuite(t *testing.T, redis redisUnderTest) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("E2E_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("E2E_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("seed %d (rerun with E2E_SEED=%d)", seed, seed)
	if redis.pick != nil {
		redis.name = redis.pick(seed)
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	sc := newScenario(seed)
	sims := e2ekit.StartSims(t, seed)
	sc.seedSims(sims)
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(sc.rules()), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(append(sims.Env(), redis.env...), "AFTERMATH_RULES="+rulesFile, "AFTERMATH_RETRY_HORIZON=30m")
	rs := e2ekit.StartReplicas(t, replicas, env, "--workers", "4")
	sims.PDProxy.SetLatency(apiLatency)
	sims.JiraProxy.SetLatency(apiLatency)
	sender := e2ekit.NewSender(rs)
	sender.GiveUp = 2 * time.Minute

	// Resolve everything at once, then deliver each webhook twice, to
	// two replicas at the same moment, starting at random times.
	sc.resolveAll(sims)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), doneWithin)
	defer cancel()
	var wg sync.WaitGroup
	eventIDs := map[string]string{}
	for _, in := range sc.incidents {
		if in.Unsent {
			continue
		}
		wh := sims.PD.IncidentWebhook(in.ID, "incident.resolved", in.Resolver.pdID, e2ekit.WebhookSecret)
		eventIDs[in.ID] = webhookEventID(t, wh.Body)
		delay, first := time.Duration(rng.Int64N(int64(deliverySpread))), rng.IntN(replicas)
		wg.Go(func() {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			sender.DeliverCopies(ctx, in.ID, wh, copies, first)
		})
	}

	// The chaos, in time order on this goroutine.
	var evs []event
	redisRestarts := 0
	evs = append(evs, event{redisDownAt, "SIGKILL " + redis.name, redis.kill},
		event{redisDownAt + redisDownFor, "restart " + redis.name, func() { redis.start(); redisRestarts++ }},
		event{faultsAt, "faults on", func() { sims.PDProxy.SetFaults(faults); sims.JiraProxy.SetFaults(faults) }},
		event{faultsAt + faultsFor, "faults off", func() { sims.PDProxy.SetFaults(e2ekit.Faults{}); sims.JiraProxy.SetFaults(e2ekit.Faults{}) }})
	for range replicaKills {
		i := rng.IntN(replicas)
		at := killFrom + time.Duration(rng.Int64N(int64(killWindow)))
		down := 500*time.Millisecond + time.Duration(rng.Int64N(int64(3*time.Second)))
		evs = append(evs, event{at, "SIGKILL replica " + strconv.Itoa(i), func() { rs.Kill(i) }},
			event{at + down, "restart replica " + strconv.Itoa(i), func() {
				if err := rs.Start(i); err != nil {
					t.Error(err)
				}
			}})
	}
	slices.SortStableFunc(evs, func(a, b event) int { return int(a.at - b.at) })
	for _, ev := range evs {
		time.Sleep(time.Until(start.Add(ev.at)))
		t.Logf("%6.1fs %s", time.Since(start).Seconds(), ev.what)
		ev.do()
	}
	for i := range replicas {
		if err := rs.WaitReady(i); err != nil {
			t.Errorf("after the chaos: %v", err)
		}
	}
	wg.Wait()

	doneAt := waitDone(t, ctx, sc, sims, rs, start)
	time.Sleep(settle)
	res := check(t, sc, sims, rs, sender, eventIDs)
	res.kills, res.redisRestarts, res.took, res.start = 0, redisRestarts, doneAt, start
	for i := range replicas {
		res.kills += rs.Kills(i)
	}
	summary := fmt.Sprintf("summary (%s, seed %d):\n%s", redis.name, seed, res.table(sc, sims, sender))
	t.Log(summary)
	keepSummary(t, summary)
}

// keepSummary writes the run's summary into the directory E2E_SUMMARY_DIR
// names, if set: `go test ./...` shows a passing test's log only with -v,
// so .ci/run prints the figures from there.
func keepSummary(t *testing.T, summary string) {
	dir := os.Getenv("E2E_SUMMARY_DIR")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("E2E_SUMMARY_DIR: %v", err)
		return
	}
	file := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "-")+".txt")
	if err := os.WriteFile(file, []byte(summary+"\n"), 0o644); err != nil {
		t.Errorf("E2E_SUMMARY_DIR: %v", err)
	}
}

// webhookEventID is the event ID in a webhook's body.
func webhookEventID(t *testing.T, body []byte) string {
	var b struct {
		Event struct {
			ID string `json:"id"`
		} `json:"event"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Event.ID == "" {
		t.Fatalf("webhook body: %v %s", err, body)
	}
	return b.Event.ID
}

// waitDone waits until the simulators show every post-mortem complete
// (epics, tickets, notes, messages) and every replica is idle, and returns
// how long it took from start. It fails the test at ctx's deadline with
// what is missing.
func waitDone(t *testing.T, ctx context.Context, sc *scenario, sims *e2ekit.Sims, rs *e2ekit.Replicas, start time.Time) time.Duration {
	t.Helper()
	for {
		missing := sc.missing(sims)
		if len(missing) == 0 {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			if len(missing) > 20 {
				missing = append(missing[:20], "...")
			}
			t.Fatalf("not done %s after the resolutions: %q", doneWithin, missing)
		case <-time.After(time.Second):
		}
	}
}
