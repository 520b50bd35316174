package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/deadlines"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// deadlineEnv is a jiraEnv whose time is a settable clock, with a worker
// running the workflow and n deadline keepers (schedulers and status syncs,
// as n replicas run them).
type deadlineEnv struct {
	*jiraEnv
	clock   *testutil.Clock
	w       *env
	keepers []*deadlines.Keeper
	// stopWorker stops the worker; startWorker starts one again.
	stopWorker func()
}

func newDeadlineEnv(t *testing.T, rulesExtra string, at time.Time, keepers int) *deadlineEnv {
	t.Helper()
	e := newJiraEnv(t, jiratest.Cloud, 10)
	if rulesExtra != "" {
		rl, err := rules.Load("test-rules.yaml", []byte(e.rulesText+rulesExtra))
		if err != nil {
			t.Fatal(err)
		}
		e.rules = rl
	}
	c := testutil.NewClock(at)
	e.store.WithClock(c.Now)
	e.res.Now = c.Now
	d := &deadlineEnv{jiraEnv: e, clock: c, w: &env{t: t, r: e.r, store: e.store}}
	d.stopWorker = d.w.start(d.workerConfig(), e.res)
	m := deadlines.NewMetrics(nil)
	for i := range keepers {
		d.keepers = append(d.keepers, &deadlines.Keeper{Store: e.store, Jira: e.jc, Rules: func() *rules.Rules { return e.rules },
			Consumer: fmt.Sprint("replica-", i), Log: slog.New(slog.DiscardHandler), Now: c.Now, Metrics: m})
	}
	return d
}

func (d *deadlineEnv) workerConfig() queue.Config {
	cfg := fast("worker")
	cfg.Rules = func() *rules.Rules { return d.rules }
	// The jobs' times are the test clock's, weeks before the worker's.
	cfg.RetryHorizon = 10 * 365 * 24 * time.Hour
	return cfg
}

// startWorker starts a worker again after stopWorker.
func (d *deadlineEnv) startWorker() {
	d.stopWorker = d.w.start(d.workerConfig(), d.res)
}

// resolve processes the resolution of incident id through the queue.
func (d *deadlineEnv) resolve(id string) {
	d.t.Helper()
	d.w.enqueue(resolved("E"+id, id))
	d.drain()
}

// drain waits until the queue is empty.
func (d *deadlineEnv) drain() {
	d.t.Helper()
	eventually(d.t, "queue drained", func() bool {
		st := d.w.stats()
		return st.Length == 0 && st.Pending == 0
	})
	if st := d.w.stats(); st.Dead != 0 {
		dl, _ := d.store.DeadLetters(context.Background(), 5)
		d.t.Fatalf("dead letters: %+v", dl)
	}
}

// tick runs every keeper's scheduler at once, as replicas would, then
// waits for the queued reminders to be processed.
func (d *deadlineEnv) tick() {
	d.t.Helper()
	var wg sync.WaitGroup
	for _, k := range d.keepers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := k.Schedule(context.Background()); err != nil {
				d.t.Errorf("schedule: %v", err)
			}
		}()
	}
	wg.Wait()
	d.drain()
}

// comments are the bodies of the epic's comments that contain s.
func (d *deadlineEnv) comments(key, s string) []string {
	is, _ := d.jsim.Issue(key)
	var out []string
	for _, c := range is.Comments {
		if strings.Contains(c.Body, s) {
			out = append(out, c.Body)
		}
	}
	return out
}

func (d *deadlineEnv) deadline(id string) store.Deadline {
	d.t.Helper()
	dl, found, err := d.store.Deadline(context.Background(), id)
	if err != nil || !found {
		d.t.Fatalf("deadline of %s: %v %v", id, found, err)
	}
	return dl
}

