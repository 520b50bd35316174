package deadlines

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// The follow-up side of the status sync: every ticket under each open
// post-mortem's epic (those aftermath made and those people added) goes into
// the follow-up index and the reminder schedule; a ticket a person added
// without a due date gets the rules' one, once.

// FollowupJira is what the follow-up side of the status sync needs of Jira.
type FollowupJira interface {
	// Tickets reads the epics and every ticket under them, in as few
	// searches as their number allows.
	Tickets(ctx context.Context, epics []string) (Reading, error)
	// DueDate reads one ticket's due date from the ticket itself.
	DueDate(ctx context.Context, key string) (time.Time, bool, error)
	SetDueDate(ctx context.Context, key string, due time.Time) error
}

// Reading is what one reading of the epics found.
type Reading struct {
	Statuses map[string]string   // by epic; an epic Jira no longer shows is missing
	Tickets  map[string][]Ticket // by epic
}

// Ticket is a ticket under an epic, as read.
type Ticket struct {
	Key, Summary, Status string
	Due                  time.Time // midnight UTC; zero: none
	// AssigneeID is the Jira user ID, AssigneeEmail its email where Jira
	// shows it, AssigneeName the display name; all "" when unassigned.
	AssigneeID, AssigneeEmail, AssigneeName string
	Created                                 time.Time
}

// doneStatuses are the Jira statuses that count a follow-up as done, in
// lower case.
func (k *Keeper) doneStatuses(rl *rules.Rules) map[string]bool {
	names := k.DoneStatuses
	if names == nil {
		names = DefaultDoneStatuses
	}
	done := map[string]bool{}
	for _, s := range names {
		done[strings.ToLower(s)] = true
	}
	for js, status := range rl.StatusMap {
		if status == store.StatusClosed {
			done[strings.ToLower(js)] = true
		}
	}
	return done
}

// syncFollowups records what the reading found under each epic.
func (k *Keeper) syncFollowups(ctx context.Context, byEpic map[string]store.Deadline, r Reading) error {
	rl := k.Rules()
	done := k.doneStatuses(rl)
	for _, epic := range slices.Sorted(mapKeys(byEpic)) {
		if err := k.syncEpicFollowups(ctx, rl, done, byEpic[epic], r.Tickets[epic]); err != nil {
			return err
		}
	}
	return nil
}

func (k *Keeper) syncEpicFollowups(ctx context.Context, rl *rules.Rules, done map[string]bool, d store.Deadline, tickets []Ticket) error {
	now := k.now()
	prevList, err := k.Store.Followups(ctx, d.Incident)
	if err != nil {
		return err
	}
	prev := map[string]store.Followup{}
	for _, f := range prevList {
		prev[f.Key] = f
	}
	seen := map[string]bool{}
	var recs []store.Followup
	madeDone := 0
	for _, t := range tickets {
		seen[t.Key] = true
		p, known := prev[t.Key]
		f := store.Followup{
			Key: t.Key, Epic: d.Key, Summary: t.Summary, Status: t.Status, Done: done[strings.ToLower(t.Status)],
			Assignee: cmp.Or(t.AssigneeEmail, t.AssigneeID), AssigneeName: t.AssigneeName, Due: t.Due,
			Made: p.Made || slices.Contains(d.Followups, t.Key), CreatedAt: t.Created, SeenAt: now, Reminders: p.Reminders,
		}
		if f.Done {
			f.DoneAt = now
			if known && p.Done && !p.DoneAt.IsZero() {
				f.DoneAt = p.DoneAt
			}
			if f.Made {
				madeDone++
			}
		}
		if !f.Made && !f.Done {
			if due, set := k.dueOnce(ctx, rl, d, t); set {
				f.Due = due
			}
		}
		recs = append(recs, f)
	}
	for _, key := range slices.Sorted(mapKeys(prev)) {
		if p := prev[key]; !seen[key] && !p.Deleted {
			p.Deleted = true
			recs = append(recs, p)
		}
	}
	plans := make([]store.FollowupPlan, 0, len(recs))
	for _, f := range recs {
		p := store.FollowupPlan{Key: f.Key, State: store.FollowupOpen, Due: f.Due}
		switch {
		case f.Deleted:
			p.State = store.FollowupDeleted
		case f.Done:
			p.State = store.FollowupDone
		}
		if !f.Due.IsZero() {
			p.OverdueAt = rl.FollowupOverdueAt(f.Due)
		}
		plans = append(plans, p)
	}
	if err := k.Store.RecordFollowups(ctx, d.Incident, recs, plans, rl.Followups.MaxReminders); err != nil {
		return err
	}
	if len(d.Followups) > 0 {
		return k.Store.SetFollowupsDone(ctx, d.Incident, madeDone)
	}
	return nil
}

