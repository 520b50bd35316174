package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/store"
)

// The external message on a PagerDuty status page, at Reviewed: through the
// queue, real Redis, and the PagerDuty and Jira simulators, each request
// checked against the official specs.

const (
	putPostmortem = "PUT /status_pages/{id}/posts/{post_id}/postmortem"
	doTransition  = "POST /rest/api/2/issue/{issueIdOrKey}/transitions"
	addComment    = "POST /rest/api/2/issue/{issueIdOrKey}/comment"
)

// externalMessage is what people wrote under the page's External heading:
// markup characters that must reach the status page as text.
const externalMessage = "Between 14:00 and 15:12 UTC some checkouts failed <for 38% of requests> & were retried.\nNo order was lost."

// statusPageEnv is a SEV-1 post-mortem made through the queue, on a
// PagerDuty account with status page PSTATUS1 (a post of another
// incident on it), under rules external_message (rulesExtra).
func statusPageEnv(t *testing.T, rulesExtra string) (*deadlineEnv, jiratest.Issue) {
	t.Helper()
	d := newDeadlineEnv(t, rulesExtra, t0.Add(80*time.Minute), 1)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	d.sim.AddStatusPage(pagerdutytest.StatusPage{ID: "PSTATUS1", Name: "Acme status", URL: "https://status.acme.example"})
	d.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Payments slow", IncidentID: "PPAY1"})
	return d, d.wantOneEpic()
}

// withMessage writes the external message on the epic's page.
func (d *deadlineEnv) withMessage(epic jiratest.Issue) {
	d.t.Helper()
	page := strings.Replace(epic.Description+"\n", "h3. External\n", "h3. External\n"+externalMessage+"\n", 1)
	if page == epic.Description+"\n" {
		d.t.Fatal("the page has no External heading")
	}
	if err := d.jc.SetPage(context.Background(), epic.Key, page); err != nil {
		d.t.Fatal(err)
	}
}

// reviewed moves the epic to Reviewed in Jira, as a person does, and
// applies it as the Jira webhook does; the status job is queued.
func (d *deadlineEnv) reviewed(key string) {
	d.t.Helper()
	d.jsim.SetStatus(key, jiratest.StatusReviewed)
	if _, _, err := d.keepers[0].ApplyEpicStatus(context.Background(), key, jiratest.StatusReviewed); err != nil {
		d.t.Fatal(err)
	}
}

// replayStatus queues the Reviewed status job again under a new event ID,
// as aftermath replay or a second delivery past the dedupe window would.
func (d *deadlineEnv) replayStatus(n int) {
	d.t.Helper()
	body, _ := json.Marshal(StatusJob{Status: store.StatusReviewed})
	for i := range n {
		d.w.enqueue(store.Delivery{EventID: fmt.Sprintf("status-PCHK1-replayed-%d-%d", time.Now().UnixNano(), i), EventType: store.EventStatus,
			IncidentID: "PCHK1", OccurredAt: t0, ReceivedAt: t0, Body: body})
	}
}

// secondWorker starts another worker on the same queue, as a second
// replica.
func (d *deadlineEnv) secondWorker() {
	cfg := d.workerConfig()
	cfg.Consumer = "worker-2"
	d.w.start(cfg, d.res)
}

func (d *deadlineEnv) epicStatus(key string) string {
	d.t.Helper()
	is, ok := d.jsim.Issue(key)
	if !ok {
		d.t.Fatalf("no issue %s", key)
	}
	return is.Status
}

