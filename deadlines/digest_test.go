package deadlines

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/redistest"
	clocks "github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

const digestRules = `timezone: Europe/Berlin
digest:
  every: monday 09:00
  email: [managers@example.com]
  teams:
    PTEAM1: {email: [payments@example.com]}
    PTEAM2: {slack_webhook_env: SLACK_SEARCH}
`

// digestJobs reads the queue's digest jobs (without consuming them), by
// event ID, with their bodies.
func digestJobs(t *testing.T, r *redistest.Redis) map[string]store.DigestJob {
	t.Helper()
	msgs, err := r.Client.XRange(context.Background(), r.Prefix+":{queue}:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.DigestJob{}
	for _, m := range msgs {
		if m.Values["event_type"] != store.EventDigest {
			continue
		}
		id := fmt.Sprint(m.Values["event_id"])
		if _, dup := out[id]; dup {
			t.Fatalf("digest %s queued twice", id)
		}
		if m.Values["incident_id"] != id {
			t.Fatalf("digest %s kept under %v", id, m.Values["incident_id"])
		}
		var j store.DigestJob
		if err := json.Unmarshal([]byte(fmt.Sprint(m.Values["body"])), &j); err != nil {
			t.Fatal(err)
		}
		out[id] = j
	}
	return out
}

// runKeepers runs n keepers' loops (as n replicas do) until stop.
func runKeepers(t *testing.T, st *store.Store, rl *rules.Rules, clock *clocks.Clock, n int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		k := &Keeper{Store: st, Rules: func() *rules.Rules { return rl }, Consumer: fmt.Sprint("replica-", i),
			Log: slog.New(slog.DiscardHandler), Now: clock.Now, Metrics: NewMetrics(nil), Tick: 5 * time.Millisecond}
		wg.Add(1)
		go func() { defer wg.Done(); k.Run(ctx) }()
	}
	return func() { cancel(); wg.Wait() }
}

// The digest across replicas and restarts: three keepers' loops queue the
// managers' digest and each team's once per period; the period that ended
// before the digest was configured is not sent; a keeper started after a
// period was queued queues nothing more; a keeper back after five weeks
// down queues the last period only, not a backlog.
func TestDigestQueuedOncePerPeriodAcrossKeepersAndRestarts(t *testing.T) {
	r := redistest.New(t)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	installed := time.Date(2026, 12, 9, 15, 0, 0, 0, berlin) // a Wednesday
	clock := clocks.NewClock(installed)
	st := store.New(r.Client, r.Prefix).WithClock(clock.Now)
	rl, err := rules.Load("r.yaml", []byte(digestRules))
	if err != nil {
		t.Fatal(err)
	}
	wait := func(n int) map[string]store.DigestJob {
		t.Helper()
		clocks.Eventually(t, fmt.Sprintf("%d digests queued", n), func() bool { return len(digestJobs(t, r)) >= n })
		time.Sleep(50 * time.Millisecond) // ten more ticks of each keeper: nothing more may come
		jobs := digestJobs(t, r)
		if len(jobs) != n {
			t.Fatalf("%d digests queued, want %d: %v", len(jobs), n, slices.Sorted(mapKeys(jobs)))
		}
		return jobs
	}

	stop := runKeepers(t, st, rl, clock, 3)
	// Installed on a Wednesday: the week that ended on Monday is not sent.
	clocks.Eventually(t, "the keepers saw the digest configured", func() bool {
		m, err := st.DigestMarks(context.Background(), "PTEAM2")
		return err == nil && !m.Since.IsZero()
	})
	time.Sleep(50 * time.Millisecond)
	if jobs := digestJobs(t, r); len(jobs) != 0 {
		t.Fatalf("the period before install was queued: %v", jobs)
	}

	// Monday 14 Dec 09:00: the week's digest, once per target.
	monday := time.Date(2026, 12, 14, 9, 0, 0, 0, berlin)
	clock.Set(monday.Add(-time.Second))
	time.Sleep(30 * time.Millisecond)
	if jobs := digestJobs(t, r); len(jobs) != 0 {
		t.Fatalf("queued before the period ended: %v", jobs)
	}
	clock.Set(monday)
	jobs := wait(3)
	for _, target := range []string{"all", "PTEAM1", "PTEAM2"} {
		j, ok := jobs[DigestID(target, monday)]
		if !ok {
			t.Fatalf("no digest for %s: %v", target, slices.Sorted(mapKeys(jobs)))
		}
		wantTeam := target
		if target == DigestAll {
			wantTeam = ""
		}
		if j.Team != wantTeam || !j.End.Equal(monday) || !j.Start.Equal(monday.AddDate(0, 0, -7)) {
			t.Fatalf("digest of %s: %+v", target, j)
		}
	}
	clock.Add(time.Hour)
	wait(3)
	stop()

	// A restart: new keepers after the period was queued queue nothing.
	stop = runKeepers(t, st, rl, clock, 3)
	wait(3)
	stop()

	// Five weeks down: back on Tuesday 19 Jan, the week that ended on
	// Monday 18 Jan is queued, none of the four before.
	clock.Set(time.Date(2027, 1, 19, 10, 0, 0, 0, berlin))
	stop = runKeepers(t, st, rl, clock, 3)
	defer stop()
	jobs = wait(6)
	last := time.Date(2027, 1, 18, 9, 0, 0, 0, berlin)
	for _, target := range []string{"all", "PTEAM1", "PTEAM2"} {
		if _, ok := jobs[DigestID(target, last)]; !ok {
			t.Fatalf("no digest for %s of the week ending %v: %v", target, last, slices.Sorted(mapKeys(jobs)))
		}
	}
}

// Without recipients (the default rules) no digest is queued and no mark
// is written.
func TestNoDigestWithoutRecipients(t *testing.T) {
	r := redistest.New(t)
	clock := clocks.NewClock(time.Date(2026, 12, 14, 9, 0, 0, 0, time.UTC))
	st := store.New(r.Client, r.Prefix).WithClock(clock.Now)
	rl, err := rules.Load("r.yaml", []byte("timezone: UTC\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := DigestTargets(rl); len(got) != 0 {
		t.Fatalf("targets %v", got)
	}
	k := &Keeper{Store: st, Rules: func() *rules.Rules { return rl }, Log: slog.New(slog.DiscardHandler), Now: clock.Now, Metrics: NewMetrics(nil)}
	for range 3 {
		if n, err := k.QueueDigests(context.Background()); err != nil || n != 0 {
			t.Fatalf("queued %d (%v)", n, err)
		}
		clock.Add(7 * 24 * time.Hour)
	}
	if m, err := st.DigestMarks(context.Background(), DigestAll); err != nil || !m.Since.IsZero() {
		t.Fatalf("marks %+v %v", m, err)
	}
}
