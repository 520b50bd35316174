package store

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Three replicas' pacers share one pace: 60 requests at 6000 a minute (one
// per 10ms) after a burst of 5 cannot all go in less than 55 intervals,
// whichever replica sends them; the nth request goes no sooner than its
// slot.
func TestPacerSharedAcrossReplicas(t *testing.T) {
	s, _ := newStore(t)
	const perMinute, burst, each = 6000, 5, 20
	interval := time.Minute / perMinute
	pacers := []*Pacer{s.NewPacer("api", perMinute, burst, nil), s.NewPacer("api", perMinute, burst, nil), s.NewPacer("api", perMinute, burst, nil)}
	var (
		mu   sync.Mutex
		sent []time.Duration
		wg   sync.WaitGroup
	)
	start := time.Now()
	for _, p := range pacers {
		for range each {
			wg.Go(func() {
				if err := p.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sent = append(sent, time.Since(start))
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	slices.Sort(sent)
	if len(sent) != 3*each {
		t.Fatalf("%d requests went, want %d", len(sent), 3*each)
	}
	for i, at := range sent {
		// A little slack for Redis's clock against ours.
		if earliest := time.Duration(i-burst+1)*interval - 2*time.Millisecond; at < earliest {
			t.Fatalf("request %d went at %v, before its slot at %v: %v", i, at, earliest, sent)
		}
	}
	if d, err := s.rdb.PTTL(context.Background(), s.prefix+":pace:api").Result(); err != nil || d <= 0 {
		t.Errorf("the pace key must expire on its own: PTTL %v, %v", d, err)
	}
}

// Without Redis the pacer still paces, by this process alone, and says so
// once.
func TestPacerFallsBackToLocalPacing(t *testing.T) {
	down := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond}), "down")
	p := down.NewPacer("api", 6000, 1, nil)
	start := time.Now()
	for range 6 {
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 5*10*time.Millisecond {
		t.Errorf("6 requests at one per 10ms went in %v without Redis: not paced", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx); err == nil {
		t.Error("Wait on an ended context returned nil")
	}
}

// A wait whose deadline comes before its slot fails at once and reserves
// nothing, so requests that gave up do not push back the ones after them
// (found by review).
func TestPacerWaitPastItsDeadlineReservesNothing(t *testing.T) {
	s, _ := newStore(t)
	p := s.NewPacer("deadline", 600, 1, nil) // one per 100ms
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := p.Wait(ctx)
		cancel()
		if err == nil {
			t.Fatal("a wait whose slot comes after its deadline succeeded")
		}
	}
	start := time.Now()
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Its slot is at most 100ms away; ten reserved slots would be a second.
	if took := time.Since(start); took > 600*time.Millisecond {
		t.Fatalf("the next request waited %v: the given-up waits kept their slots", took)
	}
}

// A next slot stored far ahead of Redis's clock (written under another
// master's clock, before a failover) is not believed (found by review).
func TestPacerIgnoresASlotFarAhead(t *testing.T) {
	s, r := newStore(t)
	p := s.NewPacer("skew", 900, 10, nil)
	ctx := context.Background()
	now, err := r.Client.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Client.Set(ctx, s.prefix+":pace:skew", now.Add(10*time.Minute).UnixMicro(), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := p.Wait(wctx); err != nil {
		t.Fatalf("an idle pace made the first request wait: %v", err)
	}
}
