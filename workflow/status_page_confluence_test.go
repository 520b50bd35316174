package workflow

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/confluence/confluencetest"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifytest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/store"
)

// The external message at Reviewed when the post-mortem page lives in
// Confluence (rules page.target: confluence): the epic's description is the
// short one that points at the page, so the message is read from the
// Confluence page, where people write it.

// cfStatusEnv is a SEV-1 post-mortem made through the queue with its page
// in a Confluence Cloud simulator, on a PagerDuty account with status page
// PSTATUS1 (a post of another incident on it), under rulesExtra.
type cfStatusEnv struct {
	*deadlineEnv
	csim *confluencetest.Server
	epic jiratest.Issue
	page confluencetest.Page
}

func newCfStatusEnv(t *testing.T, rulesExtra string, setup ...func(*deadlineEnv)) *cfStatusEnv {
	t.Helper()
	d := newDeadlineEnv(t, confluenceRulesYAML+rulesExtra, t0.Add(80*time.Minute), 1)
	d.stopWorker()
	csim := confluencetest.NewWithOptions(t, confluencetest.Options{Mode: confluencetest.Cloud})
	csim.AddSpace(confluencetest.Space{Key: "PM", Name: "Post-mortems"})
	csim.AddUser(cfPerson)
	d.res.Confluence = newConfluenceClient(t, csim, nil)
	for _, f := range setup {
		f(d)
	}
	d.startWorker()
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	d.sim.AddStatusPage(pagerdutytest.StatusPage{ID: "PSTATUS1", Name: "Acme status", URL: "https://status.acme.example"})
	d.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Payments slow", IncidentID: "PPAY1"})
	epic := d.wantOneEpic()
	pages := csim.Pages()
	if len(pages) != 1 {
		t.Fatalf("%d Confluence pages, want 1", len(pages))
	}
	// The premise: the epic holds no External section to read.
	if strings.Contains(epic.Description, "h3. External") || !strings.Contains(epic.Description, "The post-mortem page is in Confluence:") {
		t.Fatalf("the epic's description is not the short Confluence one:\n%s", epic.Description)
	}
	if !strings.Contains(pages[0].Body, "<h3>External</h3>") {
		t.Fatalf("the Confluence page has no External heading:\n%s", pages[0].Body)
	}
	return &cfStatusEnv{deadlineEnv: d, csim: csim, epic: epic, page: pages[0]}
}

// externalPrompt is the External section's heading and its prompt, as the
// page's template writes them.
var externalPrompt = regexp.MustCompile(`<h3>External</h3>\s*<p><em>[^<]*</em></p>`)

// writeExternal edits the Confluence page as a person does: the External
// section gets externalMessage, one paragraph a line, typed as text (so
// its < > & are entities in storage format). keepPrompt leaves the
// template's prompt above it, as someone typing under it would.
func (c *cfStatusEnv) writeExternal(keepPrompt bool) string {
	c.t.Helper()
	cur, _ := c.csim.Page(c.page.ID)
	m := externalPrompt.FindString(cur.Body)
	if m == "" {
		c.t.Fatalf("no External prompt on the page:\n%s", cur.Body)
	}
	section := "<h3>External</h3>"
	if keepPrompt {
		section = m
	}
	for line := range strings.SplitSeq(externalMessage, "\n") {
		section += "<p>" + html.EscapeString(line) + "</p>"
	}
	body := strings.Replace(cur.Body, m, section, 1)
	if _, err := c.csim.EditAsPerson(c.page.ID, cfPerson.AccountID, body); err != nil {
		c.t.Fatal(err)
	}
	return body
}

// stepDetail is the detail of the incident's record of step.
func (c *cfStatusEnv) stepDetail(step string) string {
	return c.step("PCHK1", step).Detail
}

