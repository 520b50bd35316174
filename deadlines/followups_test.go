package deadlines

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	clocks "github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// followupJira is the app's adapter (app.FollowupJira), which this package
// cannot import.
type followupJira struct{ *jira.Client }

func (j followupJira) Tickets(ctx context.Context, epics []string) (Reading, error) {
	r, err := j.Client.Tickets(ctx, epics)
	out := Reading{Statuses: r.Statuses, Tickets: map[string][]Ticket{}}
	for epic, ts := range r.Tickets {
		for _, t := range ts {
			out.Tickets[epic] = append(out.Tickets[epic], Ticket{Key: t.Key, Summary: t.Summary, Status: t.Status, Due: t.Due,
				Created: t.Created, AssigneeID: t.Assignee.ID, AssigneeEmail: t.Assignee.Email, AssigneeName: t.Assignee.DisplayName})
		}
	}
	return out, err
}

var bob = jiratest.User{AccountID: "5b10ac8d82e05b22cc7d4e0b", Name: "bob", Email: "bob@example.com", DisplayName: "Bob Builder", Active: true}

const loopRules = `timezone: Europe/Berlin
holidays:
  dates: [2026-12-24, 2026-12-25]
status_map:
  To Do: Draft
  In Review: In Review
  Reviewed: Reviewed
followups:
  due:
    SEV-1: 5 business days
  remind_every: 24h
  max_reminders: 2
`

