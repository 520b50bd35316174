package workflow

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aftermath-dev/aftermath/deadlines"
	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// followupJira is the app's adapter (app.FollowupJira), which workflow's
// tests cannot import.
type followupJira struct{ *jira.Client }

func (j followupJira) Tickets(ctx context.Context, epics []string) (deadlines.Reading, error) {
	r, err := j.Client.Tickets(ctx, epics)
	out := deadlines.Reading{Statuses: r.Statuses, Tickets: map[string][]deadlines.Ticket{}}
	for epic, ts := range r.Tickets {
		for _, t := range ts {
			out.Tickets[epic] = append(out.Tickets[epic], deadlines.Ticket{Key: t.Key, Summary: t.Summary, Status: t.Status, Due: t.Due,
				Created: t.Created, AssigneeID: t.Assignee.ID, AssigneeEmail: t.Assignee.Email, AssigneeName: t.Assignee.DisplayName})
		}
	}
	return out, err
}

// followupEnv is a deadlineEnv whose rules give SEV-1 follow-ups 5
// business days (US holidays), reminded every 24h at most twice, with 3
// keepers reading the tickets under the epics and 3 workers, as 3 replicas
// on one Redis.
type followupEnv struct {
	*deadlineEnv
	reg     *prometheus.Registry
	workers []func()
	n       atomic.Int64
}

func newFollowupEnv(t *testing.T) *followupEnv {
	t.Helper()
	d := newDeadlineEnv(t, "", t0.Add(80*time.Minute), 3)
	src := strings.Replace(d.rulesText, "followups:\n", "followups:\n  due:\n    SEV-1: 5 business days\n  remind_every: 24h\n  max_reminders: 2\n", 1)
	rl, err := rules.Load("test-rules.yaml", []byte(src+"holidays:\n  calendar: us\n"))
	if err != nil {
		t.Fatal(err)
	}
	d.rules = rl
	for _, k := range d.keepers {
		k.Followups = followupJira{d.jc}
	}
	e := &followupEnv{deadlineEnv: d, reg: prometheus.NewRegistry()}
	d.res.Metrics = NewMetrics(e.reg)
	e.workers = []func(){d.stopWorker}
	e.startWorkers(2)
	return e
}

func (e *followupEnv) startWorkers(n int) {
	for range n {
		cfg := e.workerConfig()
		cfg.Consumer = fmt.Sprint("worker-", len(e.workers), "-", e.n.Add(1))
		e.workers = append(e.workers, e.w.start(cfg, e.res))
	}
}

func (e *followupEnv) stopWorkers() {
	for _, stop := range e.workers {
		stop()
	}
	e.workers = nil
}

// sync runs one replica's status sync.
func (e *followupEnv) sync() {
	e.t.Helper()
	if err := e.keepers[int(e.n.Add(1))%3].Sync(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// schedule runs the 3 keepers' follow-up schedulers at once and returns how
// many reminders they queued in all.
func (e *followupEnv) schedule() int {
	e.t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	queued := 0
	for _, k := range e.keepers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := k.ScheduleFollowups(context.Background())
			if err != nil {
				e.t.Errorf("schedule: %v", err)
			}
			mu.Lock()
			queued += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return queued
}

// at sets the clock, syncs, schedules and waits for the reminders.
func (e *followupEnv) at(t time.Time) {
	e.t.Helper()
	e.clock.Set(t)
	e.sync()
	e.schedule()
	e.drain()
}

// reminded counts the reminder comments on each ticket.
func (e *followupEnv) reminded(keys ...string) []int {
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = len(e.comments(k, "this follow-up of post-mortem"))
	}
	return out
}

// endOf is the end of a date in New York (the rules' zone), in UTC.
func endOf(date string) time.Time {
	d, _ := time.Parse(time.DateOnly, date)
	ny, _ := time.LoadLocation("America/New_York")
	return time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, ny).UTC()
}

