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
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	clocks "github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// syncFixture is a Jira Cloud simulator with the project PM, a client for
// it, and a store under the test's prefix whose time stands at now.
func syncFixture(t *testing.T) (*jiratest.Server, *jira.Client, *store.Store, time.Time) {
	t.Helper()
	js := jiratest.New(t, jiratest.Cloud)
	js.AddProject(jiratest.Project{Key: "PM", Name: "Post-mortems"})
	log := slog.New(slog.DiscardHandler)
	jc, err := jira.New(jira.Config{BaseURL: js.URL(), Deployment: jira.Cloud, Email: js.Email(), APIToken: js.APIToken()}, log,
		jira.NewHTTPClient(outbound.Config{RequestsPerMinute: 60000, Burst: 200}, nil, log))
	if err != nil {
		t.Fatal(err)
	}
	r := redistest.New(t)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	return js, jc, store.New(r.Client, r.Prefix).WithClock(func() time.Time { return now }), now
}

// The status sync reads 120 open post-mortems in 3 searches (50 a
// request), applies each change through the rules' status_map, ignores
// statuses the map does not name, and counts the post-mortems by status.
func TestSyncReadsFiftyEpicsASearch(t *testing.T) {
	ctx := context.Background()
	js, jc, st, now := syncFixture(t)
	log := slog.New(slog.DiscardHandler)
	for i := range 120 {
		id := fmt.Sprintf("Q%03d", i)
		epic, err := jc.CreateEpic(ctx, jira.Epic{Project: "PM", IssueType: "Epic", Summary: "Post-mortem " + id, Incidents: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		resolved := now.Add(-time.Duration(i) * time.Hour) // the first 72 are within their 3 days
		if _, err := st.Register(ctx, store.Postmortem{Incident: id, Key: epic.Key, ResolvedAt: resolved,
			MeetingDue: resolved.Add(72 * time.Hour), ReviewDue: resolved.Add(48 * time.Hour)}, 5); err != nil {
			t.Fatal(err)
		}
		switch {
		case i < 10:
			js.SetStatus(epic.Key, "In Review")
		case i < 15:
			js.SetStatus(epic.Key, "Reviewed")
		case i < 20:
			js.SetStatus(epic.Key, "In Progress") // maps to Draft: unchanged
		}
	}
	rl, err := rules.Load("r.yaml", []byte("status_map:\n  To Do: Draft\n  In Progress: Draft\n  In Review: In Review\n  Reviewed: Reviewed\n"))
	if err != nil {
		t.Fatal(err)
	}
	// A minute after the registrations: a sync reads Jira as of the
	// search's lag ago, and is not believed over newer changes.
	syncAt := now.Add(time.Minute)
	k := &Keeper{Store: st, Jira: jc, Rules: func() *rules.Rules { return rl }, Log: log, Now: func() time.Time { return syncAt }, Metrics: NewMetrics(nil)}
	js.ResetCalls()
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// The epics this client just created are reconciled (POST).
	if n := js.Count("GET /rest/api/2/search/jql") + js.Count("POST /rest/api/2/search/jql"); n != 3 {
		t.Fatalf("%d searches for 120 epics, want 3", n)
	}
	counts := map[string]int{}
	for i := range 120 {
		d, _, _ := st.Deadline(ctx, fmt.Sprintf("Q%03d", i))
		counts[d.Status]++
	}
	if counts[store.StatusInReview] != 10 || counts[store.StatusReviewed] != 5 || counts[store.StatusDraft] != 105 {
		t.Fatalf("statuses = %v", counts)
	}
	// The gauges, as every replica reads them: past their meeting
	// (resolved more than 72 hours ago) and still Draft, 47.
	if g, err := st.PostmortemStats(ctx); err != nil || g.Overdue != 47 || g.ByStatus[store.StatusDraft] != 105 ||
		g.ByStatus[store.StatusInReview] != 10 || g.ByStatus[store.StatusReviewed] != 5 {
		t.Fatalf("gauges: %+v %v", g, err)
	}
	if last, err := st.LastStatusSync(ctx); err != nil || !last.Equal(now) { // the store's clock
		t.Fatalf("last sync = %v %v", last, err)
	}
	// Done is not in this map: an epic moved there changes nothing.
	js.SetStatus("PM-1", "Done")
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := st.Deadline(ctx, "Q000"); d.Status != store.StatusInReview {
		t.Fatalf("Q000 = %s after an unmapped status", d.Status)
	}
}

// The sync reads the follow-ups' statuses in the same searches as the
// epics' (30 epics and 60 follow-ups: 2 searches of at most 50) and records
// how many of each post-mortem's are done: a status of the keeper's done
// list (whatever the case) or one the status_map maps to Closed.
func TestSyncCountsFollowupsDone(t *testing.T) {
	ctx := context.Background()
	js, jc, st, now := syncFixture(t)
	log := slog.New(slog.DiscardHandler)
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
		fus := []string{res[0].Key, res[1].Key}
		if _, err := st.Register(ctx, store.Postmortem{Incident: id, Key: epic.Key, ResolvedAt: now,
			MeetingDue: now.Add(72 * time.Hour), ReviewDue: now.Add(48 * time.Hour), Followups: fus}, 5); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			js.SetStatus(fus[0], "Done")
			js.SetStatus(fus[1], "In Progress")
		case 1:
			js.SetStatus(fus[0], "Done")
			js.SetStatus(fus[1], "Reviewed") // the status_map's Closed
		case 2:
			js.SetStatus(fus[0], "In Review") // the keeper's list
		}
	}
	rl, err := rules.Load("r.yaml", []byte("status_map:\n  To Do: Draft\n  Reviewed: Closed\n"))
	if err != nil {
		t.Fatal(err)
	}
	k := &Keeper{Store: st, Jira: jc, Rules: func() *rules.Rules { return rl }, Log: log, Now: func() time.Time { return now }, Metrics: NewMetrics(nil),
		DoneStatuses: []string{"DONE", "in review"}}
	js.ResetCalls()
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := js.Count("GET /rest/api/2/search/jql") + js.Count("POST /rest/api/2/search/jql"); n != 2 {
		t.Fatalf("%d searches for 30 epics and 60 follow-ups, want 2", n)
	}
	for id, want := range map[string]int{"Q00": 1, "Q01": 2, "Q02": 1, "Q03": 0} {
		d, _, _ := st.Deadline(ctx, id)
		if d.FollowupsDone != want || !d.FollowupsCheckedAt.Equal(now) {
			t.Errorf("%s: %d of %v done at %s, want %d", id, d.FollowupsDone, d.Followups, d.FollowupsCheckedAt, want)
		}
	}
}

