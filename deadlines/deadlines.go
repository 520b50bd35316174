// Package deadlines keeps the post-mortems' deadlines: a scheduler in every
// worker process queues the reminders that come due, and the status sync
// makes each post-mortem's status follow its epic's Jira status. What a
// reminder or a status change does is the workflow's business: both are
// jobs in the durable queue.
package deadlines

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// Store is what the deadlines need of Redis.
type Store interface {
	NextDue(ctx context.Context, limit int) ([]string, error)
	ClaimDue(ctx context.Context, incident string, repeat time.Duration, maxOverdue int) (string, bool, error)
	Open(ctx context.Context) ([]string, error)
	Deadline(ctx context.Context, incident string) (store.Deadline, bool, error)
	ApplyStatus(ctx context.Context, incident string, c store.StatusChange) (store.StatusResult, error)
	IncidentOfEpic(ctx context.Context, key string) (string, bool, error)
	ClaimStatusSync(ctx context.Context, consumer string, every time.Duration) (bool, error)
	StatusSynced(ctx context.Context) error
	SetFollowupsDone(ctx context.Context, incident string, done int) error
	// The follow-up index and its reminder schedule (followups.go).
	Followups(ctx context.Context, incident string) ([]store.Followup, error)
	WithOpenFollowups(ctx context.Context) ([]string, error)
	RecordFollowups(ctx context.Context, incident string, fus []store.Followup, plans []store.FollowupPlan, maxReminders int) error
	NextFollowupReminders(ctx context.Context, limit int) ([]string, error)
	ClaimFollowupReminder(ctx context.Context, member string, repeat time.Duration, maxReminders int) (outcome, entryID string, err error)
	ClaimFollowupDue(ctx context.Context, key, how string) (bool, error)
	SettleFollowupDue(ctx context.Context, key string) error
	ReleaseFollowupDue(ctx context.Context, key string) error
}

// Jira is what the status sync needs of Jira.
type Jira interface {
	Statuses(ctx context.Context, keys []string) (map[string]string, error)
}

// Keeper runs the scheduler and the status sync of one process.
type Keeper struct {
	Store Store
	// Jira is nil when Jira is not configured: no sync then.
	Jira Jira
	// Followups, when set, reads every ticket under the epics instead of
	// Jira's statuses of the known keys, and keeps the follow-up index,
	// the reminder schedule and the due dates of tickets people add
	// (followups.go).
	Followups FollowupJira
	Rules     func() *rules.Rules
	Consumer  string // this process, for the sync's claim
	Log       *slog.Logger
	Now       func() time.Time
	Metrics   *Metrics
	// Tick is how often the scheduler looks for due reminders (1s).
	Tick time.Duration
	// SearchLag is how long Jira's search may trail a change
	// (DefaultSearchLag): the sync's reading is taken as of that long ago,
	// so it never undoes a webhook's newer change with a stale result.
	SearchLag time.Duration
	// DoneStatuses are the Jira statuses of a follow-up that count as done
	// (nil: DefaultDoneStatuses), besides those the rules' status_map maps
	// to Closed. Compared without regard to case.
	DoneStatuses []string
}

// DefaultSearchLag is how long Jira's search may trail a change: as long as
// the workflow waits for it before trusting a search that found nothing.
const DefaultSearchLag = 30 * time.Second

// DefaultDoneStatuses are the Jira statuses that count a follow-up as done:
// those of Jira's default workflows whose status category is Done. (The
// status sync reads status names only; a workflow's own done statuses go
// into Keeper.DoneStatuses or the rules' status_map.)
var DefaultDoneStatuses = []string{"Done", "Closed", "Resolved", "Won't Do", "Won't Fix", "Cancelled", "Canceled", "Declined"}

