package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftermath-dev/aftermath/deadlines"
	"github.com/aftermath-dev/aftermath/store"
)

// newKeeper returns the deadline keeper over st: every worker process runs
// its scheduler and status sync; the ingest side uses it to apply Jira's
// webhooks.
func (a *App) newKeeper(st *store.Store, m *deadlines.Metrics) *deadlines.Keeper {
	k := &deadlines.Keeper{Store: st, Rules: a.rules.Current, Log: a.log, Metrics: m, Tick: a.opts.DeadlineTick, Now: a.opts.Now}
	if a.jira != nil {
		k.Jira = a.jira
	}
	if a.worker != nil {
		k.Consumer = a.worker.Consumer()
	}
	return k
}

// registerSyncAge exports how long ago a status sync (by any replica) last
// read every open post-mortem.
func (a *App) registerSyncAge() {
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "aftermath_status_sync_age_seconds",
		Help: "Seconds since a status sync last read the Jira status of every open post-mortem (by any replica); -1 before the first.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		at, err := a.store.LastStatusSync(ctx)
		if err != nil || at.IsZero() {
			return -1
		}
		return time.Since(at).Seconds()
	}))
}
