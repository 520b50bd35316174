package catchup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/rules"
)

// Store is what the sweep needs of Redis: the queue, the claim of an
// interval and the cursor.
type Store interface {
	Queue
	ClaimSweep(ctx context.Context, owner string, ttl time.Duration) (bool, error)
	SweepCursor(ctx context.Context) (time.Time, bool, error)
	AdvanceSweepCursor(ctx context.Context, t time.Time) error
}

// Config tunes a Sweeper. Zero values take the defaults in parentheses.
type Config struct {
	// Rules returns the rules in force; catch_up is read on every round,
	// so a reload applies from the next one.
	Rules func() *rules.Rules
	// Owner names this replica in the claim (required).
	Owner string
	// Margin is how far before the cursor a sweep starts again (5m): a log
	// entry may show in the API a little after its own time.
	Margin time.Duration
	// Settle leaves resolutions younger than this to their webhook (2m),
	// so that a webhook still on its way is not counted as missed; a
	// negative value means none.
	Settle time.Duration
	// Chunk, when set, is the longest window asked of PagerDuty at once,
	// the cursor moving after each. By default (0) the whole window is one
	// listing, paged: the fewest requests PagerDuty's paging allows (one
	// for a quiet 48 h look-back, where windows of 6 h took 8). A window
	// with more entries than paging reaches (10,000) is split either way.
	Chunk time.Duration
	Now   func() time.Time
}

// Result is what one sweep did.
type Result struct {
	From, Until time.Time // the window looked at
	Resolutions int       // resolutions PagerDuty listed
	Queued      []Outcome // resolutions aftermath had no record of, queued now
}

// Sweeper runs the catch-up sweep.
type Sweeper struct {
	pd  PagerDuty
	st  Store
	cfg Config
	log *slog.Logger
	m   *Metrics
}