// A SEV-1 resolved on a Friday evening: the meeting is due 3 calendar days
// later, Monday evening; the review reminder fires once at review due and
// the overdue ones once each, with 3 schedulers running at once; none
// after the epic reaches Reviewed through the status sync.
func TestRemindersOnceAcrossSchedulersUntilReviewed(t *testing.T) {
	// realisticSEV1 resolves PCHK1 at t0+72m: Friday 20 Nov 2026, 10:12 in New York.
	d := newDeadlineEnv(t, "", t0.Add(80*time.Minute), 3)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	resolvedAt := t0.Add(72 * time.Minute)
	dl := d.deadline("PCHK1")
	if want := resolvedAt.AddDate(0, 0, 3); !dl.MeetingDue.Equal(want) || epic.DueDate != "2026-11-23" || dl.MeetingDue.Weekday() != time.Monday {
		t.Fatalf("meeting due %s (epic due %s), want %s, a Monday", dl.MeetingDue, epic.DueDate, want)
	}
	if dl.Status != store.StatusDraft || dl.NextReminder != store.ReminderReview || dl.Key != epic.Key || dl.OwnerJira != "acc-alice" ||
		dl.Owner != "alice@example.com" || dl.OwnerName != "Alice Ng" {
		t.Fatalf("deadline = %+v", dl)
	}

	d.clock.Set(dl.ReviewDue.Add(-time.Minute))
	d.tick()
	if n := len(d.comments(epic.Key, "due for review")); n != 0 {
		t.Fatalf("%d review reminders before review due", n)
	}
	d.clock.Set(dl.ReviewDue)
	d.tick()
	d.tick()
	review := d.comments(epic.Key, "due for review")
	if len(review) != 1 || !strings.Contains(review[0], "[~accountid:acc-alice]") {
		t.Fatalf("review reminders = %q, want one mentioning the owner", review)
	}
	d.clock.Set(dl.MeetingDue.Add(time.Minute))
	d.tick()
	d.tick()
	if over := d.comments(epic.Key, "meeting was due"); len(over) != 1 || !strings.Contains(over[0], "still Draft") {
		t.Fatalf("overdue reminders = %q", over)
	}

	// Someone moves the epic to Reviewed; the sync of one replica sees it.
	d.jsim.SetStatus(epic.Key, "Reviewed")
	if err := d.keepers[1].Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.drain()
	d.clock.Set(dl.MeetingDue.Add(30 * 24 * time.Hour))
	d.tick()
	if over := d.comments(epic.Key, "meeting was due"); len(over) != 1 {
		t.Fatalf("%d overdue reminders after Reviewed", len(over))
	}
	dl = d.deadline("PCHK1")
	if dl.Status != store.StatusReviewed || len(dl.History) != 2 || dl.History[1].Source != "sync" || len(dl.Reminders) != 2 {
		t.Fatalf("deadline after Reviewed = %+v", dl)
	}
}

// A SEV-2 resolved before Thanksgiving (a holiday in the rules' calendar):
// its meeting, 5 business days later, skips the weekend and the holiday.
func TestSEV2MeetingSkipsTheHoliday(t *testing.T) {
	resolved := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC) // Wednesday before Thanksgiving
	d := newDeadlineEnv(t, "holidays:\n  calendar: us\n", resolved.Add(time.Minute), 1)
	d.incident("PSEV2", "PSVC001", "P2", resolved.Add(-time.Hour), time.Hour)
	d.resolve("PSEV2")
	epic := d.wantOneEpic()
	// Thu 26 (Thanksgiving) and the weekend do not count: Fri 27, Mon 30,
	// Tue 1, Wed 2, Thu 3.
	if dl := d.deadline("PSEV2"); epic.DueDate != "2026-12-03" || dl.MeetingDue.Format("2006-01-02") != "2026-12-03" {
		t.Fatalf("meeting due %s (epic due %s), want 2026-12-03", dl.MeetingDue, epic.DueDate)
	}
}

// A scheduler that claimed a reminder and died before anything else: the
// job is in the queue already, so the reminder fires once, and no other
// scheduler queues it again.
func TestReminderOfADeadSchedulerFiresOnce(t *testing.T) {
	d := newDeadlineEnv(t, "", t0.Add(80*time.Minute), 2)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	dl := d.deadline("PCHK1")
	d.clock.Set(dl.ReviewDue)
	// The dead scheduler's claim: the job is queued with it.
	if _, ok, err := d.store.ClaimDue(context.Background(), "PCHK1", 24*time.Hour, 5); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	d.tick()
	d.tick()
	if n := len(d.comments(epic.Key, "due for review")); n != 1 {
		t.Fatalf("%d review reminders, want 1", n)
	}
}

// An incident resolved a month ago and replayed: one overdue reminder, not
// a backlog of the review and five overdue ones; and at most max_overdue
// of them in all, the last saying so.
func TestReplayedOldIncidentGetsOneOverdueThenTheCap(t *testing.T) {
	d := newDeadlineEnv(t, "reminders:\n  max_overdue: 2\n", t0.AddDate(0, 1, 0), 1)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	d.tick()
	d.tick()
	if n, r := len(d.comments(epic.Key, "meeting was due")), len(d.comments(epic.Key, "due for review")); n != 1 || r != 0 {
		t.Fatalf("%d overdue and %d review reminders, want 1 and 0", n, r)
	}
	for day := 1; day <= 5; day++ {
		d.clock.Set(t0.AddDate(0, 1, day))
		d.tick()
	}
	over := d.comments(epic.Key, "meeting was due")
	if len(over) != 2 || !strings.Contains(over[1], "This is the last reminder.") {
		t.Fatalf("overdue reminders = %q, want 2, the last saying so", over)
	}
}

