package store

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/internal/testutil"
)

// Three replicas share one count per client: 10 failures spread over them
// lock the client out on every replica, for the lockout (not the window),
// under the key prefix, while another client is not locked at all.
func TestAuthLimiterSharedAcrossReplicas(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	limits := AuthLimits{MaxFailures: 10, Window: time.Minute, Lockout: 2 * time.Minute}
	reps := []*AuthLimiter{s.NewAuthLimiter(limits, nil), New(r.Client, r.Prefix).NewAuthLimiter(limits, nil), New(r.Client, r.Prefix).NewAuthLimiter(limits, nil)}
	const client = "192.0.2.7"
	var locked int
	for i := range 10 {
		st := reps[i%3].Fail(ctx, client)
		if st.Failures != i+1 {
			t.Fatalf("failure %d counted as %d: the replicas do not share the count", i+1, st.Failures)
		}
		if st.LockedNow {
			locked++
		}
		if (st.LockedFor > 0) != (i == 9) {
			t.Fatalf("failure %d: locked for %v", i+1, st.LockedFor)
		}
	}
	if locked != 1 {
		t.Fatalf("%d failures started a lockout, want exactly the 10th", locked)
	}
	for i, rep := range reps {
		if d := rep.Locked(ctx, client); d <= limits.Window || d > limits.Lockout {
			t.Errorf("replica %d: locked for %v, want the lockout (%v)", i, d, limits.Lockout)
		}
		if d := rep.Locked(ctx, "192.0.2.8"); d != 0 {
			t.Errorf("replica %d: another client locked for %v", i, d)
		}
	}
	// Trying on during the lockout neither ends nor extends it.
	if st := reps[0].Fail(ctx, client); st.Failures != 11 || st.LockedNow || st.LockedFor > limits.Lockout {
		t.Fatalf("failure during the lockout: %+v", st)
	}
	if n, err := r.Client.Get(ctx, r.Prefix+":auth:failures:"+client).Int(); err != nil || n != 11 {
		t.Fatalf("the count under the prefix: %d %v, want 11", n, err)
	}
}

// Concurrent failures are each counted once, and exactly one starts the
// lockout: the count and its expiry are one atomic step.
func TestAuthLimiterCountsConcurrentFailuresAtomically(t *testing.T) {
	s, r := newStore(t)
	limits := AuthLimits{MaxFailures: 10, Window: time.Minute, Lockout: time.Minute}
	var wg sync.WaitGroup
	var mu sync.Mutex
	lockedNow, seen := 0, map[int]bool{}
	for range 50 {
		wg.Go(func() {
			st := s.NewAuthLimiter(limits, nil).Fail(context.Background(), "2001:db8:1:2::/64")
			mu.Lock()
			defer mu.Unlock()
			seen[st.Failures] = true
			if st.LockedNow {
				lockedNow++
			}
		})
	}
	wg.Wait()
	if len(seen) != 50 || lockedNow != 1 {
		t.Fatalf("50 concurrent failures gave %d distinct counts and %d lockouts, want 50 and 1", len(seen), lockedNow)
	}
	if d, err := r.Client.PTTL(context.Background(), r.Prefix+":auth:failures:2001:db8:1:2::/64").Result(); err != nil || d <= 0 {
		t.Fatalf("the count must expire: PTTL %v %v", d, err)
	}
}

// The count ends with its window, and the lockout with its own time.
func TestAuthLimiterWindowAndLockoutEnd(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	l := s.NewAuthLimiter(AuthLimits{MaxFailures: 2, Window: 150 * time.Millisecond, Lockout: 300 * time.Millisecond}, nil)
	l.Fail(ctx, "a")
	time.Sleep(250 * time.Millisecond)
	if st := l.Fail(ctx, "a"); st.Failures != 1 || st.LockedFor != 0 {
		t.Fatalf("a failure after the window: %+v, want a new count", st)
	}
	if st := l.Fail(ctx, "a"); !st.LockedNow || st.LockedFor <= 150*time.Millisecond {
		t.Fatalf("second failure: %+v, want locked for the lockout", st)
	}
	time.Sleep(350 * time.Millisecond)
	if d := l.Locked(ctx, "a"); d != 0 {
		t.Fatalf("still locked for %v after the lockout", d)
	}
}

// Without Redis the limiter counts in memory, with the same limits, says so
// once, and asks Redis again later.
func TestAuthLimiterFallsBackToMemory(t *testing.T) {
	var logs bytes.Buffer
	clock := testutil.NewClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	down := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond}), "down").WithClock(clock.Now)
	l := down.NewAuthLimiter(AuthLimits{MaxFailures: 3, Window: time.Minute, Lockout: 5 * time.Minute}, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	for i := range 3 {
		st := l.Fail(ctx, "198.51.100.1")
		if st.Failures != i+1 {
			t.Fatalf("failure %d counted as %+v", i+1, st)
		}
	}
	if d := l.Locked(ctx, "198.51.100.1"); d != 5*time.Minute {
		t.Fatalf("locked for %v, want 5m", d)
	}
	if d := l.Locked(ctx, "198.51.100.2"); d != 0 {
		t.Fatalf("another client locked for %v", d)
	}
	if n := strings.Count(logs.String(), "Redis unavailable"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
	}
	clock.Add(5*time.Minute + time.Second)
	if d := l.Locked(ctx, "198.51.100.1"); d != 0 {
		t.Fatalf("locked for %v after the lockout", d)
	}
}

// Logging out revokes the session on every replica until its expiry.
func TestRevokeSession(t *testing.T) {
	s, r := newStore(t)
	ctx := context.Background()
	other := New(r.Client, r.Prefix)
	if revoked, err := other.SessionRevoked(ctx, "sid-1"); err != nil || revoked {
		t.Fatalf("before: %v %v", revoked, err)
	}
	until := time.Now().Add(time.Hour)
	if err := s.RevokeSession(ctx, "sid-1", until); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, "sid-1", until); err != nil {
		t.Fatal(err)
	}
	if revoked, err := other.SessionRevoked(ctx, "sid-1"); err != nil || !revoked {
		t.Fatalf("after: %v %v", revoked, err)
	}
	if revoked, _ := other.SessionRevoked(ctx, "sid-2"); revoked {
		t.Fatal("another session is revoked too")
	}
	d, err := r.Client.PTTL(ctx, r.Prefix+":session:revoked:sid-1").Result()
	if err != nil || d <= 59*time.Minute || d > 62*time.Minute {
		t.Fatalf("revocation kept for %v (%v), want until the session's expiry", d, err)
	}
	// An expired session needs nothing kept.
	if err := s.RevokeSession(ctx, "sid-old", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := s.SessionRevoked(ctx, "sid-old"); revoked {
		t.Fatal("an expired session was stored")
	}
}
