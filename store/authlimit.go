package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// AuthLimits bound the wrong admin tokens one client may try: MaxFailures
// within Window, and then the client is locked out for Lockout (counted
// from the failure that reached the maximum).
type AuthLimits struct {
	MaxFailures int
	Window      time.Duration
	Lockout     time.Duration
}

// DefaultAuthLimits: 10 wrong tokens in 10 minutes lock the client out for
// 15 minutes. With a token of 32 characters or more that is hopeless for a
// guesser, and a person who mistypes it a few times is never stopped.
var DefaultAuthLimits = AuthLimits{MaxFailures: 10, Window: 10 * time.Minute, Lockout: 15 * time.Minute}

// AuthState is a client's failed attempts after a failure.
type AuthState struct {
	// Failures is how many wrong tokens the client sent in the window,
	// this one included.
	Failures int
	// LockedFor is how long the client stays locked out; 0: not locked.
	LockedFor time.Duration
	// LockedNow is true for the failure that started the lockout.
	LockedNow bool
}

// AuthLimiter counts failed admin-token attempts per client in Redis, so
// that every replica sees the same count: N replicas do not give N times
// the attempts. Each client is one key, counted and given its expiry in one
// script call. When Redis does not answer, each process counts in its own
// memory with the same limits until Redis answers again, so the admin API
// stays usable (and still limited) through a Redis outage.
type AuthLimiter struct {
	s      *Store // nil: memory only
	limits AuthLimits
	log    *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	local     map[string]localFailures
	downUntil time.Time
	warnedAt  time.Time
}

type localFailures struct {
	n       int
	expires time.Time
}

// authLocalMax bounds the addresses one process remembers during a Redis
// outage; past it the expired ones, then arbitrary ones, are forgotten.
const authLocalMax = 10000

// NewAuthLimiter returns the limiter of failed admin-token attempts that
// every replica on s's Redis shares. log may be nil.
func (s *Store) NewAuthLimiter(limits AuthLimits, log *slog.Logger) *AuthLimiter {
	l := NewLocalAuthLimiter(limits, s.now)
	l.s = s
	if log != nil {
		l.log = log
	}
	return l
}

// NewLocalAuthLimiter returns a limiter that counts in this process's memory
// only (tests, and a process without Redis). now nil is time.Now.
func NewLocalAuthLimiter(limits AuthLimits, now func() time.Time) *AuthLimiter {
	if limits.MaxFailures <= 0 || limits.Window <= 0 || limits.Lockout <= 0 {
		panic(fmt.Sprintf("store: auth limits %+v must be positive", limits))
	}
	if now == nil {
		now = time.Now
	}
	return &AuthLimiter{limits: limits, log: slog.New(slog.DiscardHandler), now: now, local: map[string]localFailures{}}
}

// Limits returns the limiter's limits.
func (l *AuthLimiter) Limits() AuthLimits { return l.limits }

func (l *AuthLimiter) key(client string) string {
	return l.s.prefix + ":auth:failures:" + keyPart(client)
}

// authFailScript counts one failure. KEYS[1]: the client's count. ARGV: the
// maximum, the window and the lockout in milliseconds. The failure that
// reaches the maximum sets the expiry to the lockout; later ones leave it,
// so a lockout ends on time however often the client keeps trying. A count
// without an expiry (never left by this script) gets the window's, so no
// count can lock a client out for ever. Returns {failures, ms to expiry}.
var authFailScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {n, ttl}
`)

// authLockedScript answers how many milliseconds the client stays locked
// out, 0 when it is not. KEYS[1]: the client's count; ARGV[1]: the maximum.
var authLockedScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return 0 end
return ttl
`)

// Fail counts a wrong token from client (an address, or an IPv6 /64) and
// says whether the client is now locked out.
func (l *AuthLimiter) Fail(ctx context.Context, client string) AuthState {
	if l.useRedis() {
		res, err := authFailScript.Run(ctx, l.s.rdb, []string{l.key(client)},
			l.limits.MaxFailures, l.limits.Window.Milliseconds(), l.limits.Lockout.Milliseconds()).Int64Slice()
		if err == nil && len(res) == 2 {
			return l.state(int(res[0]), time.Duration(res[1])*time.Millisecond)
		}
		l.redisFailed("count a failed admin token", err)
	}
	return l.failLocal(client)
}

// Locked returns how long client stays locked out; 0 when it is not.
func (l *AuthLimiter) Locked(ctx context.Context, client string) time.Duration {
	if l.useRedis() {
		ms, err := authLockedScript.Run(ctx, l.s.rdb, []string{l.key(client)}, l.limits.MaxFailures).Int64()
		if err == nil {
			return time.Duration(ms) * time.Millisecond
		}
		l.redisFailed("read the admin lockout", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.local[client]
	now := l.now()
	if !ok || !now.Before(f.expires) || f.n < l.limits.MaxFailures {
		return 0
	}
	return f.expires.Sub(now)
}

func (l *AuthLimiter) state(n int, ttl time.Duration) AuthState {
	st := AuthState{Failures: n, LockedNow: n == l.limits.MaxFailures}
	if n >= l.limits.MaxFailures {
		st.LockedFor = max(ttl, time.Millisecond)
	}
	return st
}

func (l *AuthLimiter) useRedis() bool {
	if l.s == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.now().Before(l.downUntil)
}

// redisFailed switches to counting in memory for a few seconds, so that an
// outage costs one slow call per interval rather than one per request, and
// warns at most once a minute.
func (l *AuthLimiter) redisFailed(what string, err error) {
	if err == nil {
		err = errors.New("unexpected answer")
	}
	if errors.Is(err, context.Canceled) {
		// The client went away: no news about Redis.
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.downUntil = now.Add(pacerRetryAfter)
	if now.Sub(l.warnedAt) >= time.Minute {
		l.warnedAt = now
		l.log.Warn("admin lockout: Redis unavailable; counting failed admin tokens in this process only until it answers", "step", what, "err", err)
	}
}

func (l *AuthLimiter) failLocal(client string) AuthState {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.local[client]
	if !ok || !now.Before(f.expires) {
		if !ok && len(l.local) >= authLocalMax {
			l.pruneLocked(now)
		}
		f = localFailures{expires: now.Add(l.limits.Window)}
	}
	f.n++
	if f.n == l.limits.MaxFailures {
		f.expires = now.Add(l.limits.Lockout)
	}
	l.local[client] = f
	return l.state(f.n, f.expires.Sub(now))
}

// pruneLocked forgets the expired counts, and arbitrary others while there
// are still too many; l.mu is held.
func (l *AuthLimiter) pruneLocked(now time.Time) {
	for k, f := range l.local {
		if !now.Before(f.expires) {
			delete(l.local, k)
		}
	}
	for k := range l.local {
		if len(l.local) < authLocalMax {
			break
		}
		delete(l.local, k)
	}
}