// The status lifecycle through the Jira webhook: In Review, then Reviewed
// (reminders stop; the customer liaison is asked to post the page's
// external message, once), then Closed (no longer tracked).
func TestStatusLifecycleThroughTheWebhook(t *testing.T) {
	d := newDeadlineEnv(t, "customer_liaison: carol@example.com\n", t0.Add(80*time.Minute), 1)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	k := d.keepers[0]
	ctx := context.Background()
	apply := func(jiraStatus, want string, changed bool) {
		t.Helper()
		got, ch, err := k.ApplyEpicStatus(ctx, epic.Key, jiraStatus)
		if err != nil || got != want || ch != changed {
			t.Fatalf("apply %s: %q %v %v, want %q %v", jiraStatus, got, ch, err, want, changed)
		}
		d.drain()
	}
	apply("In Review", store.StatusInReview, true)
	apply("In Review", store.StatusInReview, false)
	if got, _, _ := k.ApplyEpicStatus(ctx, "PM-999", "Reviewed"); got != "" {
		t.Fatalf("an unknown epic got status %q", got)
	}
	page := epic.Description + "\n"
	page = strings.Replace(page, "h3. External\n", "h3. External\nSome checkouts failed between 14:00 and 15:12 UTC; no order was lost.\n", 1)
	if err := d.jc.SetPage(ctx, epic.Key, page); err != nil {
		t.Fatal(err)
	}
	apply("Reviewed", store.StatusReviewed, true)
	ask := d.comments(epic.Key, "please post its external message")
	if len(ask) != 1 || !strings.Contains(ask[0], "[~accountid:acc-carol]") || !strings.Contains(ask[0], "no order was lost") {
		t.Fatalf("liaison comments = %q", ask)
	}
	d.clock.Set(d.deadline("PCHK1").MeetingDue.Add(time.Hour))
	d.tick()
	if n := len(d.comments(epic.Key, "meeting was due")); n != 0 {
		t.Fatalf("%d overdue reminders after Reviewed", n)
	}
	apply("Done", store.StatusClosed, true)
	if open, _ := d.store.Open(ctx); len(open) != 0 {
		t.Fatalf("open post-mortems after Closed: %v", open)
	}
	dl := d.deadline("PCHK1")
	var path []string
	for _, h := range dl.History {
		path = append(path, h.Status+"/"+h.Source)
	}
	if got := strings.Join(path, ","); got != "Draft/created,In Review/webhook,Reviewed/webhook,Closed/webhook" {
		t.Fatalf("history = %s", got)
	}
}

// A customer liaison with no Jira user is named by the address from the
// rules, escaped for wiki markup: "_ops_" would otherwise turn italic and
// "+" strike through, so the liaison could not be read from the comment.
func TestLiaisonWithoutJiraUserIsNamedEscaped(t *testing.T) {
	d := newDeadlineEnv(t, "customer_liaison: cs_ops+status-page@example.com\n", t0.Add(80*time.Minute), 1)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	page := strings.Replace(epic.Description+"\n", "h3. External\n", "h3. External\nSome checkouts failed; no order was lost.\n", 1)
	if err := d.jc.SetPage(context.Background(), epic.Key, page); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.keepers[0].ApplyEpicStatus(context.Background(), epic.Key, "Reviewed"); err != nil {
		t.Fatal(err)
	}
	d.drain()
	ask := d.comments(epic.Key, "please post its external message")
	if len(ask) != 1 || !strings.HasPrefix(ask[0], `cs\_ops\+status-page@example.com this post-mortem is Reviewed`) {
		t.Fatalf("liaison comments = %q", ask)
	}
}

// A reminder's comment that Jira made but whose answer was lost (a 504
// after the write): the job is retried, finds the comment by its marker,
// and the epic has one reminder.
func TestReminderWhoseAnswerWasLostCommentsOnce(t *testing.T) {
	d := newDeadlineEnv(t, "", t0.Add(80*time.Minute), 1)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	d.clock.Set(d.deadline("PCHK1").ReviewDue)
	d.jsim.Inject("POST /rest/api/2/issue/{issueIdOrKey}/comment", jiratest.Fault{Status: 504, AfterApply: true})
	d.tick()
	if n := len(d.comments(epic.Key, "due for review")); n != 1 {
		t.Fatalf("%d review reminders after a lost answer, want 1", n)
	}
	if n := d.jsim.Count("POST /rest/api/2/issue/{issueIdOrKey}/comment"); n != 1 {
		t.Fatalf("%d comment requests, want 1: the retry must find the first", n)
	}
	rec := d.w.record("PCHK1")
	var step store.StepRecord
	for _, s := range rec.Steps {
		if s.Name == "reminder_review_1" {
			step = s
		}
	}
	if step.Status != store.StepDone || !strings.Contains(step.Detail, "found, written by an earlier attempt") {
		t.Fatalf("step reminder_review_1 = %+v", step)
	}
	if dl := d.deadline("PCHK1"); len(dl.Reminders) != 1 {
		t.Fatalf("reminders recorded: %+v", dl.Reminders)
	}
}

