package workflow

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/store"
)

// moveTo applies a Jira status to the epic as the webhook does and waits
// for the queued status job.
func (d *deadlineEnv) moveTo(key, jiraStatus string) {
	d.t.Helper()
	if _, _, err := d.keepers[0].ApplyEpicStatus(context.Background(), key, jiraStatus); err != nil {
		d.t.Fatal(err)
	}
	d.drain()
}

// When the post-mortem goes to In Review, one comment lists "outage" in
// the External section and the blame-shaped phrases, with their sentences;
// the page is left as it is; a second webhook, a sync and a replayed job
// add nothing.
func TestLanguageReviewAtInReview(t *testing.T) {
	d := newDeadlineEnv(t, "page:\n  blame_phrases: [cowboy deploy]\n", t0.Add(80*time.Minute), 1)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	ctx := context.Background()
	page := strings.Replace(epic.Description+"\n", "h3. External\n",
		"h3. External\nBetween 14:00 and 15:12 UTC some checkouts failed. The outage is over and no order was lost.\n", 1)
	page = strings.Replace(page, "h2. What Happened\n",
		"h2. What Happened\nA driver upgrade went out at 14:00. Bob should have load tested it first. It was a cowboy deploy.\n", 1)
	if err := d.jc.SetPage(ctx, epic.Key, page); err != nil {
		t.Fatal(err)
	}
	d.moveTo(epic.Key, "In Review")
	got := d.comments(epic.Key, "Language review")
	if len(got) != 1 {
		t.Fatalf("%d language review comments, want 1: %q", len(got), got)
	}
	for _, want := range []string{
		"* The outage is over and no order was lost.",
		`* "should have": Bob should have load tested it first.`,
		`* "cowboy deploy": It was a cowboy deploy.`,
	} {
		if !strings.Contains(got[0], want) {
			t.Errorf("the comment lacks %q:\n%s", want, got[0])
		}
	}
	if strings.Contains(got[0], "some checkouts failed") {
		t.Errorf("the comment lists a sentence without findings:\n%s", got[0])
	}
	if st := d.step("PCHK1", StepLanguageReview); st.Status != store.StepDone {
		t.Errorf("step %s = %+v", StepLanguageReview, st)
	}

	// Again by webhook, by the sync, and the job replayed: no second comment.
	d.moveTo(epic.Key, "In Review")
	d.jsim.SetStatus(epic.Key, "In Review")
	if err := d.keepers[0].Sync(ctx); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(StatusJob{Status: store.StatusInReview})
	d.w.enqueue(store.Delivery{EventID: "status-PCHK1-replayed", EventType: store.EventStatus, IncidentID: "PCHK1",
		OccurredAt: t0, ReceivedAt: t0, Body: body})
	d.drain()
	if n := len(d.comments(epic.Key, "Language review")); n != 1 {
		t.Fatalf("%d language review comments after a second webhook, a sync and a replay, want 1", n)
	}
	if is, _ := d.jsim.Issue(epic.Key); is.Description != page {
		t.Errorf("the review changed the page")
	}
}

// A page without findings gets no comment; the step says why.
func TestLanguageReviewWithoutFindings(t *testing.T) {
	d := newDeadlineEnv(t, "", t0.Add(80*time.Minute), 1)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	page := strings.Replace(epic.Description+"\n", "h3. External\n",
		"h3. External\nBetween 14:00 and 15:12 UTC some checkouts failed; no order was lost.\n", 1)
	if err := d.jc.SetPage(context.Background(), epic.Key, page); err != nil {
		t.Fatal(err)
	}
	d.moveTo(epic.Key, "In Review")
	if got := d.comments(epic.Key, "Language review"); len(got) != 0 {
		t.Fatalf("comments on a page without findings: %q", got)
	}
	if st := d.step("PCHK1", StepLanguageReview); st.Status != store.StepSkipped || !strings.Contains(st.Detail, "no blame-shaped phrase") {
		t.Errorf("step %s = %+v", StepLanguageReview, st)
	}
}
