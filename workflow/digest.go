package workflow

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// The managers' digest (rules digest). The deadline keepers queue one job
// per period and target (store.EventDigest: deadlines/digest.go); this is
// that job: it gathers the period from the store, never from Jira or
// PagerDuty, and sends it by email and to Slack, each a once write kept
// under the digest's own record (the job's incident ID names the target
// and the period's end), so that no retry, replica or copy of the job
// sends a digest twice.
//
// Everything is counted as of the period's end, so that every attempt
// (and every replica) says the same: a post-mortem's status is the last
// one its history shows by then, a follow-up is done when the sync saw
// it done by then.

// StepDigest names the digest's steps: digest (the trace of what was
// gathered), digest_email and digest_slack (the messages).
const StepDigest = "digest"

// completionWindow is how far back the follow-up completion rate and the
// median time to Reviewed look: the post-mortems first Reviewed in the 90
// days before the period's end.
const completionWindow = 90 * 24 * time.Hour

// DigestStore is what the digest reads: every tracked post-mortem with its
// history, the follow-up index and the recurrence log. The Resolution's
// Store provides it (store.Store); one that does not sends no digest.
type DigestStore interface {
	AllPostmortems(ctx context.Context) ([]store.Deadline, error)
	AllFollowups(ctx context.Context) ([]store.Followup, error)
	Recurrences(ctx context.Context, from, to time.Time) ([]store.Recurrence, error)
}

// digest runs a digest's job.
func (x *run) digest(ctx context.Context) error {
	var job store.DigestJob
	if err := json.Unmarshal(x.body, &job); err != nil || job.End.IsZero() || !job.Start.Before(job.End) {
		return Permanent(fmt.Errorf("digest job %s: not a period: %q", x.id, x.body))
	}
	to, slackEnv := x.rules.Digest.Email, x.rules.Digest.SlackWebhookEnv
	if job.Team != "" {
		t, ok := x.rules.Digest.Teams[job.Team]
		if !ok {
			x.r.Metrics.digest("skipped")
			return x.trace(ctx, StepDigest, store.StepSkipped, "team "+job.Team+" is no longer in the rules' digest.teams", "")
		}
		to, slackEnv = t.Email, t.SlackWebhookEnv
	}
	mail := len(to) > 0 && x.r.Notifier != nil && x.r.Notifier.MailEnabled()
	slack := slackEnv != "" && x.r.Notifier != nil
	reader, ok := x.r.Store.(DigestStore)
	if !mail && !slack || !ok {
		x.r.Metrics.digest("skipped")
		why := "nobody to send it to: no SMTP_ADDR for digest email, no slack_webhook_env"
		if !ok {
			why = "the store cannot read the digest"
		}
		return x.trace(ctx, StepDigest, store.StepSkipped, why, "")
	}
	d, err := gatherDigest(ctx, reader, x.rules, job)
	if err != nil {
		return err
	}
	d.OverviewURL = x.r.OverviewURL
	summary := fmt.Sprintf("%s: opened %d, reviewed %d, overdue %d, follow-ups overdue %d, recurrences %d",
		x.id, len(d.Opened), len(d.Reviewed), len(d.Overdue), len(d.FollowupsOverdue), len(d.Recurrences))
	if err := x.trace(ctx, StepDigest, store.StepDone, summary, ""); err != nil {
		return err
	}
	m := notify.DigestMessage(d)
	var errs []error
	if len(to) > 0 && !mail {
		x.r.Metrics.digest("skipped")
		x.log.Warn("the digest has email recipients but no SMTP relay is configured (SMTP_ADDR)", "digest", x.id)
	}
	if mail {
		e := notify.Email{To: to, Subject: m.Subject, Text: m.Text, HTML: m.HTML}
		errs = append(errs, x.sendDigest(ctx, StepDigest+"_email", fmt.Sprintf("email the digest to %d recipients: %s", len(to), m.Subject), "email",
			func(ctx context.Context) error { return x.r.Notifier.Email(ctx, e) }))
	}
	if slack {
		errs = append(errs, x.sendDigest(ctx, StepDigest+"_slack", "post the digest to Slack ("+slackEnv+"): "+m.Subject, "slack",
			func(ctx context.Context) error { return x.r.Notifier.Slack(ctx, slackEnv, m.Slack) }))
	}
	return retryOnly(errors.Join(errs...))
}

