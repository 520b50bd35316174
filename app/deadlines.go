package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftermath-dev/aftermath/deadlines"
	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/store"
)

// newKeeper returns the deadline keeper over st: every worker process runs
// its scheduler and status sync; the ingest side uses it to apply Jira's
// webhooks.
func (a *App) newKeeper(st *store.Store, m *deadlines.Metrics) *deadlines.Keeper {
	k := &deadlines.Keeper{Store: st, Rules: a.rules.Current, Log: a.log, Metrics: m, Tick: a.opts.DeadlineTick, Now: a.opts.Now}
	if a.jira != nil {
		k.Jira, k.Followups = a.jira, FollowupJira(a.jira)
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

// FollowupJira gives the status sync the tickets under the epics from the
// Jira client: deadlines knows no Jira types.
func FollowupJira(c *jira.Client) deadlines.FollowupJira { return followupJira{c} }

type followupJira struct{ *jira.Client }

func (j followupJira) Tickets(ctx context.Context, epics []string) (deadlines.Reading, error) {
	r, err := j.Client.Tickets(ctx, epics)
	out := deadlines.Reading{Statuses: r.Statuses, Tickets: make(map[string][]deadlines.Ticket, len(r.Tickets))}
	for epic, ts := range r.Tickets {
		for _, t := range ts {
			out.Tickets[epic] = append(out.Tickets[epic], deadlines.Ticket{
				Key: t.Key, Summary: t.Summary, Status: t.Status, Due: t.Due, Created: t.Created,
				AssigneeID: t.Assignee.ID, AssigneeEmail: t.Assignee.Email, AssigneeName: t.Assignee.DisplayName,
			})
		}
	}
	return out, err
}