func (k *Keeper) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Run runs the scheduler and the status sync until ctx ends.
func (k *Keeper) Run(ctx context.Context) {
	tick := k.Tick
	if tick <= 0 {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	nextSync := k.now()
	queueDigests := k.digestQueuer()
	for {
		if _, err := k.Schedule(ctx); err != nil && ctx.Err() == nil {
			k.Log.Warn("deadline scheduler: will look again", "err", err)
		}
		queueDigests(ctx)
		if _, err := k.ScheduleFollowups(ctx); err != nil && ctx.Err() == nil {
			k.Log.Warn("follow-up reminder scheduler: will look again", "err", err)
		}
		if (k.Jira != nil || k.Followups != nil) && !k.now().Before(nextSync) {
			every := time.Duration(k.Rules().StatusSync.Every)
			if err := k.syncIfClaimed(ctx, every); err != nil && ctx.Err() == nil {
				k.Metrics.syncErrors.Inc()
				k.Log.Warn("status sync failed; the next interval tries again", "err", err)
			}
			// Each replica asks for the claim about once an interval, at a
			// jittered time, so that one of them syncs soon after it opens.
			nextSync = k.now().Add(every/2 + rand.N(every/2+1))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Schedule queues the reminders that are due: one Redis call when none is.
func (k *Keeper) Schedule(ctx context.Context) (queued int, err error) {
	rl := k.Rules()
	for {
		ids, err := k.Store.NextDue(ctx, 100)
		if err != nil || len(ids) == 0 {
			return queued, err
		}
		claimed := 0
		for _, id := range ids {
			entry, ok, err := k.Store.ClaimDue(ctx, id, time.Duration(rl.Reminders.RepeatOverdueEvery), rl.Reminders.MaxOverdue)
			if err != nil {
				return queued, err
			}
			claimed++
			if ok {
				queued++
				k.Metrics.reminders.Inc()
				k.Log.Info("reminder queued", "incident", id, "entry", entry)
			}
		}
		if claimed < 100 {
			return queued, nil
		}
	}
}

func (k *Keeper) syncIfClaimed(ctx context.Context, every time.Duration) error {
	ok, err := k.Store.ClaimStatusSync(ctx, k.Consumer, every)
	if err != nil || !ok {
		return err
	}
	return k.Sync(ctx)
}

// Sync reads the Jira status of every open post-mortem's epic (and, with
// Followups set, of every post-mortem with an open follow-up, Closed ones
// too) and of its follow-ups, in the same searches (50 issues a search), applies each
// epic's change and records how many follow-ups are done. With Followups
// set it reads every ticket under the epics (people's too) and keeps the
// follow-up index, the reminder schedule and the due dates of the tickets
// people add (followups.go). (The status and follow-up gauges are read from
// the store when scraped: store.Collector.)
func (k *Keeper) Sync(ctx context.Context) error {
	ctx = outbound.WithStep(ctx, "status_sync")
	ids, err := k.Store.Open(ctx)
	if err != nil {
		return err
	}
	if k.Followups != nil {
		// A Closed post-mortem's follow-ups are still to be done: their
		// tickets are read until the index has them all done or deleted,
		// or a ticket done after the epic closed would be reminded forever.
		more, err := k.Store.WithOpenFollowups(ctx)
		if err != nil {
			return err
		}
		ids = append(ids, more...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	byEpic := map[string]store.Deadline{}
	for _, id := range ids {
		d, found, err := k.Store.Deadline(ctx, id)
		if err != nil {
			return err
		}
		if found && d.Key != "" {
			byEpic[d.Key] = d
		}
	}
	// What the searches return is Jira's status as of SearchLag ago at the
	// latest (Jira Cloud's search trails its writes): a webhook's change
	// Jira reported later than that is newer than what was read.
	readAt := k.now().Add(-cmp.Or(k.SearchLag, DefaultSearchLag))
	var statuses map[string]string
	if k.Followups != nil {
		r, err := k.Followups.Tickets(ctx, slices.Sorted(mapKeys(byEpic)))
		if err != nil {
			return fmt.Errorf("read the epics and the tickets under them: %w", err)
		}
		if err := k.syncFollowups(ctx, byEpic, r); err != nil {
			return err
		}
		statuses = r.Statuses
	} else {
		keys := slices.Sorted(mapKeys(byEpic))
		for _, d := range byEpic {
			keys = append(keys, d.Followups...)
		}
		slices.Sort(keys[len(byEpic):])
		statuses, err = k.Jira.Statuses(ctx, slices.Compact(keys))
		if err != nil {
			return fmt.Errorf("read the epics' and follow-ups' statuses: %w", err)
		}
		if err := k.followupsDone(ctx, byEpic, statuses); err != nil {
			return err
		}
	}
	for _, key := range slices.Sorted(mapKeys(byEpic)) {
		if js, ok := statuses[key]; ok {
			if _, _, err := k.apply(ctx, byEpic[key].Incident, js, store.StatusChange{Source: "sync", At: readAt}); err != nil {
				return err
			}
		}
	}
	return k.Store.StatusSynced(ctx)
}

// followupsDone records how many follow-ups of each post-mortem are done.
// A follow-up Jira no longer shows (deleted) counts as not done.
func (k *Keeper) followupsDone(ctx context.Context, byEpic map[string]store.Deadline, statuses map[string]string) error {
	done := k.doneStatuses(k.Rules())
	for _, key := range slices.Sorted(mapKeys(byEpic)) {
		d := byEpic[key]
		if len(d.Followups) == 0 {
			continue
		}
		n := 0
		for _, fu := range d.Followups {
			if st, ok := statuses[fu]; ok && done[strings.ToLower(st)] {
				n++
			}
		}
		if err := k.Store.SetFollowupsDone(ctx, d.Incident, n); err != nil {
			return err
		}
	}
	return nil
}

// ApplyEpicEvent applies the Jira status an epic had at at, as a webhook
// delivery reported it (delivery: its identifier, the same on every
// retry). It returns the post-mortem's status ("" when the epic is not a
// tracked post-mortem's or its Jira status is not in the rules'
// status_map) and what was done: store.ChangeUpdated, ChangeUnchanged,
// ChangeStale (a newer status was applied since), ChangeDuplicate (the
// delivery was applied before) or ChangeIgnored.
func (k *Keeper) ApplyEpicEvent(ctx context.Context, delivery, key, jiraStatus string, at time.Time) (status, outcome string, err error) {
	id, found, err := k.Store.IncidentOfEpic(ctx, key)
	if err != nil || !found {
		return "", store.ChangeIgnored, err
	}
	return k.apply(ctx, id, jiraStatus, store.StatusChange{Source: "webhook", At: at, Delivery: delivery})
}

// ApplyEpicStatus applies the Jira status of an epic as of now, as a
// webhook delivery without an identifier would: the post-mortem's status
// ("" as for ApplyEpicEvent) and whether it changed.
func (k *Keeper) ApplyEpicStatus(ctx context.Context, key, jiraStatus string) (status string, changed bool, err error) {
	status, outcome, err := k.ApplyEpicEvent(ctx, "", key, jiraStatus, k.now())
	return status, outcome == store.ChangeUpdated, err
}

// apply maps a Jira status to the post-mortem's and applies it as c says
// (c.Status is set here). A move to In Review queues, in the same step,
// the status job of the language review, a move to Reviewed the one that
// asks the customer liaison for the external message. The job's event ID
// names the post-mortem and the status, so however many deliveries and
// syncs report a status, and however often it comes back, it queues one
// job (within store.DedupeTTL).
func (k *Keeper) apply(ctx context.Context, incident, jiraStatus string, c store.StatusChange) (string, string, error) {
	status, ok := k.Rules().StatusMap[jiraStatus]
	if !ok {
		k.Log.Debug("Jira status not in status_map; post-mortem status unchanged", "incident", incident, "jira_status", jiraStatus)
		return "", store.ChangeIgnored, nil
	}
	c.Status = status
	if status == store.StatusInReview || status == store.StatusReviewed {
		body, _ := json.Marshal(map[string]string{"status": status})
		now := k.now()
		c.Job = &store.Delivery{
			EventID: "status-" + incident + "-" + status, EventType: store.EventStatus, IncidentID: incident,
			OccurredAt: now, ReceivedAt: now, Body: body,
		}
	}
	res, err := k.Store.ApplyStatus(ctx, incident, c)
	if err != nil {
		return status, "", err
	}
	switch res.Outcome {
	case store.ChangeUpdated:
		k.Log.Info("post-mortem status changed", "incident", incident, "from", res.Prev, "to", status, "source", c.Source)
	case store.ChangeStale:
		k.Log.Info("post-mortem status change older than the status applied last; ignored", "incident", incident,
			"status", res.Prev, "reported", status, "reported_at", c.At, "source", c.Source)
		status = res.Prev
	case store.ChangeDuplicate, store.ChangeIgnored:
		status = ""
	}
	return status, res.Outcome, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Metrics are the deadlines' metrics. The post-mortems' gauges
// (aftermath_postmortems, aftermath_postmortems_overdue) are the store's,
// read from Redis when scraped (store.Collector).
type Metrics struct {
	reminders         prometheus.Counter
	syncErrors        prometheus.Counter
	followupReminders prometheus.Counter
	dueDates          prometheus.Counter
}

// NewMetrics registers the deadlines' metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reminders:  prometheus.NewCounter(prometheus.CounterOpts{Name: "aftermath_reminders_queued_total", Help: "Reminders the deadline scheduler queued (each once, whatever the number of replicas)."}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "aftermath_status_sync_errors_total", Help: "Status syncs that failed (Jira or Redis); the next interval tries again."}),
		followupReminders: prometheus.NewCounter(prometheus.CounterOpts{Name: "aftermath_followup_reminders_queued_total",
			Help: "Overdue follow-up reminders the scheduler queued (each once, whatever the number of replicas); aftermath_followup_reminders_total says what became of them."}),
		dueDates: prometheus.NewCounter(prometheus.CounterOpts{Name: "aftermath_followup_due_dates_set_total",
			Help: "Due dates the status sync set on follow-ups people added under an epic without one."}),
	}
	if reg != nil {
		reg.MustRegister(m.reminders, m.syncErrors, m.followupReminders, m.dueDates)
	}
	return m
}