// A reminder already queued when the epic moves to Reviewed (or Closed) is
// not sent: the job reads the status when it runs.
func TestReminderQueuedBeforeReviewedIsNotSent(t *testing.T) {
	for _, jiraStatus := range []string{"Reviewed", "Done"} {
		t.Run(jiraStatus, func(t *testing.T) {
			d := newDeadlineEnv(t, "", t0.Add(80*time.Minute), 1)
			realisticSEV1(d.pdEnv)
			d.resolve("PCHK1")
			epic := d.wantOneEpic()
			ctx := context.Background()
			d.stopWorker()
			dl := d.deadline("PCHK1")
			d.clock.Set(dl.MeetingDue.Add(time.Minute))
			// The scheduler queues the review, then the first overdue
			// reminder, both due.
			for i, want := range []int{1, 1, 0} {
				if n, err := d.keepers[0].Schedule(ctx); err != nil || n != want {
					t.Fatalf("schedule %d: %d %v, want %d", i, n, err, want)
				}
			}
			if st := d.w.stats(); st.Length != 2 {
				t.Fatalf("queue: %+v, want the reminders' jobs", st)
			}
			if _, changed, err := d.keepers[0].ApplyEpicStatus(ctx, epic.Key, jiraStatus); err != nil || !changed {
				t.Fatalf("apply %s: %v %v", jiraStatus, changed, err)
			}
			d.startWorker()
			d.drain()
			if n := len(d.comments(epic.Key, "due for review")) + len(d.comments(epic.Key, "meeting was due")); n != 0 {
				t.Fatalf("%d reminders after %s", n, jiraStatus)
			}
			eventually(t, "both reminders skipped", func() bool {
				skipped := 0
				for _, s := range d.w.record("PCHK1").Steps {
					if (s.Name == "reminder_review_1" || s.Name == "reminder_overdue_1") && s.Status == store.StepSkipped && strings.Contains(s.Detail, "no more reminders") {
						skipped++
					}
				}
				return skipped == 2
			})
		})
	}
}

// The issue's case: a Reviewed that was wrong (a webhook replayed before
// any newer status) stopped the reminders; the real status comes back
// (In Review) and so do the reminders, from where they stopped: the
// review reminder already sent is not sent again, the overdue ones come.
func TestReopenedPostmortemGetsItsRemindersBack(t *testing.T) {
	d := newDeadlineEnv(t, "", t0.Add(80*time.Minute), 1)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	ctx := context.Background()
	k := d.keepers[0]
	dl := d.deadline("PCHK1")
	d.clock.Set(dl.ReviewDue)
	d.tick()
	if n := len(d.comments(epic.Key, "due for review")); n != 1 {
		t.Fatalf("%d review reminders", n)
	}
	at := d.clock.Now()
	if _, outcome, err := k.ApplyEpicEvent(ctx, "d-wrong", epic.Key, "Reviewed", at.Add(time.Second)); err != nil || outcome != store.ChangeUpdated {
		t.Fatalf("Reviewed: %s %v", outcome, err)
	}
	d.drain()
	d.clock.Set(dl.MeetingDue.Add(time.Hour))
	d.tick()
	if n := len(d.comments(epic.Key, "meeting was due")); n != 0 {
		t.Fatalf("%d overdue reminders while Reviewed", n)
	}
	if _, outcome, err := k.ApplyEpicEvent(ctx, "d-reopen", epic.Key, "In Review", d.clock.Now()); err != nil || outcome != store.ChangeUpdated {
		t.Fatalf("In Review: %s %v", outcome, err)
	}
	d.drain()
	d.tick()
	d.tick()
	over := d.comments(epic.Key, "meeting was due")
	if len(over) != 1 || !strings.Contains(over[0], "still In Review") || !strings.Contains(over[0], "reminder 1") {
		t.Fatalf("overdue reminders after the reopen = %q, want the first", over)
	}
	d.clock.Set(dl.MeetingDue.Add(25 * time.Hour))
	d.tick()
	if n, r := len(d.comments(epic.Key, "meeting was due")), len(d.comments(epic.Key, "due for review")); n != 2 || r != 1 {
		t.Fatalf("%d overdue and %d review reminders a day later, want 2 and 1", n, r)
	}
}