// The message is put once as the postmortem of the post linked to the
// incident, escaped as rich text, subscribers notified as the rules say;
// one comment links the epic to the post and the epic moves to Closed;
// the customer liaison is not asked. The status job runs three times at
// once on two workers, and again after Closed: nothing is written twice.
func TestExternalMessagePostedOnceAndEpicClosed(t *testing.T) {
	d, epic := statusPageEnv(t, "customer_liaison: carol@example.com\nexternal_message:\n  status_page: PSTATUS1\n  notify_subscribers: true\n")
	post := d.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Checkout errors", IncidentID: "PCHK1"})
	d.withMessage(epic)
	d.secondWorker()
	d.reviewed(epic.Key)
	d.replayStatus(2)
	d.drain()

	got, _ := d.sim.StatusPagePost("PSTATUS1", post.ID)
	want := "<p>Between 14:00 and 15:12 UTC some checkouts failed &lt;for 38% of requests&gt; &amp; were retried.</p><p>No order was lost.</p>"
	if got.Postmortem == nil || got.Postmortem.Message != want || !got.Postmortem.NotifySubscribers {
		t.Fatalf("the post's postmortem = %+v, want %q with subscribers notified", got.Postmortem, want)
	}
	if got.PostmortemWrites != 1 || got.Notified != 1 {
		t.Fatalf("postmortem written %d times, subscribers notified %d times; want once each", got.PostmortemWrites, got.Notified)
	}
	if other := d.sim.Count(putPostmortem); other != 1 {
		t.Fatalf("%d postmortem requests, want 1", other)
	}
	links := d.comments(epic.Key, "posted on the status page")
	if len(links) != 1 || !strings.Contains(links[0], "[Checkout errors|https://status.acme.example/posts/details/"+post.ID+"]") {
		t.Fatalf("comments linking the post = %q", links)
	}
	if st := d.epicStatus(epic.Key); st != jiratest.StatusDone {
		t.Fatalf("the epic is %s, want %s (status_map: Closed)", st, jiratest.StatusDone)
	}
	if n := d.jsim.Count(doTransition); n != 1 {
		t.Fatalf("%d transitions, want 1", n)
	}
	if ask := d.comments(epic.Key, "please post its external message"); len(ask) != 0 {
		t.Fatalf("the customer liaison was asked although aftermath posted it: %q", ask)
	}
	for _, step := range []string{StepStatusPagePostmortem, StepStatusPageComment, StepStatusPageClose} {
		if st := d.step("PCHK1", step); st.Status != store.StepDone {
			t.Errorf("step %s = %+v", step, st)
		}
	}

	// The webhook of the move to Closed, and the Reviewed job once more.
	if _, _, err := d.keepers[0].ApplyEpicStatus(context.Background(), epic.Key, jiratest.StatusDone); err != nil {
		t.Fatal(err)
	}
	d.replayStatus(1)
	d.drain()
	if got, _ := d.sim.StatusPagePost("PSTATUS1", post.ID); got.PostmortemWrites != 1 {
		t.Fatalf("a replay after Closed wrote the postmortem again (%d writes)", got.PostmortemWrites)
	}
	if n, c := d.jsim.Count(doTransition), len(d.comments(epic.Key, "posted on the status page")); n != 1 || c != 1 {
		t.Fatalf("after a replay: %d transitions, %d comments; want 1 each", n, c)
	}
}

// No post of the status page is linked to the incident: one comment says
// so, quoting the message, and the epic stays Reviewed, however often the
// job runs. Once a post is linked, a replay posts the message and closes.
func TestExternalMessageWithoutLinkedPost(t *testing.T) {
	d, epic := statusPageEnv(t, "external_message:\n  status_page: PSTATUS1\n")
	d.withMessage(epic)
	d.secondWorker()
	d.reviewed(epic.Key)
	d.replayStatus(2)
	d.drain()

	say := d.comments(epic.Key, "is not on the status page")
	if len(say) != 1 || !strings.Contains(say[0], "no post of Acme status is linked to incident #4211") || !strings.Contains(say[0], "No order was lost.") {
		t.Fatalf("comments saying the message is not posted = %q", say)
	}
	if st := d.epicStatus(epic.Key); st != jiratest.StatusReviewed {
		t.Fatalf("the epic is %s, want it left at Reviewed", st)
	}
	if n, m := d.jsim.Count(doTransition), d.sim.Count(putPostmortem); n != 0 || m != 0 {
		t.Fatalf("%d transitions and %d postmortems without a linked post", n, m)
	}
	if st := d.step("PCHK1", StepStatusPage); !strings.Contains(st.Detail, "no post of status page PSTATUS1 is linked to incident PCHK1") {
		t.Errorf("step %s = %+v", StepStatusPage, st)
	}

	post := d.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Checkout errors", IncidentID: "PCHK1"})
	d.replayStatus(1)
	d.drain()
	if got, _ := d.sim.StatusPagePost("PSTATUS1", post.ID); got.PostmortemWrites != 1 || got.Notified != 0 {
		t.Fatalf("after the post was linked: %+v, want one write, nobody notified (notify_subscribers defaults to false)", got)
	}
	if st := d.epicStatus(epic.Key); st != jiratest.StatusDone {
		t.Fatalf("the epic is %s after the post was linked, want Done", st)
	}
	if n := len(d.comments(epic.Key, "is not on the status page")); n != 1 {
		t.Fatalf("%d comments saying it is not posted, want still 1", n)
	}
}