// The loop of issue 21 against the simulators and a real Redis, with 3
// replicas: the follow-ups are created due 5 business days after the
// resolve, skipping Thanksgiving; a ticket a person adds without a due date
// gets it once, one with a date is untouched. Overdue follow-ups get one
// comment per remind_every up to max_reminders, whatever the number of
// keepers and workers, and though a worker is killed after claiming the
// jobs; a ticket done gets none; a date moved later stops them until it
// passes, one moved earlier brings them sooner; the gauges and counters
// say so.
func TestFollowupRemindersOnceAcrossReplicas(t *testing.T) {
	e := newFollowupEnv(t)
	ctx := context.Background()
	realisticSEV1(e.pdEnv)
	e.resolve("PCHK1")
	epic := e.wantOneEpic()
	var made []string
	for _, is := range e.children(epic.Key) {
		// Resolved Friday 20 Nov: Mon 23, Tue 24, Wed 25, (Thanksgiving
		// Thu 26), Fri 27, Mon 30.
		if is.DueDate != "2026-11-30" {
			t.Fatalf("%s %q due %q, want 2026-11-30", is.Key, is.Summary, is.DueDate)
		}
		made = append(made, is.Key)
	}
	if len(made) != 4 {
		t.Fatalf("%d follow-ups, want 4", len(made))
	}
	done, later, earlier, plain := made[0], made[1], made[2], made[3]
	person := e.jsim.AddChild(epic.Key, "Task", "Add a canary for the driver", alice.id, alice.id, "").Key
	dated := e.jsim.AddChild(epic.Key, "Task", "Capacity review", alice.id, "", "2026-12-15").Key

	e.at(t0.Add(2 * time.Hour))
	if x, _ := e.jsim.Issue(person); x.DueDate != "2026-11-30" {
		t.Fatalf("person's ticket due %q, want the rules' 2026-11-30", x.DueDate)
	}
	if x, _ := e.jsim.Issue(dated); x.DueDate != "2026-12-15" {
		t.Fatalf("dated ticket due %q: touched", x.DueDate)
	}
	e.sync()
	e.sync()
	edits := map[string]int{}
	for _, c := range e.jsim.Calls() {
		if c.Route == "PUT /rest/api/2/issue/{issueIdOrKey}" && !strings.HasSuffix(c.Path, "/"+epic.Key) {
			edits[c.Path[strings.LastIndexByte(c.Path, '/')+1:]]++
		}
	}
	if fmt.Sprint(edits) != fmt.Sprintf("map[%s:1]", person) {
		t.Fatalf("ticket edits %v, want one of %s (its due date, once)", edits, person)
	}
	e.jsim.SetStatus(done, jiratest.StatusDone)
	e.jsim.SetDueDate(later, "2026-12-10")
	e.jsim.SetDueDate(earlier, "2026-11-25")
	tickets := []string{done, later, earlier, plain, person, dated}
	want := func(when string, counts ...int) {
		t.Helper()
		if got := e.reminded(tickets...); fmt.Sprint(got) != fmt.Sprint(counts) {
			t.Fatalf("%s: reminders on done, later, earlier, plain, person, dated = %v, want %v", when, got, counts)
		}
	}
	e.at(endOf("2026-11-25").Add(-time.Minute))
	want("before the earlier date ends", 0, 0, 0, 0, 0, 0)
	e.at(endOf("2026-11-25"))
	want("the earlier date ended", 0, 0, 1, 0, 0, 0)
	e.at(endOf("2026-11-25").Add(24 * time.Hour))
	want("a day later", 0, 0, 2, 0, 0, 0)
	c := e.comments(earlier, "this follow-up of post-mortem")
	if !strings.Contains(c[0], epic.Key) || !strings.Contains(c[0], "#4211 Checkout API returning 502 for 38% of requests") ||
		!strings.Contains(c[0], "was due 2026-11-25 and is 1 day late") || !strings.Contains(c[0], "(reminder 1 of 2)") ||
		!strings.Contains(c[1], "is 2 days late") || !strings.Contains(c[1], "This is the last reminder.") {
		t.Fatalf("reminders = %q", c)
	}

	// The end of 30 Nov: plain and person are overdue. The workers stop;
	// a doomed worker claims the queued jobs and is killed (its context
	// cancelled) before doing them; the replicas' workers come back and
	// reclaim them.
	e.stopWorkers()
	e.clock.Set(endOf("2026-11-30"))
	e.sync()
	if n := e.schedule(); n != 2 {
		t.Fatalf("3 keepers queued %d reminders, want 2", n)
	}
	claimed := make(chan struct{}, 10)
	doomedCfg := e.workerConfig()
	doomedCfg.Consumer = "doomed"
	kill := e.w.start(doomedCfg, queue.ProcessorFunc(func(ctx context.Context, job queue.Job) error {
		claimed <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}))
	select {
	case <-claimed:
	case <-time.After(10 * time.Second):
		t.Fatal("the doomed worker ran no job")
	}
	// Both entries are the doomed worker's (the second waits for the
	// incident's lock, which the first holds).
	eventually(t, "both jobs claimed", func() bool { return e.w.stats().Pending == 2 })
	kill()
	e.startWorkers(3)
	e.drain()
	eventually(t, "the reclaimed reminders", func() bool { return fmt.Sprint(e.reminded(tickets...)) == "[0 0 2 1 1 0]" })
	want("after the kill", 0, 0, 2, 1, 1, 0)
	if p := e.comments(person, "this follow-up of post-mortem"); !strings.HasPrefix(p[0], "[~accountid:acc-alice] ") {
		t.Fatalf("person's reminder = %q, want it to mention the assignee", p[0])
	}
	wantFollowupGauges(t, e.store, 5, 3, 1)

	e.at(endOf("2026-11-30").Add(24 * time.Hour))
	e.at(endOf("2026-11-30").Add(48 * time.Hour))
	want("two days later", 0, 0, 2, 2, 2, 0)
	e.at(endOf("2026-12-10"))
	want("the later date ended", 0, 1, 2, 2, 2, 0)

	// The next reminder of later is queued, then the ticket is done before
	// a worker runs it: no comment.
	e.stopWorkers()
	e.clock.Set(endOf("2026-12-10").Add(24 * time.Hour))
	e.schedule()
	e.jsim.SetStatus(later, jiratest.StatusDone)
	e.sync()
	e.startWorkers(3)
	e.drain()
	e.at(endOf("2026-12-15"))
	want("at the end", 0, 1, 2, 2, 2, 1)
	for _, key := range tickets {
		if n := len(e.comments(key, "aftermath-ref-followup-reminder")); n != e.reminded(key)[0] {
			t.Fatalf("%s: %d marked comments", key, n)
		}
	}
	fus, err := e.store.Followups(ctx, "PCHK1")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fus {
		if f.Key == plain && f.Reminders != 2 {
			t.Fatalf("%s reminders recorded %d, want 2", f.Key, f.Reminders)
		}
	}
	eventually(t, "the skipped reminder counted", func() bool {
		return promtest.ToFloat64(e.res.Metrics.followupReminders.WithLabelValues(fuReminderDone)) == 1
	})
	if sent := promtest.ToFloat64(e.res.Metrics.followupReminders.WithLabelValues(fuReminderSent)); sent != 8 {
		t.Fatalf("aftermath_followup_reminders_total{outcome=\"sent\"} = %v, want 8", sent)
	}
}

