package deadlines

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/internal/redistest"
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
	k := &Keeper{Store: st, Jira: jc, Rules: func() *rules.Rules { return rl }, Log: log, Now: func() time.Time { return now }, Metrics: NewMetrics(nil)}
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
	// Past their meeting (resolved more than 72 hours ago) and still Draft: 47.
	if o, d, ir := testutil.ToFloat64(k.Metrics.overdue), testutil.ToFloat64(k.Metrics.byStatus.WithLabelValues("Draft")),
		testutil.ToFloat64(k.Metrics.byStatus.WithLabelValues("In Review")); o != 47 || d != 105 || ir != 10 {
		t.Fatalf("gauges: overdue %v, Draft %v, In Review %v", o, d, ir)
	}
	if last, err := st.LastStatusSync(ctx); err != nil || !last.Equal(now) {
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
