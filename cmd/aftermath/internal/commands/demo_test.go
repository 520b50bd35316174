package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/notify"
)

// runDemo runs the demo in this process, in a directory of the test's,
// and returns what it printed.
func runDemo(t *testing.T, o DemoOptions) (string, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	o.Dir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := Demo(ctx, o, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	return out.String(), o.Dir
}

// The demo's post-mortem is told by email and Slack, as the rules' notify
// says: the stakeholders' mail, the owner's with the meeting's calendar
// hold (its start before the meeting is due, the invitees as attendees),
// the Slack post; each kept as a file under the demo's directory, and the
// hold written beside the page.
func TestDemoSendsEmailAndSlackWithTheCalendarHold(t *testing.T) {
	out, dir := runDemo(t, DemoOptions{JSON: true})
	var rep demoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Owner != (demoPerson{Name: "Alice Ng", Email: "alice@shop.example"}) {
		t.Errorf("owner %+v", rep.Owner)
	}
	type sent struct{ kind, channel, to string }
	var got []sent
	for _, m := range rep.Messages {
		got = append(got, sent{m.Kind, m.Channel, strings.Join(m.To, ",")})
		if m.Postmortem != rep.Epic.Key || !strings.Contains(m.Subject, rep.Epic.Key) {
			t.Errorf("message %+v is not about %s", m, rep.Epic.Key)
		}
		b, err := os.ReadFile(m.File)
		if err != nil || filepath.Dir(m.File) != filepath.Join(dir, "messages") {
			t.Errorf("message %+v: file: %v", m, err)
			continue
		}
		if m.Channel == "slack" {
			var post notify.SlackMessage
			if err := json.Unmarshal(b, &post); err != nil || firstLine(post.Text) != m.Subject {
				t.Errorf("%s: %v, text %q, want %q", m.File, err, post.Text, m.Subject)
			}
		} else if !bytes.Contains(b, []byte("To: <"+m.To[0]+">")) {
			t.Errorf("%s is not the mail to %s:\n%s", m.File, m.To[0], b[:min(len(b), 400)])
		}
	}
	want := []sent{{"created", "email", demoStakeholders}, {"hold", "email", "alice@shop.example"}, {"created", "slack", demoSlackEnv}}
	if !slices.Equal(got, want) {
		t.Errorf("messages %+v, want %+v", got, want)
	}
	h := rep.CalendarHold
	if h == nil {
		t.Fatal("no calendar hold reported")
	}
	if h.File != filepath.Join(dir, "postmortem-"+rep.Epic.Key+".ics") || filepath.Dir(h.File) != filepath.Dir(rep.PageFile) {
		t.Errorf("hold file %s, page %s", h.File, rep.PageFile)
	}
	ics, err := os.ReadFile(h.File)
	if err != nil || !bytes.Contains(ics, []byte("DTSTART:"+h.DTStart)) {
		t.Errorf("hold file: %v; DTSTART %s\n%s", err, h.DTStart, ics)
	}
	if h.Start.IsZero() || !h.Start.Before(rep.MeetingDue) || h.Start.Before(rep.MeetingDue.Add(-24*time.Hour)) {
		t.Errorf("hold starts %s; the meeting is due %s", h.Start, rep.MeetingDue)
	}
	for _, who := range []string{"alice@shop.example", "bob@shop.example", "carol@shop.example", "checkout-team@shop.example", "support-lead@shop.example"} {
		if !slices.Contains(h.Attendees, who) {
			t.Errorf("hold attendees %v lack %s", h.Attendees, who)
		}
	}
	if h.Organizer != "alice@shop.example" {
		t.Errorf("hold organizer %q", h.Organizer)
	}
}

// The demo's earlier post-mortems: one Reviewed 3 days after it was made,
// with its Reviewed message; one late, whose review and overdue reminders
// went as comments on its epic mentioning the owner and as messages; and
// the overview counts the late one overdue and the median to Reviewed.
func TestDemoShowsAReviewedAndALatePostmortem(t *testing.T) {
	out, _ := runDemo(t, DemoOptions{JSON: true})
	var rep demoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Earlier) != 2 {
		t.Fatalf("earlier %+v", rep.Earlier)
	}
	kinds := func(ms []demoMessage) map[string]int {
		n := map[string]int{}
		for _, m := range ms {
			n[m.Kind+" "+m.Channel]++
		}
		return n
	}
	rv, late := rep.Earlier[0], rep.Earlier[1]
	if rv.Incident != demoReviewed || rv.Status != "Reviewed" || rv.DaysToReviewed == nil || *rv.DaysToReviewed != 3 || rv.Overdue || len(rv.Reminders) != 0 {
		t.Errorf("the Reviewed one: %+v", rv)
	}
	if k := kinds(rv.Messages); k["reviewed email"] != 2 || k["reviewed slack"] != 1 {
		t.Errorf("the Reviewed one's messages: %v", k)
	}
	if late.Incident != demoLate || late.Status != "Draft" || !late.Overdue || late.DaysLate != 3 || late.DaysToReviewed != nil {
		t.Errorf("the late one: %+v", late)
	}
	var rem []string
	for _, r := range late.Reminders {
		rem = append(rem, r.Kind)
		if !strings.HasPrefix(r.Comment, "[~accountid:acc-carol]") {
			t.Errorf("reminder %+v: comment does not mention the owner", r)
		}
	}
	if !slices.Equal(rem, []string{"review", "overdue"}) || !strings.Contains(late.Reminders[1].Comment, "still Draft") {
		t.Errorf("the late one's reminders: %+v", late.Reminders)
	}
	if k := kinds(late.Messages); k["overdue email"] != 2 || k["overdue slack"] != 1 || k["review email"] != 2 || k["review slack"] != 1 {
		t.Errorf("the late one's messages: %v", k)
	}
	// Issue 21's loop: the Reviewed one's follow-ups were due 5 business
	// days after it resolved; each open one got its first reminder, and the
	// outage, in the same scope, recurred it.
	if len(rv.Followups) != 2 {
		t.Fatalf("the Reviewed one's follow-ups: %+v", rv.Followups)
	}
	for _, f := range rv.Followups {
		if f.DueDate == "" || len(f.Reminders) != 1 || !strings.Contains(f.Reminders[0], "follow-up of post-mortem [PM-1|") ||
			!strings.Contains(f.Reminders[0], "days late") || !strings.Contains(f.Reminders[0], "(reminder 1 of 3)") {
			t.Errorf("follow-up %+v: want a due date and one reminder", f)
		}
	}
	if len(rv.Recurred) != 1 || !strings.HasPrefix(rv.Recurred[0], `Recurred: [\#4211 "Checkout returns 502 for card payments"|`) ||
		!strings.Contains(rv.Recurred[0], "while PM-2, PM-3 are open.") {
		t.Errorf("the recurrence comment on the Reviewed one: %q", rv.Recurred)
	}
	if len(rep.Recurs) != 1 || rep.Recurs[0].Epic != rv.Epic || !slices.Equal(rep.Recurs[0].Open, []string{"PM-2", "PM-3"}) ||
		!slices.Contains(rep.Epic.Labels, "recurrence") {
		t.Errorf("the outage's recurrence: %+v, labels %v", rep.Recurs, rep.Epic.Labels)
	}
	if page, err := os.ReadFile(rep.PageFile); err != nil || !strings.Contains(string(page), "h2. Earlier incidents on these services") ||
		!strings.Contains(string(page), "|[PM-1|") {
		t.Errorf("the outage's page lacks its section Earlier incidents on these services (%v)", err)
	}
	for _, f := range rep.FollowUps {
		if f.DueDate == "" {
			t.Errorf("the outage's follow-up %s has no due date", f.Key)
		}
	}
	for _, f := range late.Followups {
		if len(f.Reminders) != 0 {
			t.Errorf("the late one's follow-up %s, not yet due, was reminded: %v", f.Key, f.Reminders)
		}
	}
	o := rep.Overview
	if o.Open != 3 || o.Overdue != 1 || o.Reviewed != 1 || o.MedianDaysToReviewed == nil || *o.MedianDaysToReviewed != 3 {
		t.Errorf("overview %+v", o)
	}
}

