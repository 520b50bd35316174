package app

import (
	"context"

	"github.com/aftermath-dev/aftermath/catchup"
	"github.com/aftermath-dev/aftermath/store"
)

// newSweeper returns the catch-up sweep of a worker process, or nil when
// it cannot read PagerDuty. catch_up.enabled is read on every round, so a
// reload turns it on or off.
func (a *App) newSweeper(st *store.Store) *catchup.Sweeper {
	if a.cfg.PagerDutyAPIToken == "" {
		return nil
	}
	if a.cfg.RedisURL == "" {
		// An embedded Redis starts empty: with no record of what was
		// processed, the first sweep would queue every resolution of the
		// look-back window again.
		a.log.Warn("REDIS_URL is not set: the catch-up sweep is off (an empty embedded Redis would make it redo the last catch_up.look_back of resolutions)")
		return nil
	}
	cfg := a.opts.CatchUp
	cfg.Rules = a.rules.Current
	cfg.Owner = a.worker.Consumer()
	if cfg.Now == nil {
		cfg.Now = a.opts.Now
	}
	return catchup.New(cfg, NewPagerDuty(a.cfg, a.log, SharedPacer(st, "pagerduty", a.log)), st, a.log, catchup.NewMetrics(a.reg))
}

// backgroundCtx is the context of the worker's background loops (the
// catch-up sweep, the deadline keeper): it ends when the worker stops, not
// when Start's ctx does.
func (a *App) backgroundCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	prev := a.stopWorker
	a.stopWorker = func() {
		if prev != nil {
			prev()
		}
		cancel()
	}
	return ctx
}
