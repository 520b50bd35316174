package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/aftermath-dev/aftermath/internal/clock"
)

// Pacer spaces the requests of every replica to one outside API under its
// rate limit: PagerDuty counts 960 requests a minute per API key, whatever
// the number of processes using it. It is GCRA on one Redis key (so one
// hash slot): each Wait reserves the next free slot in one script call and
// sleeps until it. When Redis does not answer, Wait falls back to a
// limiter of this process alone at the same pace, so an outage of Redis
// never stops an outside call the workflow is making.
type Pacer struct {
	s        *Store
	key      string
	interval time.Duration // one request per interval
	burst    int
	local    *rate.Limiter
	log      *slog.Logger

	mu        sync.Mutex
	warnedAt  time.Time
	downUntil time.Time // Redis failed: pace locally without asking it until then
}

// pacerRetryAfter is how long a pacer paces locally after Redis failed,
// before asking Redis again: an outage costs one failed call per interval,
// not one per request.
const pacerRetryAfter = 5 * time.Second

// NewPacer returns the pacer named name (e.g. "pagerduty"), allowing
// perMinute requests a minute across every replica after a burst of burst.
func (s *Store) NewPacer(name string, perMinute, burst int, log *slog.Logger) *Pacer {
	if perMinute <= 0 || burst <= 0 {
		panic(fmt.Sprintf("store.NewPacer(%q): perMinute %d and burst %d must be positive", name, perMinute, burst))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pacer{
		s: s, key: s.prefix + ":pace:" + name, interval: time.Minute / time.Duration(perMinute), burst: burst,
		local: rate.NewLimiter(rate.Limit(float64(perMinute)/60), burst), log: log,
	}
}

// paceScript reserves the next slot: the key holds the theoretical arrival
// time (TAT) in microseconds of Redis's clock, so replicas with skewed
// clocks agree. ARGV: interval and tolerance ((burst-1) intervals) in
// microseconds; the longest wait the caller accepts (-1: any), beyond which
// nothing is reserved; and how far ahead of now a stored TAT is believed
// (a TAT further ahead was written under another master's clock, before a
// failover: it is reset, rather than holding every replica back). Returns
// the wait in microseconds before the slot, or -1 when it is longer than
// the caller accepts.
var paceScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local longest, ahead = tonumber(ARGV[3]), tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now or tat > now + ahead then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if longest >= 0 and wait > longest then return -1 end
local ttl = math.ceil((tat + interval - now) / 1000) + 60000
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', ttl)
return wait
`)

// paceAhead is how far ahead of Redis's clock a pace's next slot may be and
// still be believed: far more than every worker of every replica waiting
// at once can reserve.
const paceAhead = 5 * time.Minute

// errPaceDeadline says the next slot comes after the caller's deadline.
var errPaceDeadline = errors.New("rate limit: the next request slot comes after the context's deadline")

// Wait blocks until the caller may send its request, or ctx ends.
func (p *Pacer) Wait(ctx context.Context) error {
	if p.down() {
		return p.local.Wait(ctx)
	}
	longest := int64(-1)
	if d, ok := ctx.Deadline(); ok {
		longest = max(time.Until(d).Microseconds(), 0)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	us, err := paceScript.Run(rctx, p.s.rdb, []string{p.key},
		p.interval.Microseconds(), int64(p.burst-1)*p.interval.Microseconds(), longest, paceAhead.Microseconds()).Int64()
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.warn(err)
		return p.local.Wait(ctx)
	}
	if us < 0 {
		// Like rate.Limiter: fail at once, reserving nothing.
		return errPaceDeadline
	}
	return clock.Sleep(ctx, time.Duration(us)*time.Microsecond)
}

func (p *Pacer) down() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Now().Before(p.downUntil)
}

// warn notes that Redis failed and logs the fall-back to local pacing at
// most once a minute.
func (p *Pacer) warn(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.downUntil = now.Add(pacerRetryAfter)
	if now.Sub(p.warnedAt) >= time.Minute {
		p.warnedAt = now
		p.log.Warn("shared pacing unavailable: pacing this process alone until Redis answers", "key", p.key, "err", err)
	}
}