// The text report names, for people, each message with its channel,
// recipients and subject, the calendar hold, the overdue post-mortem and
// the reminders sent.
func TestDemoTextNamesTheMessagesAndTheReminders(t *testing.T) {
	out, _ := runDemo(t, DemoOptions{})
	for _, want := range []string{
		"Messages sent about PM-7 (3; each one also in ",
		"  email created  to incident-stakeholders@shop.example: Post-mortem PM-7: [SEV-1] Checkout returns 502 for card payments (#4211)",
		"  email hold     to alice@shop.example: Meeting hold: Post-mortem PM-7:",
		"      calendar hold: DTSTART ",
		"  slack created  to the webhook in SLACK_WEBHOOK_URL: SEV-1: Checkout returns 502 for card payments resolved after",
		"  PM-1 [SEV-2] Card authorisations take 8 seconds at checkout (#4187), owner Bob Li <bob@shop.example>",
		"Recurrence: it recurs PM-1 (#4187 Card authorisations take 8 seconds at checkout), whose follow-ups PM-2, PM-3 were open",
		"      recurred, said on PM-1: Recurred: [\\#4211 \"Checkout returns 502 for card payments\"|",
		"      Reviewed 3.0 days after it was made",
		"      follow-up PM-2 Schedule the post-mortem meeting (due ",
		"        reminded: Nobody is assigned to this follow-up yet: whoever picks it up, this follow-up of post-mortem [PM-1|",
		"        email reviewed to bob@shop.example: Reviewed: post-mortem PM-1",
		"      Draft, meeting was due ",
		": overdue, 3 days late",
		"      reminders sent (2), each a comment on PM-4 that mentions the owner",
		"        review 1 at ",
		"        overdue 1 at ",
		"the post-mortem meeting was due",
		"        email overdue  to carol@shop.example: Overdue (1): post-mortem PM-4",
		"        slack overdue  to the webhook in SLACK_WEBHOOK_URL: The post-mortem meeting of PM-4 was due",
		"3 open, 0 in review, 1 overdue; median time to Reviewed 3.0 days (of 1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the text report lacks %q:\n%s", want, out)
		}
	}
}