// A follow-up reminder whose comment Jira made but whose answer was lost
// (a 504 after the write): the retry finds the comment by its marker.
func TestFollowupReminderWhoseAnswerWasLostCommentsOnce(t *testing.T) {
	e := newFollowupEnv(t)
	realisticSEV1(e.pdEnv)
	e.resolve("PCHK1")
	epic := e.wantOneEpic()
	e.at(t0.Add(2 * time.Hour))
	// One fault: the first reminder comment posted, whichever ticket's it
	// is, is made and its answer lost.
	e.jsim.Inject("POST /rest/api/2/issue/{issueIdOrKey}/comment", jiratest.Fault{Status: 504, AfterApply: true})
	e.at(endOf("2026-11-30"))
	children := e.children(epic.Key)
	if len(children) == 0 {
		t.Fatal("no follow-ups")
	}
	for _, c := range children {
		if n := len(e.comments(c.Key, "this follow-up of post-mortem")); n != 1 {
			t.Fatalf("%s: %d reminders after a lost answer, want 1", c.Key, n)
		}
	}
	eventually(t, "one step found the earlier write", func() bool {
		found := 0
		for _, c := range children {
			step := fmt.Sprintf("followup_reminder_%s_20261130_1", c.Key)
			for _, s := range e.w.record("PCHK1").Steps {
				if s.Name == step && s.Status == store.StepDone && strings.Contains(s.Detail, "found, written by an earlier attempt") {
					found++
				}
			}
		}
		return found == 1
	})
}

// wantFollowupGauges compares aftermath_followups with open, overdue, done.
func wantFollowupGauges(t *testing.T, st *store.Store, open, overdue, done int) {
	t.Helper()
	want := fmt.Sprintf(`# HELP aftermath_followups Follow-up tickets as the status sync last saw them, read from Redis when scraped: open (not done, not deleted), overdue (open and past the end of their due date), done.
# TYPE aftermath_followups gauge
aftermath_followups{state="done"} %d
aftermath_followups{state="open"} %d
aftermath_followups{state="overdue"} %d
`, done, open, overdue)
	if err := promtest.CollectAndCompare(store.NewCollector(st), strings.NewReader(want), "aftermath_followups"); err != nil {
		t.Fatal(err)
	}
}
