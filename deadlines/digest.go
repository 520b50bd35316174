package deadlines

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// The managers' digest (rules digest): every keeper queues the job of the
// period that ended last, for the managers and for each team of
// digest.teams; the store queues each once per target and period, however
// many keepers ask and whenever they start (store.QueueDigest). Only the
// period that ended last is ever asked for, so a keeper that was down for
// weeks queues one digest, not a backlog; and the period that ended
// before a target was first seen configured is not sent at all (its first
// digest is the next period's). What the digest says and sending it is the
// workflow's job (workflow/digest.go).

// DigestStore is what queueing digests needs of Redis; a Keeper whose
// Store lacks it queues none.
type DigestStore interface {
	QueueDigest(ctx context.Context, target string, end time.Time, d store.Delivery) (outcome, entry string, err error)
}

// DigestAll is the target of the managers' digest of every team; a team's
// digest's target is its PagerDuty team ID.
const DigestAll = "all"

// DigestTargets are the digests the rules ask for: DigestAll when
// digest.email or digest.slack_webhook_env is set, then every team of
// digest.teams, by ID.
func DigestTargets(rl *rules.Rules) []string {
	var out []string
	if len(rl.Digest.Email) > 0 || rl.Digest.SlackWebhookEnv != "" {
		out = append(out, DigestAll)
	}
	return append(out, slices.Sorted(maps.Keys(rl.Digest.Teams))...)
}

// DigestID is the ID of a digest's job, its event ID and the "incident"
// its record is kept under: digest-all-20261207T0800Z,
// digest-PTEAM01-20261207T0800Z.
func DigestID(target string, end time.Time) string {
	return "digest-" + target + "-" + end.UTC().Format("20060102T1504Z")
}

// digestQueuer returns what Run calls every tick: it asks the store to
// queue each target's digest once per period end, remembering which it
// asked for so that a tick between period ends costs no Redis call.
func (k *Keeper) digestQueuer() func(context.Context) {
	asked := map[string]time.Time{} // target -> period end asked for
	return func(ctx context.Context) {
		ds, ok := k.Store.(DigestStore)
		if !ok {
			return
		}
		rl := k.Rules()
		targets := DigestTargets(rl)
		if len(targets) == 0 {
			return
		}
		start, end := rl.DigestPeriod(k.now())
		for _, target := range targets {
			if asked[target].Equal(end) {
				continue
			}
			if _, err := k.queueDigest(ctx, ds, target, start, end); err != nil {
				if ctx.Err() == nil {
					k.Log.Warn("digest not queued; the next tick tries again", "target", target, "err", err)
				}
				continue
			}
			asked[target] = end
		}
	}
}

// QueueDigests asks the store to queue the digest of the period that ended
// last for every target the rules name, as Run does each period; it
// returns how many this call queued (0 when another keeper, or an earlier
// call, queued them).
func (k *Keeper) QueueDigests(ctx context.Context) (queued int, err error) {
	ds, ok := k.Store.(DigestStore)
	if !ok {
		return 0, nil
	}
	rl := k.Rules()
	start, end := rl.DigestPeriod(k.now())
	for _, target := range DigestTargets(rl) {
		outcome, err := k.queueDigest(ctx, ds, target, start, end)
		if err != nil {
			return queued, err
		}
		if outcome == store.DigestQueued {
			queued++
		}
	}
	return queued, nil
}

func (k *Keeper) queueDigest(ctx context.Context, ds DigestStore, target string, start, end time.Time) (string, error) {
	job := store.DigestJob{Start: start.UTC(), End: end.UTC()}
	if target != DigestAll {
		job.Team = target
	}
	body, _ := json.Marshal(job)
	id, now := DigestID(target, end), k.now()
	outcome, entry, err := ds.QueueDigest(ctx, target, end, store.Delivery{
		EventID: id, EventType: store.EventDigest, IncidentID: id, OccurredAt: end, ReceivedAt: now, Body: body,
	})
	if err != nil {
		return "", err
	}
	switch outcome {
	case store.DigestQueued:
		k.Log.Info("digest queued", "target", target, "period_end", end, "entry", entry)
	case store.DigestBeforeConfigured:
		k.Log.Info("digest configured: the first goes at the end of the current period", "target", target, "last_period_end", end)
	}
	return outcome, nil
}