// The status sync reads every ticket under the epic into the follow-up
// index: aftermath's (with the due date they were created with) and those
// people add. A person's ticket without a due date gets the rules' one
// (5 business days over the Christmas holidays), once, across syncs and a
// second replica; one with a due date is never touched. A ticket done is
// recorded done from the first sync that sees it, a deleted one deleted;
// the reminder schedule follows the due dates as people move them.
func TestSyncKeepsTheFollowupIndex(t *testing.T) {
	ctx := context.Background()
	js, jc, st, _ := syncFixture(t)
	js.AddUser(bob)
	resolved := time.Date(2026, 12, 21, 15, 0, 0, 0, time.UTC) // Monday
	clock := clocks.NewClock(resolved.Add(time.Hour))
	st.WithClock(clock.Now)
	rl, err := rules.Load("r.yaml", []byte(loopRules))
	if err != nil {
		t.Fatal(err)
	}
	due, ok := rl.FollowupDue("SEV-1", resolved)
	// Tue 22, Wed 23, (24, 25 holidays, weekend), Mon 28, Tue 29, Wed 30.
	if want := time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC); !ok || !due.Equal(want) {
		t.Fatalf("due %v, want %v", due, want)
	}
	epic, err := jc.CreateEpic(ctx, jira.Epic{Project: "PM", IssueType: "Epic", Summary: "Post-mortem Q1", Incidents: []string{"Q1"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := jc.CreateFollowups(ctx, epic.Key, "Q1", []jira.Followup{
		{Project: "PM", IssueType: "Task", Summary: "Fix the pool", Due: due}, {Project: "PM", IssueType: "Task", Summary: "Alert on it", Due: due},
	})
	if err != nil || len(res) != 2 {
		t.Fatal(res, err)
	}
	made := []string{res[0].Key, res[1].Key}
	if _, err := st.Register(ctx, store.Postmortem{Incident: "Q1", Key: epic.Key, Severity: "SEV-1", ResolvedAt: resolved,
		MeetingDue: resolved.Add(72 * time.Hour), ReviewDue: resolved.Add(48 * time.Hour), Followups: made}, 5); err != nil {
		t.Fatal(err)
	}
	undated := js.AddChild(epic.Key, "Task", "Runbook for failover", bob.AccountID, bob.AccountID, "")
	dated := js.AddChild(epic.Key, "Bug", "Retry budget", bob.AccountID, "", "2027-01-15")
	newKeeper := func() *Keeper {
		return &Keeper{Store: st, Jira: jc, Followups: followupJira{jc}, Rules: func() *rules.Rules { return rl },
			Log: slog.New(slog.DiscardHandler), Now: clock.Now, Metrics: NewMetrics(nil)}
	}
	k, replica := newKeeper(), newKeeper()
	edits := func() int { return js.Count("PUT /rest/api/2/issue/{issueIdOrKey}") }
	js.ResetCalls()
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := edits(); n != 1 {
		t.Fatalf("%d edits at the first sync, want 1 (the due date of %s)", n, undated.Key)
	}
	if x, _ := js.Issue(undated.Key); x.DueDate != "2026-12-30" {
		t.Fatalf("%s due %q, want 2026-12-30", undated.Key, x.DueDate)
	}
	if x, _ := js.Issue(dated.Key); x.DueDate != "2027-01-15" {
		t.Fatalf("%s due %q: a ticket with a due date was touched", dated.Key, x.DueDate)
	}
	fus := followupsByKey(t, st)
	if len(fus) != 4 {
		t.Fatalf("index = %+v, want 4 tickets", fus)
	}
	if f := fus[undated.Key]; f.Made || !f.Due.Equal(due) || f.Assignee != bob.Email || f.AssigneeName != bob.DisplayName ||
		f.Epic != epic.Key || f.Summary != "Runbook for failover" || f.Status != jiratest.StatusToDo || !f.Open() || f.CreatedAt.IsZero() || !f.SeenAt.Equal(clock.Now()) {
		t.Fatalf("person's ticket = %+v", f)
	}
	if f := fus[made[0]]; !f.Made || !f.Due.Equal(due) || f.Assignee != "" {
		t.Fatalf("aftermath's ticket = %+v", f)
	}
	if at, ok, _ := st.FollowupReminderAt(ctx, "Q1", undated.Key); !ok || !at.Equal(rl.FollowupOverdueAt(due)) {
		t.Fatalf("first reminder at %v %v, want the end of 30 Dec in Berlin", at, ok)
	}
	// Later syncs, by this replica or another, never edit again, even when
	// a person clears the date or Jira's search trails the edit.
	js.SetDueDate(undated.Key, "")
	for _, kk := range []*Keeper{replica, k} {
		clock.Add(10 * time.Minute)
		if err := kk.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := edits(); n != 1 {
		t.Fatalf("%d edits after three syncs, want 1", n)
	}
	if _, ok, _ := st.FollowupReminderAt(ctx, "Q1", undated.Key); ok {
		t.Fatal("a follow-up without a due date is scheduled")
	}
	// Done, deleted, moved later and earlier.
	js.SetStatus(made[0], jiratest.StatusDone)
	js.DeleteIssue(made[1])
	js.SetDueDate(dated.Key, "2026-12-28")
	clock.Add(10 * time.Minute)
	doneAt := clock.Now()
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	fus = followupsByKey(t, st)
	if f := fus[made[0]]; !f.Done || !f.DoneAt.Equal(doneAt) || f.Open() {
		t.Fatalf("done ticket = %+v", f)
	}
	if f := fus[made[1]]; !f.Deleted || f.Open() {
		t.Fatalf("deleted ticket = %+v", f)
	}
	if d, _, _ := st.Deadline(ctx, "Q1"); d.FollowupsDone != 1 {
		t.Fatalf("follow-ups done = %d, want 1", d.FollowupsDone)
	}
	for _, key := range made {
		if _, ok, _ := st.FollowupReminderAt(ctx, "Q1", key); ok {
			t.Fatalf("%s (done or deleted) is still scheduled", key)
		}
	}
	if at, _, _ := st.FollowupReminderAt(ctx, "Q1", dated.Key); !at.Equal(time.Date(2026, 12, 28, 23, 0, 0, 0, time.UTC)) {
		t.Fatalf("moved-earlier ticket's reminder at %v, want the end of 28 Dec in Berlin", at)
	}
	clock.Add(time.Hour)
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if f := followupsByKey(t, st)[made[0]]; !f.DoneAt.Equal(doneAt) {
		t.Fatalf("done at %v, want when first seen done (%v)", f.DoneAt, doneAt)
	}
}

func followupsByKey(t *testing.T, st *store.Store) map[string]store.Followup {
	t.Helper()
	fus, err := st.Followups(context.Background(), "Q1")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Followup{}
	for _, f := range fus {
		out[f.Key] = f
	}
	return out
}

// With the tickets read under the epics, the sync searches no more than
// when it named the follow-ups' keys (30 epics and 60 follow-ups: 2
// searches of at most 50), counts the follow-ups done as before, and puts
// all 60 in the index.
func TestSyncReadingTicketsSearchesAsBefore(t *testing.T) {
	ctx := context.Background()
	js, jc, st, now := syncFixture(t)
	for i := range 30 {
		id := fmt.Sprintf("Q%02d", i)
		epic, err := jc.CreateEpic(ctx, jira.Epic{Project: "PM", IssueType: "Epic", Summary: "Post-mortem " + id, Incidents: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := jc.CreateFollowups(ctx, epic.Key, id, []jira.Followup{
			{Project: "PM", IssueType: "Task", Summary: "Fix " + id}, {Project: "PM", IssueType: "Task", Summary: "Alert " + id},
		})
		if err != nil || len(res) != 2 {
			t.Fatal(res, err)
		}
		if _, err := st.Register(ctx, store.Postmortem{Incident: id, Key: epic.Key, ResolvedAt: now,
			MeetingDue: now.Add(72 * time.Hour), ReviewDue: now.Add(48 * time.Hour), Followups: []string{res[0].Key, res[1].Key}}, 5); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			js.SetStatus(res[0].Key, "Done")
		}
	}
	rl, err := rules.Load("r.yaml", []byte("status_map:\n  To Do: Draft\n  Reviewed: Reviewed\n"))
	if err != nil {
		t.Fatal(err)
	}
	k := &Keeper{Store: st, Jira: jc, Followups: followupJira{jc}, Rules: func() *rules.Rules { return rl },
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }, Metrics: NewMetrics(nil)}
	js.ResetCalls()
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := js.Count("GET /rest/api/2/search/jql") + js.Count("POST /rest/api/2/search/jql"); n != 2 {
		t.Fatalf("%d searches for 30 epics and 60 follow-ups, want 2", n)
	}
	all, err := st.AllFollowups(ctx)
	if err != nil || len(all) != 60 {
		t.Fatalf("%d follow-ups in the index, want 60 (%v)", len(all), err)
	}
	for id, want := range map[string]int{"Q00": 1, "Q01": 1, "Q02": 0} {
		if d, _, _ := st.Deadline(ctx, id); d.FollowupsDone != want {
			t.Errorf("%s: %d done, want %d", id, d.FollowupsDone, want)
		}
	}
}

// A post-mortem Closed with follow-ups still open (the status page step
// closes it at Reviewed, or a person does) keeps its tickets read by the
// sync: one done after the epic closed is recorded done, so it is not
// reminded forever; once none is open, the post-mortem is no longer read.
func TestSyncReadsAClosedPostmortemsOpenFollowups(t *testing.T) {
	ctx := context.Background()
	js, jc, st, _ := syncFixture(t)
	resolved := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	clock := clocks.NewClock(resolved.Add(time.Hour))
	st.WithClock(clock.Now)
	rl, err := rules.Load("r.yaml", []byte(strings.Replace(loopRules, "  Reviewed: Reviewed\n", "  Reviewed: Reviewed\n  Done: Closed\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	epic, err := jc.CreateEpic(ctx, jira.Epic{Project: "PM", IssueType: "Epic", Summary: "Post-mortem Q9", Incidents: []string{"Q9"}})
	if err != nil {
		t.Fatal(err)
	}
	due, _ := rl.FollowupDue("SEV-1", resolved)
	res, err := jc.CreateFollowups(ctx, epic.Key, "Q9", []jira.Followup{{Project: "PM", IssueType: "Task", Summary: "Fix the pool", Due: due}})
	if err != nil || len(res) != 1 {
		t.Fatal(res, err)
	}
	fu := res[0].Key
	if _, err := st.Register(ctx, store.Postmortem{Incident: "Q9", Key: epic.Key, Severity: "SEV-1", ResolvedAt: resolved,
		MeetingDue: resolved.Add(72 * time.Hour), ReviewDue: resolved.Add(48 * time.Hour), Followups: []string{fu}}, 5); err != nil {
		t.Fatal(err)
	}
	k := &Keeper{Store: st, Jira: jc, Followups: followupJira{jc}, Rules: func() *rules.Rules { return rl },
		Log: slog.New(slog.DiscardHandler), Now: clock.Now, Metrics: NewMetrics(nil)}
	sync := func() {
		t.Helper()
		clock.Add(time.Minute)
		if err := k.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	js.SetStatus(epic.Key, jiratest.StatusDone)
	sync()
	if d, _, _ := st.Deadline(ctx, "Q9"); d.Status != store.StatusClosed {
		t.Fatalf("post-mortem %s, want Closed", d.Status)
	}
	js.SetStatus(fu, jiratest.StatusDone)
	sync()
	fus, err := st.Followups(ctx, "Q9")
	if err != nil || len(fus) != 1 {
		t.Fatalf("index of Q9 = %+v, %v", fus, err)
	}
	if f := fus[0]; f.Key != fu || !f.Done || f.Open() {
		t.Fatalf("the follow-up done after its post-mortem closed is %+v, want done", f)
	}
	js.ResetCalls()
	sync()
	if n := len(js.Calls()); n != 0 {
		t.Fatalf("the sync still reads a Closed post-mortem with no open follow-up: %d requests", n)
	}
}

// cancelOnDueDate is the Jira adapter of a sync stopped while it reads a
// ticket's due date: the stop cancels the sync's context.
type cancelOnDueDate struct {
	followupJira
	cancel context.CancelFunc
}

func (c cancelOnDueDate) DueDate(ctx context.Context, key string) (time.Time, bool, error) {
	c.cancel()
	return time.Time{}, false, context.Canceled
}

// A sync that dies between claiming a person's ticket and setting its due
// date never keeps the ticket from getting one: stopped (its context
// cancelled), it still releases the claim and the next sync sets the date;
// killed (nothing after the claim), the claim is a lease of minutes, after
// which a sync sets the date, once.
func TestADeadSyncsDueDateClaimPasses(t *testing.T) {
	js, jc, st, _ := syncFixture(t)
	js.AddUser(bob)
	resolved := time.Date(2026, 12, 21, 15, 0, 0, 0, time.UTC)
	clock := clocks.NewClock(resolved.Add(time.Hour))
	st.WithClock(clock.Now)
	rl, err := rules.Load("r.yaml", []byte(loopRules))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	epic, err := jc.CreateEpic(ctx, jira.Epic{Project: "PM", IssueType: "Epic", Summary: "Post-mortem Q1", Incidents: []string{"Q1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Register(ctx, store.Postmortem{Incident: "Q1", Key: epic.Key, Severity: "SEV-1", ResolvedAt: resolved,
		MeetingDue: resolved.Add(72 * time.Hour), ReviewDue: resolved.Add(48 * time.Hour)}, 5); err != nil {
		t.Fatal(err)
	}
	stopped := js.AddChild(epic.Key, "Task", "Runbook for failover", bob.AccountID, bob.AccountID, "")
	keeper := func(f FollowupJira) *Keeper {
		return &Keeper{Store: st, Jira: jc, Followups: f, Rules: func() *rules.Rules { return rl },
			Log: slog.New(slog.DiscardHandler), Now: clock.Now, Metrics: NewMetrics(nil)}
	}
	dueOf := func(key string) string {
		x, _ := js.Issue(key)
		return x.DueDate
	}

	// Stopped while reading the ticket.
	sctx, cancel := context.WithCancel(ctx)
	_ = keeper(cancelOnDueDate{followupJira{jc}, cancel}).Sync(sctx)
	if d := dueOf(stopped.Key); d != "" {
		t.Fatalf("%s due %q after the stopped sync", stopped.Key, d)
	}
	clock.Add(time.Minute)
	if err := keeper(followupJira{jc}).Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if d := dueOf(stopped.Key); d != "2026-12-30" {
		t.Fatalf("%s due %q after the next sync, want 2026-12-30: the stopped sync kept its claim", stopped.Key, d)
	}

	// Killed right after claiming: the claim is all it left.
	killed := js.AddChild(epic.Key, "Task", "Alert on the pool", bob.AccountID, bob.AccountID, "")
	if ok, err := st.ClaimFollowupDue(ctx, killed.Key, "set"); err != nil || !ok {
		t.Fatalf("the killed sync's claim: %v %v", ok, err)
	}
	edits := func() int { return js.Count("PUT /rest/api/2/issue/{issueIdOrKey}") }
	k := keeper(followupJira{jc})
	clock.Add(time.Minute)
	before := edits()
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if d := dueOf(killed.Key); d != "" || edits() != before {
		t.Fatalf("%s due %q during the killed sync's lease", killed.Key, d)
	}
	// The lease runs out (a real Redis TTL of minutes: expired here).
	expireDueClaims(t, st, killed.Key)
	for range 2 {
		clock.Add(time.Minute)
		if err := k.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := dueOf(killed.Key); d != "2026-12-30" || edits() != before+1 {
		t.Fatalf("%s due %q with %d edits after the lease, want 2026-12-30 set once", killed.Key, d, edits()-before)
	}
}

// expireDueClaims ends the due-date claims on key now, checking first that
// they were leases of at most ten minutes.
func expireDueClaims(t *testing.T, st *store.Store, key string) {
	t.Helper()
	ctx := context.Background()
	rdb := st.Client()
	keys, err := rdb.Keys(ctx, st.Prefix()+":fudue:"+key).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("claims on %s: %v %v", key, keys, err)
	}
	if ttl := rdb.PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > 10*time.Minute {
		t.Fatalf("the claim on %s holds %v, want a lease of at most 10m", key, ttl)
	}
	if err := rdb.PExpire(ctx, keys[0], time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
}