// sendDigest is one of the digest's messages, a once write as notify.go's
// send, counted in aftermath_digests_total: sent, retrying (an attempt
// failed; the job is retried), failed (refused for good: not sent),
// unknown (an earlier attempt may have sent it: not sent again).
func (x *run) sendDigest(ctx context.Context, step, intent, channel string, do func(context.Context) error) error {
	prev, seen, err := x.checkpointOf(ctx, x.id, step)
	switch {
	case err != nil:
		return err
	case seen && prev.Status == store.StepFailed && prev.Refused:
		return nil // refused for good earlier: counted then
	case seen && prev.Status == store.StepDone:
		return nil // sent by an earlier attempt: counted then
	}
	res, err := x.write(ctx, write{incident: x.id, name: step, intent: intent, once: true,
		do: func(ctx context.Context) (string, error) { return "sent", do(ctx) }})
	switch {
	case err != nil && refused(err):
		x.r.Metrics.digest("failed")
		x.r.Metrics.notification(channel, "failed")
		x.log.Error("the digest was refused and will not be sent", "step", step, "err", err)
	case err != nil:
		x.r.Metrics.digest("retrying")
		x.r.Metrics.notification(channel, "failed")
		x.log.Warn("sending the digest failed; retried", "step", step, "err", err)
	case res == MaybeWritten:
		x.r.Metrics.digest("unknown")
		x.r.Metrics.notification(channel, "unknown")
	case res != "":
		x.r.Metrics.digest("sent")
		x.r.Metrics.notification(channel, "sent")
	}
	return err
}

// gatherDigest reads the period of job from the store: the post-mortems of
// job.Team (all when ""), their follow-ups and the recurrences of their
// services.
func gatherDigest(ctx context.Context, st DigestStore, rl *rules.Rules, job store.DigestJob) (notify.Digest, error) {
	pms, err := st.AllPostmortems(ctx)
	if err != nil {
		return notify.Digest{}, err
	}
	fus, err := st.AllFollowups(ctx)
	if err != nil {
		return notify.Digest{}, err
	}
	recs, err := st.Recurrences(ctx, job.Start, job.End)
	if err != nil {
		return notify.Digest{}, err
	}
	return digestOf(rl, job, pms, fus, recs), nil
}

