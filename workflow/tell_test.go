package workflow

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifytest"
	"github.com/aftermath-dev/aftermath/store"
)

// subjects lists the subject lines of the mails to a recipient.
func subjects(s *notifytest.SMTP, to string) []string {
	var out []string
	for _, m := range s.Mails() {
		if !strings.Contains(strings.Join(m.To, ","), to) {
			continue
		}
		for _, l := range strings.Split(m.Data, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Subject: "); ok {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

func slackTexts(s *notifytest.Slack) []string {
	var out []string
	for _, p := range s.Posts() {
		out = append(out, p.Text)
	}
	return out
}

func countPrefix(list []string, prefix string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func countContaining(list []string, part string) int {
	n := 0
	for _, s := range list {
		if strings.Contains(s, part) {
			n++
		}
	}
	return n
}

// End to end through the queue, against both simulators, a real SMTP
// conversation and a Slack receiver: a new SEV-1 post-mortem is told once
// to the stakeholders by email and in Slack and the owner gets the meeting
// hold; the review reminder and the Reviewed message reach the owner and
// the stakeholders too; replays of every job send nothing twice.
func TestTellingPeopleEndToEnd(t *testing.T) {
	d := newDeadlineEnv(t, "notify:\n  - email: [stakeholders@example.com]\n  - slack_webhook_env: SLACK_SRE\n"+
		"people:\n  services:\n    - services: [PSVC001]\n      owners: [checkout-owner@example.com]\n      engineering_managers: [checkout-em@example.com]\n",
		t0.Add(80*time.Minute), 2)
	smtp, slack := notifytest.NewSMTP(t), notifytest.NewSlack(t)
	cfg := smtp.Config()
	cfg.Getenv = func(k string) (string, bool) { return slack.URL, k == "SLACK_SRE" }
	d.res.Notifier = notify.New(cfg, nil, nil)
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	// The meeting's invitees, from the responders and the rules' people, on
	// the page and in the creation message.
	for _, who := range []string{"Alice Ng (incident commander)", "checkout-owner@example.com (service owner)", "checkout-em@example.com (engineering manager)"} {
		if !strings.Contains(epic.Description, who) {
			t.Errorf("the page does not invite %s", who)
		}
	}
	if m := smtp.Mails(); len(m) == 0 || !strings.Contains(m[0].Data, "checkout-owner@example.com") {
		t.Error("the creation message does not list the invitees")
	}

	stake, owner := subjects(smtp, "stakeholders@example.com"), subjects(smtp, "alice@example.com")
	if countPrefix(stake, "Post-mortem "+epic.Key) != 1 || countContaining(slackTexts(slack), "post-mortem "+epic.Key+" is open") != 1 {
		t.Fatalf("creation: stakeholders got %q, Slack %q; want one of each", stake, slackTexts(slack))
	}
	if countPrefix(owner, "Meeting hold: ") != 1 {
		t.Fatalf("owner got %q, want the meeting hold", owner)
	}
	for _, m := range smtp.Mails() {
		if strings.Contains(strings.Join(m.To, ","), "alice@example.com") && !strings.Contains(m.Data, "text/calendar") {
			t.Fatal("the owner's hold has no calendar attached")
		}
	}

	// The same resolution again (PagerDuty's redelivery with a new event
	// ID): nothing is sent twice.
	d.w.enqueue(resolved("EPCHK1-again", "PCHK1"))
	d.drain()
	if n := len(smtp.Mails()); n != 2 {
		t.Fatalf("%d mails after a redelivery, want the 2 of the creation", n)
	}

	dl := d.deadline("PCHK1")
	d.clock.Set(dl.ReviewDue)
	d.tick()
	d.tick()
	if o, s, sl := countPrefix(subjects(smtp, "alice@example.com"), "Review due"), countPrefix(subjects(smtp, "stakeholders@example.com"), "Review due"),
		countContaining(slackTexts(slack), "is due for review"); o != 1 || s != 1 || sl != 1 {
		t.Fatalf("review reminder: owner %d, stakeholders %d, Slack %d mails; want 1 each", o, s, sl)
	}

	// A long external message (for Slack, whose sections hold 3,000
	// characters): the Reviewed message carries it whole by email and split
	// and cut with a link in Slack, never refused.
	var external strings.Builder
	for i := range 30 {
		fmt.Fprintf(&external, "Update %d: some checkouts failed & were retried; %s\n", i, strings.TrimSpace(strings.Repeat("no order was lost. ", 20)))
	}
	page := strings.Replace(d.wantOneEpic().Description+"\n", "h3. External\n", "h3. External\n"+external.String(), 1)
	if err := d.jc.SetPage(context.Background(), epic.Key, page); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := d.keepers[0].ApplyEpicStatus(context.Background(), epic.Key, "Reviewed"); err != nil || !changed {
		t.Fatalf("Reviewed: %v %v", changed, err)
	}
	d.drain()
	if _, _, err := d.keepers[1].ApplyEpicStatus(context.Background(), epic.Key, "Reviewed"); err != nil {
		t.Fatal(err)
	}
	d.drain()
	if s, sl := countPrefix(subjects(smtp, "stakeholders@example.com"), "Reviewed: "), countContaining(slackTexts(slack), "is Reviewed"); s != 1 || sl != 1 {
		t.Fatalf("Reviewed: stakeholders %d, Slack %d; want 1 each", s, sl)
	}
	if r := slack.Refused(); len(r) != 0 {
		t.Fatalf("Slack refused %d posts: %q", len(r), r)
	}
	last := slack.Posts()[len(slack.Posts())-1]
	if body := fmt.Sprint(last.Blocks[len(last.Blocks)-2].Text); !strings.Contains(body, "cut here") || !strings.Contains(body, "|"+epic.Key+">") {
		t.Fatalf("the cut results do not link to the post-mortem: %s", body)
	}
	for _, m := range smtp.Mails() {
		if strings.Contains(strings.Join(m.To, ","), "stakeholders@example.com") && strings.Contains(m.Data, "Reviewed: ") {
			parts, err := m.Parts()
			if err != nil {
				t.Fatal(err)
			}
			if text := string(parts[0].Body); !strings.Contains(strings.ReplaceAll(text, "\r\n", "\n"), strings.TrimSpace(external.String())) {
				t.Fatalf("the Reviewed mail lacks some of the external message:\n%s", text)
			}
		}
	}
	if rec, _, _ := d.store.IncidentRecord(context.Background(), "PCHK1"); rec.Postmortem == nil || rec.Postmortem.Status != store.StatusReviewed {
		t.Fatalf("record = %+v", rec.Postmortem)
	}
}