// dueOnce gives a ticket a person added under the epic the rules' due date
// (followups.due for the post-mortem's severity, from its resolution), the
// first time the sync sees it open, and only when it has none: a ticket with a
// due date is never touched. Once per ticket across syncs and replicas (a
// claim in Redis, a lease of minutes until the date is set, then for good);
// the ticket itself is read right before the write, so that a date set
// since the search, by a person or an earlier attempt, is kept. A failed
// write is logged and tried again at the next sync; it does not fail the
// sync. A sync that dies between the claim and the write leaves the ticket
// to the first sync after the lease.
func (k *Keeper) dueOnce(ctx context.Context, rl *rules.Rules, d store.Deadline, t Ticket) (time.Time, bool) {
	due, ok := rl.FollowupDue(d.Severity, d.ResolvedAt)
	how := "set"
	switch {
	case !t.Due.IsZero():
		how = "had"
	case !ok:
		how = "none"
	}
	log := k.Log.With("incident", d.Incident, "ticket", t.Key)
	claimed, err := k.Store.ClaimFollowupDue(ctx, t.Key, how)
	if err != nil || !claimed || how != "set" {
		if err != nil {
			log.Warn("could not claim the follow-up's due date; the next sync tries again", "err", err)
		}
		return time.Time{}, false
	}
	release := func(err error) {
		log.Warn("could not set the due date of a follow-up a person added; the next sync tries again", "err", err)
		// Released even when the sync is stopping (else the lease).
		if rerr := k.Store.ReleaseFollowupDue(context.WithoutCancel(ctx), t.Key); rerr != nil {
			log.Warn("could not release the claim on the due date; a sync after the lease tries again", "err", rerr)
		}
	}
	settle := func() {
		if err := k.Store.SettleFollowupDue(context.WithoutCancel(ctx), t.Key); err != nil {
			log.Warn("could not record that the due date is set; a sync after the lease reads the ticket again", "err", err)
		}
	}
	has, found, err := k.Followups.DueDate(ctx, t.Key)
	switch {
	case err != nil:
		release(err)
		return time.Time{}, false
	case found:
		settle()
		return has, true
	}
	if err := k.Followups.SetDueDate(ctx, t.Key, due); err != nil {
		release(err)
		return time.Time{}, false
	}
	settle()
	k.Metrics.dueDates.Inc()
	log.Info("due date set on a follow-up a person added", "due", due.Format(time.DateOnly))
	return due, true
}

// ScheduleFollowups queues the overdue follow-ups' reminders that are due:
// one Redis call when none is.
func (k *Keeper) ScheduleFollowups(ctx context.Context) (queued int, err error) {
	rl := k.Rules()
	every, most := time.Duration(rl.Followups.RemindEvery), rl.Followups.MaxReminders
	for {
		members, err := k.Store.NextFollowupReminders(ctx, 100)
		if err != nil || len(members) == 0 {
			return queued, err
		}
		for _, m := range members {
			outcome, entry, err := k.Store.ClaimFollowupReminder(ctx, m, every, most)
			if err != nil {
				return queued, err
			}
			switch outcome {
			case store.ReminderQueued:
				queued++
				k.Metrics.followupReminders.Inc()
				k.Log.Info("follow-up reminder queued", "followup", m, "entry", entry)
			case store.ReminderDone, store.ReminderCapped, store.ReminderUnknown:
				k.Log.Debug("follow-up leaves the reminder schedule", "followup", m, "why", outcome)
			}
		}
		if len(members) < 100 {
			return queued, nil
		}
	}
}