// digestOf is the digest of job's period, as of its end. A team's digest
// holds the post-mortems whose record names the team, the follow-ups of
// those, and the recurrences of those (as the earlier post-mortem).
func digestOf(rl *rules.Rules, job store.DigestJob, pms []store.Deadline, fus []store.Followup, recs []store.Recurrence) notify.Digest {
	start, end := job.Start, job.End
	d := notify.Digest{Start: start, End: end, TZ: rl.Location().String()}
	byIncident := map[string]store.Deadline{}
	for _, pm := range pms {
		if job.Team != "" {
			i := slices.IndexFunc(pm.Teams, func(t store.Team) bool { return t.ID == job.Team })
			if i < 0 {
				continue
			}
			d.Team = cmp.Or(d.Team, pm.Teams[i].Name)
		}
		if opened := openedAt(pm); !opened.IsZero() && !opened.Before(end) {
			continue // made after the period: not there yet as of its end
		}
		byIncident[pm.Incident] = pm
	}
	if job.Team != "" {
		d.Team = cmp.Or(d.Team, job.Team)
	}
	var reviewedLately []store.Deadline
	var toReviewed []float64
	for _, pm := range sortedPostmortems(byIncident) {
		status := statusAt(pm, end)
		row := notify.DigestPostmortem{Key: pm.Key, URL: pm.EpicURL, Number: pm.Number, Title: pm.Title, Severity: pm.Severity,
			Owner: cmp.Or(pm.OwnerName, pm.Owner), Status: status}
		if at := openedAt(pm); !at.Before(start) {
			r := row
			r.At = at
			d.Opened = append(d.Opened, r)
		}
		if at := reviewedAt(pm); !at.IsZero() && at.Before(end) {
			if !at.Before(start) {
				r := row
				r.At = at
				d.Reviewed = append(d.Reviewed, r)
			}
			if !at.Before(end.Add(-completionWindow)) {
				reviewedLately = append(reviewedLately, pm)
				if !pm.ResolvedAt.IsZero() && !at.Before(pm.ResolvedAt) {
					toReviewed = append(toReviewed, at.Sub(pm.ResolvedAt).Hours()/24)
				}
			}
		}
		dl := pm
		dl.Status = status
		if late, n := dl.Overdue(end); late {
			r := row
			r.At, r.DaysLate = pm.MeetingDue, n
			d.Overdue = append(d.Overdue, r)
		}
	}
	slices.SortStableFunc(d.Opened, func(a, b notify.DigestPostmortem) int { return a.At.Compare(b.At) })
	slices.SortStableFunc(d.Reviewed, func(a, b notify.DigestPostmortem) int { return a.At.Compare(b.At) })
	slices.SortStableFunc(d.Overdue, func(a, b notify.DigestPostmortem) int { return a.At.Compare(b.At) })

	digestFollowups(rl, &d, byIncident, reviewedLately, fus, end)
	d.ToReviewed = median(toReviewed)

	digestRecurrences(&d, byIncident, recs, job.Team)
	return d
}

// digestFollowups adds to d the follow-ups overdue at end, oldest first,
// and the completion of the post-mortems reviewed lately.
func digestFollowups(rl *rules.Rules, d *notify.Digest, byIncident map[string]store.Deadline, reviewedLately []store.Deadline, fus []store.Followup, end time.Time) {
	lately := map[string]bool{}
	for _, pm := range reviewedLately {
		lately[pm.Incident] = true
	}
	d.Completion.Postmortems = len(reviewedLately)
	for _, f := range fus {
		pm, ok := byIncident[f.Incident]
		if !ok || f.Deleted {
			continue
		}
		done := doneBy(f, end)
		if lately[f.Incident] {
			d.Completion.Total++
			if done {
				d.Completion.Done++
			}
		}
		if done || f.Due.IsZero() {
			continue
		}
		if over := rl.FollowupOverdueAt(f.Due); !end.Before(over) {
			d.FollowupsOverdue = append(d.FollowupsOverdue, notify.DigestFollowup{Key: f.Key, URL: issueURL(pm, f.Key), Summary: f.Summary,
				Assignee: cmp.Or(f.AssigneeName, f.Assignee), Due: f.Due, DaysLate: lateDays(end, over),
				Postmortem: cmp.Or(f.Epic, pm.Key), PostmortemURL: pm.EpicURL})
		}
	}
	slices.SortStableFunc(d.FollowupsOverdue, func(a, b notify.DigestFollowup) int {
		return cmp.Or(a.Due.Compare(b.Due), strings.Compare(a.Postmortem, b.Postmortem), compareIssueKeys(a.Key, b.Key))
	})
}

// digestRecurrences adds to d the recurrences of the period, of the team's
// post-mortems only in a team's digest.
func digestRecurrences(d *notify.Digest, byIncident map[string]store.Deadline, recs []store.Recurrence, team string) {
	for _, r := range recs {
		pm, ok := byIncident[r.Earlier]
		if !ok && team != "" {
			continue // not one of the team's post-mortems
		}
		d.Recurrences = append(d.Recurrences, notify.DigestRecurrence{Number: r.Number, Title: r.Title, URL: r.URL, Severity: r.Severity,
			Service: r.Service, ResolvedAt: r.ResolvedAt, Earlier: cmp.Or(r.EarlierKey, pm.Key), EarlierURL: pm.EpicURL, Open: r.Open})
	}
}

