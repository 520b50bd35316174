package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aftermath-dev/aftermath/deadlines"
	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

const digestTestRules = `version: 1
timezone: America/New_York
digest:
  every: monday 09:00
  email: [managers@example.com]
  slack_webhook_env: SLACK_DIGEST
  teams:
    PTEAM1: {email: [payments@example.com]}
`

// digestEnv is the digest as production runs it: a store in the real
// Redis, replicas each running a deadline keeper and a queue worker, the
// SMTP sink and the Slack receiver.
type digestEnv struct {
	t       *testing.T
	r       *redistest.Redis
	st      *store.Store
	clock   *testutil.Clock
	rules   *rules.Rules
	res     *Resolution
	smtp    *notifytest.SMTP
	slack   *notifytest.Slack
	metrics *Metrics
}

func newDigestEnv(t *testing.T, rulesYAML string, at time.Time) *digestEnv {
	t.Helper()
	rl, err := rules.Load("test-rules.yaml", []byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	r := redistest.New(t)
	clock := testutil.NewClock(at)
	e := &digestEnv{t: t, r: r, st: store.New(r.Client, r.Prefix).WithClock(clock.Now), clock: clock, rules: rl,
		smtp: notifytest.NewSMTP(t), slack: notifytest.NewSlack(t), metrics: NewMetrics(prometheus.NewRegistry())}
	cfg := e.smtp.Config()
	cfg.Getenv = func(k string) (string, bool) { return e.slack.URL, k == "SLACK_DIGEST" }
	e.res = &Resolution{Store: e.st, Notifier: notify.New(cfg, nil, nil), Now: clock.Now, Metrics: e.metrics,
		OverviewURL: "https://aftermath.example.com/postmortems"}
	return e
}

// replicas starts n replicas (a keeper and a worker each) until stop.
func (e *digestEnv) replicas(n int, name string) (stop func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var stops []func()
	for i := range n {
		cfg := fast(fmt.Sprintf("%s-%d", name, i))
		cfg.Rules = func() *rules.Rules { return e.rules }
		cfg.RetryHorizon = 10 * 365 * 24 * time.Hour
		stops = append(stops, testutil.Run(e.t, queue.NewWorker(cfg, e.st, e.res, slog.New(slog.DiscardHandler), queue.NewMetrics(nil)).Run))
		k := &deadlines.Keeper{Store: e.st, Rules: func() *rules.Rules { return e.rules }, Consumer: cfg.Consumer,
			Log: slog.New(slog.DiscardHandler), Now: e.clock.Now, Metrics: deadlines.NewMetrics(nil), Tick: 5 * time.Millisecond}
		wg.Add(1)
		go func() { defer wg.Done(); k.Run(ctx) }()
	}
	return func() {
		cancel()
		wg.Wait()
		for _, s := range stops {
			s()
		}
	}
}

// settle waits until the queue is empty and nothing is pending, then a
// little more: time for any replica to queue or send what it should not.
func (e *digestEnv) settle() {
	e.t.Helper()
	time.Sleep(60 * time.Millisecond)
	eventually(e.t, "queue drained", func() bool {
		st, err := e.st.Stats(context.Background())
		return err == nil && st.Length == 0 && st.Pending == 0
	})
	time.Sleep(100 * time.Millisecond)
	if st, _ := e.st.Stats(context.Background()); st.Dead != 0 {
		dl, _ := e.st.DeadLetters(context.Background(), 5)
		e.t.Fatalf("dead letters: %+v", dl)
	}
}

// mailsTo are the mails sent to addr.
func (e *digestEnv) mailsTo(addr string) []notifytest.Mail {
	var out []notifytest.Mail
	for _, m := range e.smtp.Mails() {
		if strings.Join(m.To, ",") == addr {
			out = append(out, m)
		}
	}
	return out
}

var (
	ny, _       = time.LoadLocation("America/New_York")
	digestEnd   = time.Date(2026, 12, 7, 9, 0, 0, 0, ny) // Monday: the week from 30 Nov ends
	digestStart = digestEnd.AddDate(0, 0, -7)
)

// seedDigestWeek tracks four post-mortems, their follow-ups and two
// recurrences, each at its own time on the store's clock:
//
//   - P1 Login outage (SEV-1, team Payments), resolved 23 Nov, still Draft:
//     overdue since its meeting on 26 Nov; follow-ups PM-2 overdue since 30
//     Nov, PM-3 done, PM-4 deleted;
//   - P2 Payments timeouts (SEV-2, team Payments), resolved 28 Oct,
//     Reviewed on 4 Dec; follow-ups PM-6 done, PM-7 due later, PM-8
//     overdue since 1 Dec;
//   - P3 Search latency (SEV-2, team Search), opened 2 Dec, In Review 4 Dec;
//   - P4 DNS failure (SEV-1, no team), resolved 1 Oct, Reviewed 5 Oct, Closed
//     10 Oct; both follow-ups done;
//   - Q4330 recurred on P1's service on 6 Dec; Q4100 on 20 Nov (another
//     period).
func seedDigestWeek(t *testing.T, e *digestEnv) {
	t.Helper()
	ctx := context.Background()
	jira := "https://acme.atlassian.net/browse/"
	payments, search := []store.Team{{ID: "PTEAM1", Name: "Payments"}}, []store.Team{{ID: "PTEAM2", Name: "Search"}}
	track := func(id string, n int, title, sev, key, owner string, teams []store.Team, resolved time.Time, meetingAfter time.Duration) {
		e.clock.Set(resolved.Add(10 * time.Minute))
		pm := store.Postmortem{Incident: id, Number: n, Title: title, URL: "https://acme.pagerduty.com/incidents/" + id, Group: []string{id},
			Severity: sev, Key: key, EpicURL: jira + key, Owner: strings.ToLower(strings.ReplaceAll(owner, " ", ".")) + "@example.com", OwnerName: owner,
			ResolvedAt: resolved, MeetingDue: resolved.Add(meetingAfter), ReviewDue: resolved.Add(meetingAfter - 24*time.Hour),
			Services: []string{"PSVC001"}, Teams: teams}
		if owner == "" {
			pm.Owner = ""
		}
		if _, err := e.st.Register(ctx, pm, 3); err != nil {
			t.Fatal(err)
		}
	}
	status := func(id, s string, at time.Time) {
		e.clock.Set(at)
		if _, _, err := e.st.SetStatus(ctx, id, s, "sync"); err != nil {
			t.Fatal(err)
		}
	}
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	utc := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, time.UTC) }

	track("P4", 4001, "DNS failure", "SEV-1", "PM-10", "Erin Park", nil, utc(10, 1, 12), 72*time.Hour)
	status("P4", store.StatusReviewed, utc(10, 5, 12))
	status("P4", store.StatusClosed, utc(10, 10, 12))
	track("P2", 4250, "Payments timeouts & <retries>", "SEV-2", "PM-5", "Bob Stone", payments, utc(10, 28, 12), 7*24*time.Hour)
	track("P1", 4201, "Login outage", "SEV-1", "PM-1", "Carol Diaz", payments, utc(11, 23, 15), 72*time.Hour)
	track("P3", 4322, "Search latency", "SEV-2", "PM-9", "", search, utc(12, 2, 16), 7*24*time.Hour)
	status("P2", store.StatusReviewed, utc(12, 4, 15))
	status("P3", store.StatusInReview, utc(12, 4, 18))

	save := func(id string, fus ...store.Followup) {
		if err := e.st.SaveFollowups(ctx, id, fus); err != nil {
			t.Fatal(err)
		}
	}
	save("P1",
		store.Followup{Key: "PM-2", Epic: "PM-1", Summary: "Alert on pool saturation", Status: "To Do", Assignee: "dan@example.com", AssigneeName: "Dan Wu", Due: day(2026, 11, 30), Made: true},
		store.Followup{Key: "PM-3", Epic: "PM-1", Summary: "Roll back faster", Status: "Done", Done: true, DoneAt: utc(12, 1, 10), Due: day(2026, 11, 25), Made: true},
		store.Followup{Key: "PM-4", Epic: "PM-1", Summary: "Gone", Deleted: true, Due: day(2026, 11, 25)})
	save("P2",
		store.Followup{Key: "PM-6", Epic: "PM-5", Summary: "Raise the timeout", Status: "Done", Done: true, DoneAt: utc(11, 10, 10), Made: true},
		store.Followup{Key: "PM-7", Epic: "PM-5", Summary: "Split the pool", Status: "In Progress", Assignee: "bob@example.com", Due: day(2026, 12, 20)},
		store.Followup{Key: "PM-8", Epic: "PM-5", Summary: "Load test the <driver>", Status: "To Do", Due: day(2026, 12, 1), Made: true})
	save("P4",
		store.Followup{Key: "PM-11", Epic: "PM-10", Summary: "Second resolver", Status: "Done", Done: true, DoneAt: utc(10, 20, 10)},
		store.Followup{Key: "PM-12", Epic: "PM-10", Summary: "Runbook", Status: "Closed", Done: true})
	for _, r := range []store.Recurrence{
		{Incident: "Q4330", Number: 4330, Title: "checkout 502", URL: "https://acme.pagerduty.com/incidents/Q4330", Severity: "SEV-3", Service: "PSVC001",
			ResolvedAt: utc(12, 6, 12), Earlier: "P1", EarlierKey: "PM-1", Open: []string{"PM-2"}},
		{Incident: "Q4100", Number: 4100, Title: "checkout 502 again", Service: "PSVC001", ResolvedAt: utc(11, 20, 12), Earlier: "P4", EarlierKey: "PM-10", Open: []string{"PM-11"}},
	} {
		if _, err := e.st.RecordRecurrence(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

// The digest across three replicas and a restart: three keepers and three
// workers send the week's digest once to the managers by email and Slack
// (Slack failing once on the way: retried, posted once) and once to the
// Payments team, holding only that team's post-mortems; replicas started
// after it went send nothing more; the week before the digest was
// configured is not sent. Its content is checked against golden files.
func TestDigestOncePerPeriodAcrossReplicasAndRestart(t *testing.T) {
	e := newDigestEnv(t, digestTestRules, digestStart)
	seedDigestWeek(t, e)

	// Installed on Sunday 6 Dec: the week that ended on 30 Nov is not sent.
	e.clock.Set(time.Date(2026, 12, 6, 12, 0, 0, 0, ny))
	stop := e.replicas(3, "a")
	e.settle()
	if n := len(e.smtp.Mails()) + len(e.slack.Posts()); n != 0 {
		t.Fatalf("%d messages before the first period ended", n)
	}

	e.slack.Fail(503)
	e.clock.Set(digestEnd)
	eventually(t, "the digests sent", func() bool {
		return len(e.mailsTo("managers@example.com")) > 0 && len(e.mailsTo("payments@example.com")) > 0 && len(e.slack.Posts()) > 0
	})
	e.settle()
	e.clock.Add(2 * time.Hour)
	e.settle()
	stop()

	// A restart: three new replicas an hour later send nothing more.
	stop = e.replicas(3, "b")
	e.clock.Add(time.Hour)
	e.settle()
	stop()

	managers, team := e.mailsTo("managers@example.com"), e.mailsTo("payments@example.com")
	if len(managers) != 1 || len(team) != 1 || len(e.slack.Posts()) != 1 || len(e.smtp.Mails()) != 2 {
		t.Fatalf("managers got %d mails, the team %d, Slack %d posts (%d mails in all); want one each",
			len(managers), len(team), len(e.slack.Posts()), len(e.smtp.Mails()))
	}
	if r := e.slack.Refused(); len(r) != 0 {
		t.Fatalf("Slack refused: %q", r)
	}
	if got := promtest.ToFloat64(e.metrics.digests.WithLabelValues("sent")); got != 3 {
		t.Errorf("aftermath_digests_total{outcome=sent} = %v, want 3", got)
	}
	if got := promtest.ToFloat64(e.metrics.digests.WithLabelValues("retrying")); got != 1 {
		t.Errorf("aftermath_digests_total{outcome=retrying} = %v, want 1 (Slack's 503)", got)
	}

	text := func(m notifytest.Mail) string {
		parts, err := m.Parts()
		if err != nil || len(parts) != 2 {
			t.Fatalf("%d parts (%v), want text and HTML", len(parts), err)
		}
		return "Subject: " + m.Subject() + "\n\n" + strings.ReplaceAll(string(parts[0].Body), "\r\n", "\n")
	}
	all, payments := text(managers[0]), text(team[0])
	goldenFile(t, "digest-managers.txt", all)
	goldenFile(t, "digest-payments.txt", payments)
	slack, _ := json.MarshalIndent(e.slack.Posts()[0], "", "  ")
	goldenFile(t, "digest-managers.slack.json", string(slack)+"\n")

	// What the goldens must hold, so that an -update cannot bless a wrong
	// count.
	for _, want := range []string{
		"Opened 1, reviewed 1, overdue 1; follow-ups overdue 2; recurrences 1.",
		"Follow-up completion: 3 of 5 done (60%), of the 2 post-mortems Reviewed in the last 90 days.",
		"Median time from resolution to Reviewed: 20.6 days (2 post-mortems Reviewed in the last 90 days).",
		"PM-1 Login outage (#4201, SEV-1): Draft, meeting due Thu 26 Nov 2026, 11 days late; owner Carol Diaz",
		"- PM-2 Alert on pool saturation: due Mon 30 Nov 2026, 7 days late; assignee Dan Wu; post-mortem PM-1",
		"- PM-8 Load test the <driver>: due Tue 1 Dec 2026, 6 days late; assignee nobody; post-mortem PM-5",
		"- PM-9 Search latency (#4322, SEV-2): opened Wed 2 Dec 2026, now In Review; owner nobody",
		"- #4330 checkout 502 (PSVC001, SEV-3)",
		"The overview: https://aftermath.example.com/postmortems",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the managers' digest lacks %q", want)
		}
	}
	if strings.Index(all, "PM-2 Alert") > strings.Index(all, "PM-8 Load") || strings.Contains(all, "#4100") || strings.Contains(all, "PM-7 ") {
		t.Error("the overdue follow-ups are not oldest first, or the digest holds what it should not")
	}
	for _, want := range []string{"(team Payments)", "Opened 0, reviewed 1, overdue 1; follow-ups overdue 2; recurrences 1.",
		"Follow-up completion: 1 of 3 done (33%), of the 1 post-mortem Reviewed in the last 90 days."} {
		if !strings.Contains(payments, want) {
			t.Errorf("the Payments digest lacks %q", want)
		}
	}
	if strings.Contains(payments, "Search latency") || strings.Contains(payments, "DNS failure") {
		t.Error("the Payments digest holds another team's post-mortems")
	}
	if !strings.Contains(managers[0].Data, "Content-Type: text/html") {
		t.Error("the digest has no HTML part")
	}
	// The digest's record: its steps, under its own ID.
	steps := e.stepsOf(deadlines.DigestID(deadlines.DigestAll, digestEnd))
	if steps["digest_email"].Status != store.StepDone || steps["digest_slack"].Status != store.StepDone {
		t.Fatalf("the digest's record: %+v", steps)
	}
	if _, found, err := e.st.IncidentRecord(context.Background(), deadlines.DigestID("PTEAM1", digestEnd)); err != nil || !found {
		t.Fatalf("no record of the team's digest (what GET /api/v1/incidents/{id} shows): %v", err)
	}
}

func (e *digestEnv) stepsOf(id string) map[string]store.StepRecord {
	e.t.Helper()
	st, err := e.st.Steps(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// A digest the relay refuses for good is counted failed (what the alert
// reads), recorded on its step and not tried again; Slack still gets it,
// and a second copy of the job sends nothing.
func TestDigestRefusedIsCountedFailedNotRetried(t *testing.T) {
	e := newDigestEnv(t, digestTestRules, digestEnd.Add(time.Minute))
	e.smtp.RefuseRcpt(550)
	job := store.DigestJob{Start: digestStart.UTC(), End: digestEnd.UTC()}
	id := deadlines.DigestID(deadlines.DigestAll, digestEnd)
	body := fmt.Sprintf(`{"start":%q,"end":%q}`, job.Start.Format(time.RFC3339), job.End.Format(time.RFC3339))
	for range 2 {
		if err := e.res.Process(context.Background(), queue.Job{Attempt: 1, Rules: e.rules,
			Delivery: store.Delivery{EventID: id, EventType: store.EventDigest, IncidentID: id, Body: []byte(body)}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := promtest.ToFloat64(e.metrics.digests.WithLabelValues("failed")); got != 1 {
		t.Errorf("aftermath_digests_total{outcome=failed} = %v, want 1", got)
	}
	if n := len(e.slack.Posts()); n != 1 {
		t.Errorf("%d Slack posts, want 1", n)
	}
	if st := e.stepsOf(id)["digest_email"]; st.Status != store.StepFailed || !st.Refused {
		t.Errorf("the email's step: %+v", st)
	}
	if len(e.smtp.Mails()) != 0 {
		t.Errorf("%d mails delivered", len(e.smtp.Mails()))
	}
	// A job that is not a period changes nothing and is not retried.
	err := e.res.Process(context.Background(), queue.Job{Attempt: 1, Rules: e.rules,
		Delivery: store.Delivery{EventID: "digest-bad", EventType: store.EventDigest, IncidentID: "digest-bad", Body: []byte(`{"end":"soon"}`)}})
	if !IsPermanent(err) {
		t.Fatalf("a bad digest job: %v, want a permanent error", err)
	}
}

// A worker that died after recording the email's intent (it may have sent
// it): the job's next run does not send the email again, counts it
// unknown, and still posts to Slack.
func TestDigestCrashAfterIntentIsNotSentAgain(t *testing.T) {
	e := newDigestEnv(t, digestTestRules, digestEnd.Add(time.Minute))
	id := deadlines.DigestID(deadlines.DigestAll, digestEnd)
	if err := e.st.RecordStep(context.Background(), id, store.StepRecord{Name: "digest_email", Status: store.StepStarted,
		Intent: "email the digest", IntentAt: digestEnd.Add(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"start":%q,"end":%q}`, digestStart.UTC().Format(time.RFC3339), digestEnd.UTC().Format(time.RFC3339))
	if err := e.res.Process(context.Background(), queue.Job{Attempt: 2, Rules: e.rules,
		Delivery: store.Delivery{EventID: id, EventType: store.EventDigest, IncidentID: id, Body: []byte(body)}}); err != nil {
		t.Fatal(err)
	}
	if n, p := len(e.smtp.Mails()), len(e.slack.Posts()); n != 0 || p != 1 {
		t.Fatalf("%d mails and %d Slack posts, want none and one", n, p)
	}
	if got := promtest.ToFloat64(e.metrics.digests.WithLabelValues("unknown")); got != 1 {
		t.Errorf("aftermath_digests_total{outcome=unknown} = %v, want 1", got)
	}
	if st := e.stepsOf(id)["digest_email"]; st.Status != store.StepDone || st.Result != MaybeWritten {
		t.Errorf("the email's step: %+v", st)
	}
}