// New returns a Sweeper; m may be nil (no metrics).
func New(cfg Config, pd PagerDuty, st Store, log *slog.Logger, m *Metrics) *Sweeper {
	if cfg.Margin <= 0 {
		cfg.Margin = 5 * time.Minute
	}
	if cfg.Settle < 0 {
		cfg.Settle = 0
	} else if cfg.Settle == 0 {
		cfg.Settle = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{pd: pd, st: st, cfg: cfg, log: log.With("component", "catch-up"), m: m}
}

// Run sweeps until ctx ends: at once, then every catch_up.every, each time
// only if this replica claims the interval. Errors are logged and counted;
// the next round tries again from the cursor.
func (s *Sweeper) Run(ctx context.Context) error {
	for {
		rl := s.cfg.Rules().CatchUp
		if rl.Enabled {
			if _, _, err := s.Round(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("catch-up sweep failed; the cursor stays, the next round retries", "err", err)
			}
		}
		t := time.NewTimer(time.Duration(rl.Every))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Round claims the current interval and, if this replica got it, sweeps.
// swept says whether it did.
func (s *Sweeper) Round(ctx context.Context) (swept bool, res Result, err error) {
	defer s.observeCursor(ctx)
	every := time.Duration(s.cfg.Rules().CatchUp.Every)
	// A little less than the interval, so that this replica's next round
	// is not refused by its own claim.
	ok, err := s.st.ClaimSweep(ctx, s.cfg.Owner, max(every*9/10, every-time.Second))
	if err != nil {
		s.m.failed()
		return false, Result{}, err
	}
	if !ok {
		return false, Result{}, nil
	}
	res, err = s.Sweep(ctx)
	if err != nil {
		s.m.failed()
	}
	return true, res, err
}

// Sweep looks at the resolutions since the cursor (less the margin; on the
// first sweep since catch_up.look_back) and queues those aftermath has no
// record of. The cursor moves after each window is fully queued, so an
// error (PagerDuty answering 429 or 5xx past the client's retries, Redis
// failing) leaves it where the unfinished window starts: nothing is lost,
// and the next sweep looks again.
func (s *Sweeper) Sweep(ctx context.Context) (Result, error) {
	ctx = outbound.WithStep(ctx, "catch_up")
	now := s.cfg.Now()
	res := Result{Until: now.Add(-s.cfg.Settle)}
	floor := res.Until.Add(-time.Duration(s.cfg.Rules().CatchUp.LookBack))
	res.From = floor
	cur, ok, err := s.st.SweepCursor(ctx)
	if err != nil {
		return res, err
	}
	if ok {
		res.From = later(cur.Add(-s.cfg.Margin), floor)
	}
	for from := res.From; from.Before(res.Until); {
		to := res.Until
		if s.cfg.Chunk > 0 {
			to = earlier(from.Add(s.cfg.Chunk), res.Until)
		}
		rs, err := listResolutions(ctx, s.pd, from, to)
		if err != nil {
			return res, err
		}
		res.Resolutions += len(rs)
		for _, r := range rs {
			o, err := s.queue(ctx, r, now)
			if err != nil {
				return res, err
			}
			if o.Queued() {
				res.Queued = append(res.Queued, o)
			}
		}
		if err := s.st.AdvanceSweepCursor(ctx, to); err != nil {
			return res, err
		}
		from = to
	}
	s.log.Info("catch-up sweep done", "from", res.From, "until", res.Until, "resolutions", res.Resolutions, "queued", len(res.Queued))
	return res, nil
}

// queue queues one resolution unless it is known.
func (s *Sweeper) queue(ctx context.Context, r pagerduty.Resolution, now time.Time) (Outcome, error) {
	known, err := s.st.ResolutionKnown(ctx, r.IncidentID)
	if err != nil || known != "" {
		return Outcome{IncidentID: r.IncidentID, Known: known}, err
	}
	o, err := Enqueue(ctx, s.pd, s.st, r.IncidentID, now)
	switch {
	case pagerduty.IsNotFound(err):
		// Deleted since it resolved: nothing to process.
		s.log.Warn("a resolved incident is gone from PagerDuty; skipped", "incident", r.IncidentID)
		return Outcome{IncidentID: r.IncidentID, Known: "gone"}, nil
	case errors.Is(err, ErrNotResolved) || unfixable(err):
		// Reopened since, or refused to this token: asking again would not
		// help, and holding the cursor for it would stall every later
		// resolution. Its own webhook (or a replay) still queues it.
		s.m.failed()
		s.log.Warn("a resolution cannot be queued; skipped", "incident", r.IncidentID, "err", err)
		return Outcome{IncidentID: r.IncidentID, Known: "skipped"}, nil
	case err != nil:
		return o, fmt.Errorf("queue resolution of %s: %w", r.IncidentID, err)
	case o.Queued():
		s.m.missed()
		s.log.Warn("resolution found by the catch-up sweep: its webhook never came; queued",
			"incident", r.IncidentID, "resolved_at", r.At, "entry", o.EntryID)
	}
	return o, nil
}

// listResolutions lists [since, until) oldest first, splitting a window
// that holds more entries than PagerDuty's paging reaches.
func listResolutions(ctx context.Context, pd PagerDuty, since, until time.Time) ([]pagerduty.Resolution, error) {
	rs, err := pd.Resolutions(ctx, since, until)
	if errors.Is(err, pagerduty.ErrTooManyEntries) && until.Sub(since) > 2*time.Second {
		mid := since.Add(until.Sub(since) / 2).Truncate(time.Second)
		first, err := listResolutions(ctx, pd, since, mid)
		if err != nil {
			return nil, err
		}
		second, err := listResolutions(ctx, pd, mid, until)
		return append(first, second...), err
	}
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(rs, func(a, b pagerduty.Resolution) int { return a.At.Compare(b.At) })
	return rs, nil
}

// resolutions lists [since, until) in one paged listing, like the sweep.
func resolutions(ctx context.Context, pd PagerDuty, since, until time.Time) ([]pagerduty.Resolution, error) {
	if !since.Before(until) {
		return nil, nil
	}
	return listResolutions(ctx, pd, since, until)
}

func (s *Sweeper) observeCursor(ctx context.Context) {
	if s.m == nil {
		return
	}
	if cur, ok, err := s.st.SweepCursor(ctx); err == nil && ok {
		s.m.cursorAge.Set(s.cfg.Now().Sub(cur).Seconds())
	}
}

// Metrics are the sweep's Prometheus metrics.
type Metrics struct {
	missedTotal prometheus.Counter
	errorsTotal prometheus.Counter
	cursorAge   prometheus.Gauge
}

// NewMetrics registers the sweep's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		missedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aftermath_catchup_missed_total",
			Help: "Resolutions the catch-up sweep found and queued that no webhook had brought. Should stay 0: alert on any increase.",
		}),
		errorsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aftermath_catchup_errors_total",
			Help: "Catch-up rounds that failed (PagerDuty or Redis); the cursor stays and the next round retries.",
		}),
		cursorAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aftermath_catchup_cursor_age_seconds",
			Help: "How far behind now the catch-up cursor is, as this replica last read it.",
		}),
	}
	reg.MustRegister(m.missedTotal, m.errorsTotal, m.cursorAge)
	return m
}

func (m *Metrics) missed() {
	if m != nil {
		m.missedTotal.Inc()
	}
}

func (m *Metrics) failed() {
	if m != nil {
		m.errorsTotal.Inc()
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// unfixable reports whether PagerDuty refused a request as such (a 4xx
// other than 429): the same request later would be refused again.
func unfixable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && !r.Retryable()
}