// A post that already has another postmortem (Support wrote one) keeps it:
// one comment says so and the epic stays Reviewed.
func TestExternalMessageLeavesPeoplesPostmortem(t *testing.T) {
	d, epic := statusPageEnv(t, "external_message:\n  status_page: PSTATUS1\n")
	post := d.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Checkout errors", IncidentID: "PCHK1"})
	if _, err := d.pd.PutPostmortem(context.Background(), "PSTATUS1", post.ID, "<p>Written by Support.</p>", false); err != nil {
		t.Fatal(err)
	}
	d.withMessage(epic)
	d.reviewed(epic.Key)
	d.replayStatus(1)
	d.drain()
	got, _ := d.sim.StatusPagePost("PSTATUS1", post.ID)
	if got.PostmortemWrites != 1 || got.Postmortem.Message != "<p>Written by Support.</p>" {
		t.Fatalf("the people's postmortem was replaced: %+v", got.Postmortem)
	}
	if say := d.comments(epic.Key, "already has a postmortem that differs"); len(say) != 1 {
		t.Fatalf("comments = %q, want one", say)
	}
	if st := d.epicStatus(epic.Key); st != jiratest.StatusReviewed {
		t.Fatalf("the epic is %s, want Reviewed", st)
	}
}

// Without an external message the epic is closed when the rules say
// close_without_external_message: true, and left as it is otherwise.
func TestNoExternalMessage(t *testing.T) {
	for _, close := range []bool{true, false} {
		t.Run(fmt.Sprint("close_without_external_message=", close), func(t *testing.T) {
			d, epic := statusPageEnv(t, fmt.Sprintf("external_message:\n  status_page: PSTATUS1\n  close_without_external_message: %t\n", close))
			d.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Checkout errors", IncidentID: "PCHK1"})
			comments := len(d.comments(epic.Key, ""))
			d.reviewed(epic.Key)
			d.replayStatus(2)
			d.drain()
			want, transitions := jiratest.StatusReviewed, 0
			if close {
				want, transitions = jiratest.StatusDone, 1
			}
			if st := d.epicStatus(epic.Key); st != want {
				t.Fatalf("the epic is %s, want %s", st, want)
			}
			if n := d.jsim.Count(doTransition); n != transitions {
				t.Fatalf("%d transitions, want %d", n, transitions)
			}
			if n := d.sim.Count(putPostmortem); n != 0 {
				t.Fatalf("%d postmortems without an external message", n)
			}
			if n := len(d.comments(epic.Key, "")); n != comments {
				t.Fatalf("%d new comments, want none", n-comments)
			}
		})
	}
}

// PagerDuty fails the PUT: a 502 after the write took effect (the answer
// lost), a 500 before it, a 429 that the client waits out. The job is
// retried until the message is there, and the post has one postmortem,
// written once and its subscribers notified once. Jira losing the answer
// to the transition does not make a second one either.
func TestExternalMessagePutRetriedWithoutSecondPostmortem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults []pagerdutytest.Fault
		puts   int // requests the simulator answered or failed
	}{
		{"502 after the write", []pagerdutytest.Fault{{Status: 502, AfterApply: true}}, 1},
		{"500 before the write", []pagerdutytest.Fault{{Status: 500}}, 2},
		{"429 twice", []pagerdutytest.Fault{{Status: 429, RetryAfter: "0", Times: 2}}, 3},
		{"503, then 502 after the write", []pagerdutytest.Fault{{Status: 503}, {Status: 502, AfterApply: true}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, epic := statusPageEnv(t, "external_message:\n  status_page: PSTATUS1\n  notify_subscribers: true\n")
			post := d.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Checkout errors", IncidentID: "PCHK1"})
			d.withMessage(epic)
			for _, f := range tc.faults {
				d.sim.Inject(putPostmortem, f)
			}
			d.jsim.Inject(doTransition, jiratest.Fault{Status: 504, AfterApply: true})
			d.reviewed(epic.Key)
			d.drain()
			got, _ := d.sim.StatusPagePost("PSTATUS1", post.ID)
			if got.Postmortem == nil || !strings.Contains(got.Postmortem.Message, "No order was lost.") {
				t.Fatalf("the post's postmortem = %+v", got.Postmortem)
			}
			if got.PostmortemWrites != 1 || got.Notified != 1 {
				t.Fatalf("postmortem written %d times, subscribers notified %d times; want once each", got.PostmortemWrites, got.Notified)
			}
			if n := d.sim.Count(putPostmortem); n != tc.puts {
				t.Fatalf("%d postmortem requests, want %d", n, tc.puts)
			}
			if st, n := d.epicStatus(epic.Key), d.jsim.Count(doTransition); st != jiratest.StatusDone || n != 1 {
				t.Fatalf("the epic is %s after %d transitions, want Done after 1", st, n)
			}
			if n := len(d.comments(epic.Key, "posted on the status page")); n != 1 {
				t.Fatalf("%d comments linking the post, want 1", n)
			}
		})
	}
}