// The message a person wrote in the Confluence page is put once as the
// postmortem of the post linked to the incident; one comment links the epic
// to the post and the epic moves to Closed. The job runs three times on two
// workers, and again after Closed: each write once; the page is left as
// the person left it.
func TestStatusPageReadsConfluence(t *testing.T) {
	c := newCfStatusEnv(t, "customer_liaison: carol@example.com\nexternal_message:\n  status_page: PSTATUS1\n  notify_subscribers: true\n")
	post := c.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Checkout errors", IncidentID: "PCHK1"})
	body := c.writeExternal(false)
	c.secondWorker()
	c.reviewed(c.epic.Key)
	c.replayStatus(2)
	c.drain()

	got, _ := c.sim.StatusPagePost("PSTATUS1", post.ID)
	want := "<p>Between 14:00 and 15:12 UTC some checkouts failed &lt;for 38% of requests&gt; &amp; were retried.</p><p>No order was lost.</p>"
	if got.Postmortem == nil || got.Postmortem.Message != want || !got.Postmortem.NotifySubscribers {
		t.Fatalf("the post's postmortem = %+v, want %q with subscribers notified (step %s: %q)", got.Postmortem, want, StepStatusPage, c.stepDetail(StepStatusPage))
	}
	if got.PostmortemWrites != 1 || got.Notified != 1 || c.sim.Count(putPostmortem) != 1 {
		t.Fatalf("postmortem written %d times (%d requests), subscribers notified %d times; want once each", got.PostmortemWrites, c.sim.Count(putPostmortem), got.Notified)
	}
	links := c.comments(c.epic.Key, "posted on the status page")
	if len(links) != 1 || !strings.Contains(links[0], "[Checkout errors|https://status.acme.example/posts/details/"+post.ID+"]") {
		t.Fatalf("comments linking the post = %q", links)
	}
	if st, n := c.epicStatus(c.epic.Key), c.jsim.Count(doTransition); st != jiratest.StatusDone || n != 1 {
		t.Fatalf("the epic is %s after %d transitions, want %s after 1", st, n, jiratest.StatusDone)
	}
	if ask := c.comments(c.epic.Key, "please post its external message"); len(ask) != 0 {
		t.Fatalf("the customer liaison was asked although aftermath posted it: %q", ask)
	}

	if _, _, err := c.keepers[0].ApplyEpicStatus(context.Background(), c.epic.Key, jiratest.StatusDone); err != nil {
		t.Fatal(err)
	}
	c.replayStatus(1)
	c.drain()
	if got, _ := c.sim.StatusPagePost("PSTATUS1", post.ID); got.PostmortemWrites != 1 || c.sim.Count(putPostmortem) != 1 {
		t.Fatalf("a replay after Closed wrote the postmortem again (%d writes)", got.PostmortemWrites)
	}
	if n, l := c.jsim.Count(doTransition), len(c.comments(c.epic.Key, "posted on the status page")); n != 1 || l != 1 {
		t.Fatalf("after a replay: %d transitions, %d comments; want 1 each", n, l)
	}
	if p, _ := c.csim.Page(c.page.ID); p.Body != body || len(p.Comments) != 0 {
		t.Errorf("the status-page steps changed the Confluence page")
	}
}