// sortedPostmortems are the post-mortems by incident ID: a stable order
// for the sorts by time that follow.
func sortedPostmortems(m map[string]store.Deadline) []store.Deadline {
	out := make([]store.Deadline, 0, len(m))
	for _, pm := range m {
		out = append(out, pm)
	}
	slices.SortFunc(out, func(a, b store.Deadline) int { return strings.Compare(a.Incident, b.Incident) })
	return out
}

// openedAt is when the post-mortem was made: its first transition (the
// registration), else when its incident resolved.
func openedAt(pm store.Deadline) time.Time {
	if len(pm.History) > 0 {
		return pm.History[0].At
	}
	return pm.ResolvedAt
}

// reviewedAt is when the post-mortem first reached Reviewed (or Closed
// without it); zero when it has not.
func reviewedAt(pm store.Deadline) time.Time {
	for _, t := range pm.History {
		if t.Status == store.StatusReviewed || t.Status == store.StatusClosed {
			return t.At
		}
	}
	return time.Time{}
}

// statusAt is the post-mortem's status as of at: the last transition by
// then (its current status when the history says nothing).
func statusAt(pm store.Deadline, at time.Time) string {
	status := ""
	for _, t := range pm.History {
		if t.At.After(at) {
			break
		}
		status = t.Status
	}
	return cmp.Or(status, pm.Status)
}

// doneBy says whether the follow-up was done as of at: the sync saw it
// done by then (one done at an unknown time counts as done).
func doneBy(f store.Followup, at time.Time) bool {
	return f.Done && (f.DoneAt.IsZero() || !f.DoneAt.After(at))
}

// lateDays is how many days late something that became overdue at over is
// at at, any part of a day counting as one.
func lateDays(at, over time.Time) int {
	return max(1, int((at.Sub(over)+24*time.Hour-1)/(24*time.Hour)))
}

// issueURL is a follow-up's link: the epic's, with the follow-up's key.
func issueURL(pm store.Deadline, key string) string {
	if pm.Key == "" || !strings.HasSuffix(pm.EpicURL, "/"+pm.Key) {
		return ""
	}
	return strings.TrimSuffix(pm.EpicURL, pm.Key) + key
}

// compareIssueKeys orders Jira keys by project, then number.
func compareIssueKeys(a, b string) int {
	pa, na := splitIssueKey(a)
	pb, nb := splitIssueKey(b)
	return cmp.Or(strings.Compare(pa, pb), cmp.Compare(na, nb), strings.Compare(a, b))
}

func splitIssueKey(k string) (string, int) {
	p, num, ok := strings.Cut(k, "-")
	n := 0
	if !ok {
		return k, 0
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return k, 0
		}
		n = n*10 + int(c-'0')
	}
	return p, n
}

// median of days, to a tenth.
func median(days []float64) notify.DigestMedian {
	if len(days) == 0 {
		return notify.DigestMedian{}
	}
	s := slices.Clone(days)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return notify.DigestMedian{Days: float64(int(m*10+0.5)) / 10, N: len(s)}
}

// digestOutcomes are the values of aftermath_digests_total's outcome.
var digestOutcomes = []string{"sent", "retrying", "failed", "unknown", "skipped"}

func newDigestCounter() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aftermath_digests_total",
		Help: "Messages of the managers' digest by outcome: sent, retrying (an attempt failed; the job is retried), failed (refused for good: not sent), unknown (an earlier attempt may have sent it: not sent again), skipped (nobody to send it to).",
	}, []string{"outcome"})
	for _, o := range digestOutcomes {
		c.WithLabelValues(o)
	}
	return c
}

// digest counts a digest message's outcome; a nil Metrics counts nothing.
func (m *Metrics) digest(outcome string) {
	if m != nil && m.digests != nil {
		m.digests.WithLabelValues(outcome).Inc()
	}
}