// lifecycleFixture tracks one post-mortem Q1 on a new epic in the Jira
// simulator, registered at now, with a keeper over the rules' usual
// status_map whose clock is clock.
func lifecycleFixture(t *testing.T) (*jiratest.Server, *store.Store, *Keeper, *clocks.Clock, string) {
	t.Helper()
	ctx := context.Background()
	js, jc, st, now := syncFixture(t)
	clock := clocks.NewClock(now)
	st.WithClock(clock.Now)
	if err := st.EnsureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	epic, err := jc.CreateEpic(ctx, jira.Epic{Project: "PM", IssueType: "Epic", Summary: "Post-mortem Q1", Incidents: []string{"Q1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Register(ctx, store.Postmortem{Incident: "Q1", Key: epic.Key, ResolvedAt: now,
		MeetingDue: now.Add(72 * time.Hour), ReviewDue: now.Add(48 * time.Hour)}, 5); err != nil {
		t.Fatal(err)
	}
	rl, err := rules.Load("r.yaml", []byte("status_map:\n  To Do: Draft\n  In Review: In Review\n  Reviewed: Reviewed\n  Done: Closed\n"))
	if err != nil {
		t.Fatal(err)
	}
	k := &Keeper{Store: st, Jira: jc, Rules: func() *rules.Rules { return rl }, Log: slog.New(slog.DiscardHandler), Now: clock.Now, Metrics: NewMetrics(nil)}
	return js, st, k, clock, epic.Key
}

// statusJobs reads what the queue holds and returns the status jobs' bodies.
func statusJobs(t *testing.T, st *store.Store) []string {
	t.Helper()
	entries, _, err := st.Read(context.Background(), "test", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.EventType == store.EventStatus {
			out = append(out, string(e.Body))
		}
	}
	return out
}

// Each status a post-mortem reaches queues its job once, whatever the
// number of deliveries and syncs that report it, and however often the
// post-mortem comes back to it.
func TestStatusJobOncePerStatus(t *testing.T) {
	ctx := context.Background()
	js, st, k, clock, key := lifecycleFixture(t)
	at := clock.Now()
	event := func(delivery, status string, after time.Duration, want string) {
		t.Helper()
		clock.Set(at.Add(after))
		if _, got, err := k.ApplyEpicEvent(ctx, delivery, key, status, at.Add(after)); err != nil || got != want {
			t.Fatalf("%s (%s): %s %v, want %s", delivery, status, got, err, want)
		}
	}
	event("d1", "In Review", time.Minute, store.ChangeUpdated)
	event("d1", "In Review", time.Minute, store.ChangeDuplicate)
	event("d2", "In Review", 2*time.Minute, store.ChangeUnchanged)
	js.SetStatus(key, "In Review")
	clock.Set(at.Add(3 * time.Minute))
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	event("d3", "Reviewed", 4*time.Minute, store.ChangeUpdated)
	event("d4", "In Review", 5*time.Minute, store.ChangeUpdated) // back
	event("d5", "Reviewed", 6*time.Minute, store.ChangeUpdated)  // and again
	// The sync repairs a Draft a webhook applied, and the epic moves on.
	event("d6", "To Do", 7*time.Minute, store.ChangeUpdated)
	js.SetStatus(key, "Reviewed")
	clock.Set(at.Add(8 * time.Minute))
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := statusJobs(t, st)
	if strings.Join(got, " ") != `{"status":"In Review"} {"status":"Reviewed"}` {
		t.Fatalf("status jobs queued: %v; want one for In Review and one for Reviewed", got)
	}
}

// The status sync is authoritative: whatever state a webhook left the
// post-mortem in (a change Jira later undid, whose own webhook was lost),
// the sync puts the post-mortem in its epic's Jira status, with the
// reminders that status has, both ways.
// Jira Cloud's search trails its writes: a sync just after a webhook still
// reads the epic's old status. It must not undo the webhook's change, which
// would put back the reminders of a post-mortem its owner has just marked
// Reviewed; a sync past the lag is authoritative again.
func TestSyncWithinTheSearchLagKeepsTheWebhooksChange(t *testing.T) {
	ctx := context.Background()
	js, st, k, clock, key := lifecycleFixture(t)
	at := clock.Now()
	state := func() (string, string) {
		d, _, _ := st.Deadline(ctx, "Q1")
		return d.Status, d.NextReminder
	}
	js.SetStatus(key, "To Do") // what the lagging search still says
	if _, got, _ := k.ApplyEpicEvent(ctx, "d1", key, "Reviewed", at); got != store.ChangeUpdated {
		t.Fatalf("webhook: %s", got)
	}
	clock.Set(at.Add(5 * time.Second))
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s, next := state(); s != store.StatusReviewed || next != "" {
		t.Fatalf("a sync 5 s after the webhook: %s, next %q; want Reviewed with no reminder", s, next)
	}
	// Past the lag the search is believed, whatever it says.
	clock.Set(at.Add(2 * time.Minute))
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s, _ := state(); s != store.StatusDraft {
		t.Fatalf("a sync past the lag: %s, want Jira's Draft", s)
	}
}

func TestSyncRepairsWhatAWebhookGotWrong(t *testing.T) {
	ctx := context.Background()
	js, st, k, clock, key := lifecycleFixture(t)
	at := clock.Now()
	state := func() (string, string) {
		d, _, _ := st.Deadline(ctx, "Q1")
		return d.Status, d.NextReminder
	}
	// Jira says In Review; a webhook said Reviewed: the reminders stopped.
	js.SetStatus(key, "In Review")
	if _, got, _ := k.ApplyEpicEvent(ctx, "d1", key, "Reviewed", at.Add(time.Minute)); got != store.ChangeUpdated {
		t.Fatalf("webhook: %s", got)
	}
	if s, next := state(); s != store.StatusReviewed || next != "" {
		t.Fatalf("after the webhook: %s, next %q", s, next)
	}
	clock.Set(at.Add(10 * time.Minute))
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s, next := state(); s != store.StatusInReview || next != store.ReminderReview {
		t.Fatalf("after the sync: %s, next %q; want In Review with the review reminder back", s, next)
	}
	// Jira says Reviewed; a webhook said Draft (To Do): the reminders
	// came back. The sync stops them again.
	js.SetStatus(key, "Reviewed")
	if _, got, _ := k.ApplyEpicEvent(ctx, "d2", key, "To Do", at.Add(11*time.Minute)); got != store.ChangeUpdated {
		t.Fatalf("webhook: %s", got)
	}
	clock.Set(at.Add(20 * time.Minute))
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s, next := state(); s != store.StatusReviewed || next != "" {
		t.Fatalf("after the second sync: %s, next %q; want Reviewed, no reminder", s, next)
	}
	// And Closed, then reopened in Jira: back in the open set.
	js.SetStatus(key, "Done")
	clock.Set(at.Add(30 * time.Minute))
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if open, _ := st.Open(ctx); len(open) != 0 {
		t.Fatalf("open after Done: %v", open)
	}
	js.SetStatus(key, "In Review")
	if _, got, _ := k.ApplyEpicEvent(ctx, "d3", key, "In Review", at.Add(31*time.Minute)); got != store.ChangeUpdated {
		t.Fatalf("reopen: %s", got)
	}
	if open, _ := st.Open(ctx); len(open) != 1 {
		t.Fatalf("open after the reopen: %v", open)
	}
	if s, next := state(); s != store.StatusInReview || next != store.ReminderReview {
		t.Fatalf("after the reopen: %s, next %q", s, next)
	}
}