// The Confluence page's External section still holds only the prompt: no
// postmortem; the epic stays Reviewed, or is closed when the rules say
// close_without_external_message, and the step says it read the Confluence
// page. Left at Reviewed, once a person writes the message in Confluence a
// replay posts it and closes the epic.
func TestStatusPageConfluencePromptOnly(t *testing.T) {
	for _, closeIt := range []bool{false, true} {
		t.Run(fmt.Sprint("close_without_external_message=", closeIt), func(t *testing.T) {
			c := newCfStatusEnv(t, fmt.Sprintf("external_message:\n  status_page: PSTATUS1\n  close_without_external_message: %t\n", closeIt))
			post := c.sim.AddStatusPagePost("PSTATUS1", pagerdutytest.NewStatusPagePost{Title: "Checkout errors", IncidentID: "PCHK1"})
			comments := len(c.comments(c.epic.Key, ""))
			c.reviewed(c.epic.Key)
			c.replayStatus(1)
			c.drain()
			want, transitions := jiratest.StatusReviewed, 0
			if closeIt {
				want, transitions = jiratest.StatusDone, 1
			}
			if st, n := c.epicStatus(c.epic.Key), c.jsim.Count(doTransition); st != want || n != transitions {
				t.Fatalf("the epic is %s after %d transitions, want %s after %d", st, n, want, transitions)
			}
			if n, l := c.sim.Count(putPostmortem), len(c.comments(c.epic.Key, "")); n != 0 || l != comments {
				t.Fatalf("%d postmortems and %d new comments without an external message", n, l-comments)
			}
			if d := c.stepDetail(StepStatusPage); !strings.Contains(d, "(the Confluence page ") || !strings.Contains(d, "has no external message") {
				t.Fatalf("step %s = %q, want it to name the Confluence page it read", StepStatusPage, d)
			}
			if closeIt {
				return
			}
			c.writeExternal(true)
			c.replayStatus(1)
			c.drain()
			got, _ := c.sim.StatusPagePost("PSTATUS1", post.ID)
			if got.PostmortemWrites != 1 || got.Postmortem == nil || !strings.Contains(got.Postmortem.Message, "<p>No order was lost.</p>") ||
				strings.Contains(got.Postmortem.Message, "Draft the message") {
				t.Fatalf("after the message was written in Confluence: %+v", got.Postmortem)
			}
			if st := c.epicStatus(c.epic.Key); st != jiratest.StatusDone {
				t.Fatalf("the epic is %s after the message was written, want %s", st, jiratest.StatusDone)
			}
		})
	}
}

// Without a status page in the rules the customer liaison is asked, once,
// to post the message a person wrote in the Confluence page; before it is
// written (the prompt only) nobody is asked.
func TestLiaisonReadsConfluence(t *testing.T) {
	c := newCfStatusEnv(t, "customer_liaison: carol@example.com\n")
	c.reviewed(c.epic.Key)
	c.drain()
	if ask := c.comments(c.epic.Key, "please post its external message"); len(ask) != 0 {
		t.Fatalf("the liaison was asked with only the prompt on the page: %q", ask)
	}
	if st := c.step("PCHK1", StepLiaison); st.Status != store.StepSkipped || !strings.Contains(st.Detail, "(the Confluence page ") {
		t.Fatalf("step %s = %+v, want skipped naming the Confluence page", StepLiaison, st)
	}

	c.writeExternal(true)
	c.secondWorker()
	c.replayStatus(3)
	c.drain()
	ask := c.comments(c.epic.Key, "please post its external message")
	if len(ask) != 1 {
		t.Fatalf("%d liaison comments, want 1: %q (step %s: %q)", len(ask), ask, StepLiaison, c.stepDetail(StepLiaison))
	}
	for _, want := range []string{"[~accountid:acc-carol]", "Between 14:00 and 15:12 UTC some checkouts failed", "No order was lost."} {
		if !strings.Contains(ask[0], want) {
			t.Errorf("the liaison comment lacks %q:\n%s", want, ask[0])
		}
	}
	if strings.Contains(ask[0], "Draft the message") {
		t.Errorf("the liaison comment quotes the template's prompt:\n%s", ask[0])
	}
}

// The Reviewed message to the owner and the rules' recipients carries the
// external message a person wrote in the Confluence page.
func TestReviewedMessageReadsConfluence(t *testing.T) {
	smtp := notifytest.NewSMTP(t)
	c := newCfStatusEnv(t, "notify:\n  - email: [stakeholders@example.com]\n", func(d *deadlineEnv) {
		d.res.Notifier = notify.New(smtp.Config(), nil, nil)
	})
	c.writeExternal(false)
	c.reviewed(c.epic.Key)
	c.drain()
	var bodies []string
	for _, m := range smtp.Mails() {
		if strings.Contains(strings.Join(m.To, ","), "stakeholders@example.com") && strings.Contains(m.Data, "Reviewed: ") {
			parts, err := m.Parts()
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, strings.ReplaceAll(string(parts[0].Body), "\r\n", "\n"))
		}
	}
	if len(bodies) != 1 || !strings.Contains(bodies[0], "No order was lost.") || !strings.Contains(bodies[0], "some checkouts failed <for 38% of requests> & were retried") {
		t.Fatalf("Reviewed messages to the stakeholders: %q; want one carrying the external message written in Confluence", bodies)
	}
}
