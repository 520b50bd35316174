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
