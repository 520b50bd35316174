package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aftermath-dev/aftermath/app"
	"github.com/aftermath-dev/aftermath/catchup"
	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/store"
)

// ErrNoRedisURL says a command that queues work has no Redis to queue it
// in: an embedded one would vanish with the command.
var ErrNoRedisURL = errors.New("REDIS_URL is not set: replay queues into the Redis your serve processes read; set it to theirs (and AFTERMATH_REDIS_PREFIX if you changed it)")

// ReplayOptions say what to replay: one incident, every unrecorded
// resolution in the last Since, or the dead letters.
type ReplayOptions struct {
	Incident    string
	Since       time.Duration
	Yes         bool // queue what Since finds, instead of only listing it
	DeadLetters bool // queue every dead letter again
	Now         func() time.Time
}

// Replay queues resolutions whose webhook was missed through the same queue
// and dedupe as a webhook, for the serve processes to work on. A resolution
// aftermath already knows of is reported and left alone.
func Replay(ctx context.Context, cfg config.Config, o ReplayOptions, stdout io.Writer, log *slog.Logger) error {
	if cfg.RedisURL == "" {
		return ErrNoRedisURL
	}
	if cfg.PagerDutyAPIToken == "" && !o.DeadLetters {
		return ErrNoPagerDutyToken
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rdb, err := app.NewCommandRedis(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	st := store.New(rdb, cfg.RedisPrefix)
	if err := st.Ping(ctx); err != nil {
		return fmt.Errorf("redis at REDIS_URL does not answer: %w", err)
	}
	if o.DeadLetters {
		return replayDeadLetters(ctx, st, stdout)
	}
	pd := app.NewPagerDuty(cfg, log, app.SharedPacer(st, "pagerduty", log))
	if o.Incident != "" {
		return replayIncident(ctx, pd, st, o, stdout)
	}
	return replaySince(ctx, pd, st, o, stdout)
}

func replayIncident(ctx context.Context, pd catchup.PagerDuty, st catchup.Queue, o ReplayOptions, stdout io.Writer) error {
	out, err := catchup.Enqueue(ctx, pd, st, o.Incident, o.Now())
	switch {
	case pagerduty.IsNotFound(err):
		return fmt.Errorf("incident %s: PagerDuty has no such incident (404): check the ID (e.g. Q1ABCDEF from the incident's URL) and that the token's account holds it", o.Incident)
	case err != nil:
		return fmt.Errorf("replay incident %s: %w", o.Incident, err)
	}
	fmt.Fprintf(stdout, "%s: incident %s %q, resolved %s\n", describe(out), out.IncidentID, out.Title, out.ResolvedAt.UTC().Format(time.RFC3339))
	return nil
}

// describe says what happened to one resolution, for people.
func describe(o catchup.Outcome) string {
	switch o.Known {
	case "":
		return "queued (entry " + o.EntryID + ")"
	case store.KnownRecorded:
		return "already known, not queued: processing has recorded its resolution"
	case store.KnownQueued:
		return "already known, not queued: its resolution is queued or was in the last 72 hours (entry " + o.EntryID + ")"
	}
	return "already known (" + o.Known + "), not queued"
}

func replaySince(ctx context.Context, pd catchup.PagerDuty, st catchup.Queue, o ReplayOptions, stdout io.Writer) error {
	until := o.Now()
	since := until.Add(-o.Since)
	rs, err := catchup.Unrecorded(ctx, pd, st, since, until)
	if err != nil {
		return fmt.Errorf("list resolutions since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	fmt.Fprintf(stdout, "%d incidents resolved since %s that aftermath has no record of\n", len(rs), since.UTC().Format(time.RFC3339))
	for _, r := range rs {
		fmt.Fprintf(stdout, "  %s  resolved %s  %s\n", r.IncidentID, r.At.UTC().Format(time.RFC3339), r.Summary)
	}
	if len(rs) == 0 {
		return nil
	}
	if !o.Yes {
		fmt.Fprintln(stdout, "Nothing queued: run again with --yes to queue them.")
		return nil
	}
	var errs []error
	queued := 0
	for _, r := range rs {
		out, err := catchup.Enqueue(ctx, pd, st, r.IncidentID, o.Now())
		if err != nil {
			errs = append(errs, fmt.Errorf("replay incident %s: %w", r.IncidentID, err))
			continue
		}
		if out.Queued() {
			queued++
		}
		fmt.Fprintf(stdout, "%s: %s\n", r.IncidentID, describe(out))
	}
	fmt.Fprintf(stdout, "%d of %d queued\n", queued, len(rs))
	return errors.Join(errs...)
}

// replayDeadLetters queues every dead letter there is when it starts again,
// oldest first, each as a new entry whose retry horizon starts now, and
// removes it from the dead-letter stream in the same step: a second run
// queues nothing twice, and an entry dead-lettered again meanwhile waits
// for the next run.
func replayDeadLetters(ctx context.Context, st *store.Store, stdout io.Writer) error {
	newest, err := st.DeadLetters(ctx, 1)
	if err != nil {
		return err
	}
	n, after := 0, ""
	for len(newest) > 0 {
		dl, err := st.DeadLettersAfter(ctx, after, 100)
		if err != nil {
			return err
		}
		for _, d := range dl {
			if store.CompareIDs(d.ID, newest[0].ID) > 0 {
				fmt.Fprintf(stdout, "%d dead letters queued again\n", n)
				return nil
			}
			after = d.ID
			id, err := st.Redrive(ctx, d.ID)
			if errors.Is(err, store.ErrNoDeadLetter) {
				continue // another replay took it
			}
			if err != nil {
				return err
			}
			n++
			fmt.Fprintf(stdout, "queued %s (incident %s, %s) as entry %s; it had failed: %s\n", d.ID, d.IncidentID, d.EventType, id, d.Reason)
		}
		if len(dl) < 100 {
			break
		}
	}
	fmt.Fprintf(stdout, "%d dead letters queued again\n", n)
	return nil
}
