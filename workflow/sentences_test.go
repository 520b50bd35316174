package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifytest"
)

// Every sentence aftermath writes to people in one post-mortem's life, as
// the simulators received it: the notes on the incidents, the comments on
// the epic (owner, reminders, the late member, the language review, the
// liaison), the Data Center Epic Name, and the mails and Slack posts. The
// words come from package render (and the message bodies from
// integrations/notify), each with golden files of its own; this golden
// file holds them as the steps put them together with what the run found,
// so that moving or changing the wiring cannot change a byte unseen.
func TestEverySentenceWrittenMatchesTheGoldenFile(t *testing.T) {
	var out strings.Builder
	section := func(title string, bodies ...string) {
		for _, b := range bodies {
			fmt.Fprintf(&out, "=== %s\n%s\n", title, b)
		}
	}

	// An owned post-mortem: the notes, the creation message and the hold,
	// a late member, the reminders up to the last, the language review,
	// the liaison and the Reviewed message.
	d := newDeadlineEnv(t, "customer_liaison: carol@example.com\nreminders:\n  max_overdue: 2\n"+
		"notify:\n  - email: [stakeholders@example.com]\n  - slack_webhook_env: SLACK_SRE\n", t0.Add(80*time.Minute), 1)
	smtp, slack := notifytest.NewSMTP(t), notifytest.NewSlack(t)
	cfg := smtp.Config()
	cfg.Getenv = func(k string) (string, bool) { return slack.URL, k == "SLACK_SRE" }
	d.res.Notifier = notify.New(cfg, nil, nil)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	d.incident("PTARDY", "PSVC002", "P2", t0.Add(90*time.Minute), 10*time.Minute)
	d.clock.Set(t0.Add(105 * time.Minute))
	d.resolve("PTARDY")
	dl := d.deadline("PCHK1")
	d.clock.Set(dl.ReviewDue)
	d.tick()
	d.clock.Set(dl.MeetingDue.Add(time.Minute))
	d.tick()
	d.clock.Set(dl.MeetingDue.Add(25 * time.Hour))
	d.tick()
	ctx := context.Background()
	page := strings.Replace(d.wantOneEpic().Description+"\n", "h3. External\n",
		"h3. External\nBetween 14:00 and 15:12 UTC some checkouts failed [see|https://status.example.com]. The outage is over.\n", 1)
	page = strings.Replace(page, "h2. What Happened\n", "h2. What Happened\nBob should have load tested the driver first.\n", 1)
	if err := d.jc.SetPage(ctx, epic.Key, page); err != nil {
		t.Fatal(err)
	}
	d.moveTo(epic.Key, "In Review")
	d.moveTo(epic.Key, "Reviewed")

	for _, id := range []string{"PCHK1", "PPAY1", "PTARDY"} {
		for _, n := range d.ourNotes(id) {
			section("PagerDuty note on "+id, d.stable(n.Content))
		}
	}
	is, _ := d.jsim.Issue(epic.Key)
	for _, c := range is.Comments {
		section("Jira comment on "+epic.Key, d.stable(c.Body))
	}
	var mails []string
	for _, m := range smtp.Mails() {
		parts, err := m.Parts()
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(strings.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		text := ""
		for _, p := range parts {
			if p.ContentType == "text/plain" {
				text = strings.ReplaceAll(string(p.Body), "\r\n", "\n")
			}
		}
		mails = append(mails, "To: "+strings.Join(m.To, ", ")+"\nSubject: "+subject+"\n\n"+d.stable(text))
	}
	slices.Sort(mails)
	section("mail", mails...)
	var posts []string
	for _, p := range slack.Posts() {
		b, _ := json.MarshalIndent(p, "", "  ")
		posts = append(posts, d.stable(string(b)))
	}
	slices.Sort(posts)
	section("Slack post", posts...)

	// Nobody owns it (Jira refuses the owner): the owner comment, the
	// link-back note without an owner, and a reminder to whoever picks it
	// up.
	n := newDeadlineEnv(t, "", t0.Add(80*time.Minute), 1)
	realisticSEV1(n.pdEnv)
	if _, found, err := n.jc.UserByEmail(ctx, alice.email); err != nil || !found {
		t.Fatalf("alice in Jira: %v %v", found, err)
	}
	n.jsim.AddUser(jiratest.User{AccountID: alice.id, Name: alice.name, Key: alice.name, Email: alice.email, DisplayName: "Alice", Active: false})
	n.resolve("PCHK1")
	unowned := n.wantOneEpic()
	n.clock.Set(n.deadline("PCHK1").ReviewDue)
	n.tick()
	for _, note := range n.ourNotes("PCHK1") {
		section("PagerDuty note on PCHK1, unowned", n.stable(note.Content))
	}
	is, _ = n.jsim.Issue(unowned.Key)
	for _, c := range is.Comments {
		section("Jira comment on "+unowned.Key+", unowned", n.stable(c.Body))
	}

	// Data Center: the epic's Epic Name.
	dc := newJiraEnv(t, jiratest.DataCenter, 10)
	realisticSEV1(dc.pdEnv)
	dc.mustProcess(EventResolved, "PCHK1")
	section("Epic Name on Data Center", dc.wantOneEpic().EpicName)

	goldenFile(t, "sentences.txt", out.String())
}
