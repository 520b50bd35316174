package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

const notifyRules = testRules + `customer_liaison: liaison@example.com
holidays:
  calendar: us
notify:
  - email: [stakeholders@example.com]
  - slack_webhook_env: SLACK_SRE
  - email: [execs@example.com]
    severities: [SEV-1]
  - slack_webhook_env: SLACK_PAY
    services: [PSVC009]
people:
  services:
    - services: [PSVC001]
      owners: [checkout-owner@example.com]
      engineering_managers: [checkout-em@example.com]
      product_managers: [checkout-pm@example.com]
`

type notifyEnv struct {
	smtp  *notifytest.SMTP
	slack *notifytest.Slack // SLACK_SRE
	pay   *notifytest.Slack // SLACK_PAY, for PSVC009 only
	res   *Resolution
	rules *rules.Rules
	st    *store.Store
}

func newNotifyEnv(t *testing.T) *notifyEnv {
	t.Helper()
	rl, err := rules.Load("test-rules.yaml", []byte(notifyRules))
	if err != nil {
		t.Fatal(err)
	}
	r := redistest.New(t)
	st := store.New(r.Client, r.Prefix)
	e := &notifyEnv{smtp: notifytest.NewSMTP(t), slack: notifytest.NewSlack(t), pay: notifytest.NewSlack(t), rules: rl, st: st}
	cfg := e.smtp.Config()
	cfg.Getenv = func(k string) (string, bool) {
		switch k {
		case "SLACK_SRE":
			return e.slack.URL, true
		case "SLACK_PAY":
			return e.pay.URL, true
		}
		return "", false
	}
	e.res = &Resolution{Store: st, Notifier: notify.New(cfg, nil, nil), Now: func() time.Time { return t0.Add(2 * time.Hour) }}
	return e
}

func (e *notifyEnv) run(t *testing.T, f notify.Facts) error {
	t.Helper()
	body, _ := json.Marshal(f)
	return e.res.Process(context.Background(), queue.Job{Attempt: 1, Rules: e.rules,
		Delivery: store.Delivery{EventID: "n-" + f.Incident, EventType: EventNotify, IncidentID: f.Incident, Body: body}})
}

func notifyFacts(id string) notify.Facts {
	return notify.Facts{Incident: id, Number: 7, Title: "Checkout errors", Severity: "SEV-1", Services: []string{"PSVC001"},
		Key: "PM-1", EpicURL: "https://jira.example.com/browse/PM-1", Owner: "owner@example.com",
		TriggeredAt: t0, ResolvedAt: t0.Add(time.Hour), MeetingDue: t0.Add(72 * time.Hour), TZ: "America/New_York",
		Invitees: []notify.Invitee{{Name: "Alice", Email: "alice@example.com", Why: "incident commander"}}}
}

// recipients lists the envelope recipients of every mail, in order.
func recipients(s *notifytest.SMTP) []string {
	var out []string
	for _, m := range s.Mails() {
		out = append(out, strings.Join(m.To, ","))
	}
	return out
}

func TestNotifyCreatedSendsEachMessageOnce(t *testing.T) {
	e := newNotifyEnv(t)
	f := notifyFacts("QN1")
	for range 2 { // a second copy of the job sends nothing
		if err := e.run(t, f); err != nil {
			t.Fatal(err)
		}
	}
	// stakeholders, execs (SEV-1), the owner's hold; SLACK_PAY's service is not involved.
	if got := strings.Join(recipients(e.smtp), " "); got != "stakeholders@example.com execs@example.com owner@example.com" {
		t.Fatalf("mails to %s", got)
	}
	if n, pay := len(e.slack.Posts()), len(e.pay.Posts()); n != 1 || pay != 0 {
		t.Fatalf("%d Slack posts, %d to PSVC009's channel; want 1 and 0", n, pay)
	}
	hold := e.smtp.Mails()[2].Data
	if !strings.Contains(hold, "text/calendar") || !strings.Contains(hold, "postmortem-PM-1.ics") {
		t.Fatalf("the owner's mail has no hold:\n%s", hold)
	}
}

func TestNotifyFailuresRetriedNeverDoubled(t *testing.T) {
	e := newNotifyEnv(t)
	f := notifyFacts("QN2")
	e.smtp.RefuseRcpt(451) // the stakeholders' mail: try later
	e.slack.Fail(500)
	err := e.run(t, f)
	if err == nil || IsPermanent(err) {
		t.Fatalf("got %v, want a retryable error", err)
	}
	// The messages that went are not sent again; the refused ones are.
	if err := e.run(t, f); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(recipients(e.smtp), " "); got != "execs@example.com owner@example.com stakeholders@example.com" {
		t.Fatalf("mails to %s", got)
	}
	if n := len(e.slack.Posts()); n != 1 {
		t.Fatalf("%d Slack posts, want 1", n)
	}
	e.slack.Fail(429)
	if err := e.run(t, f); err != nil {
		t.Fatal(err)
	}
	if n := len(e.slack.Posts()); n != 1 || len(e.smtp.Mails()) != 3 {
		t.Fatal("a done job sent again")
	}
}

func TestNotifyPermanentRefusalDoesNotFailTheJob(t *testing.T) {
	e := newNotifyEnv(t)
	e.smtp.RefuseRcpt(550)
	if err := e.run(t, notifyFacts("QN3")); err != nil {
		t.Fatalf("a refused recipient failed the job: %v", err)
	}
	steps, _ := e.st.Steps(context.Background(), "QN3")
	if st := steps["notify_created_email_1"]; st.Status != store.StepFailed || !st.Refused || !strings.Contains(st.Error, "550") {
		t.Fatalf("the refusal is not recorded: %+v", st)
	}
	if err := e.run(t, notifyFacts("QN3")); err != nil || len(e.smtp.Mails()) != 2 {
		t.Fatalf("the refused mail was tried again: %v, %d mails", err, len(e.smtp.Mails()))
	}
}

// Whether a message was refused for good is the record's Refused field,
// never its text: a refused message whose detail does not say so is not
// tried again, and one that failed for a while, whose detail happens to
// end like a refusal's, is.
func TestNotifyRefusalIsReadFromTheRecordNotItsText(t *testing.T) {
	e := newNotifyEnv(t)
	ctx := context.Background()
	for _, st := range []store.StepRecord{
		{Name: "notify_created_email_1", Status: store.StepFailed, Refused: true, Intent: "email 1 recipients", Detail: "email 1 recipients", Error: "550 no such user"},
		{Name: "notify_created_slack_2", Status: store.StepFailed, Intent: "post to Slack", Detail: "post to Slack: Checkout (not retried)", Error: "slack: 500"},
	} {
		if err := e.st.RecordStep(ctx, "QN5", st); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.run(t, notifyFacts("QN5")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(recipients(e.smtp), " "); got != "execs@example.com owner@example.com" {
		t.Fatalf("mails to %s, want the refused stakeholders' mail not tried again", got)
	}
	if n := len(e.slack.Posts()); n != 1 {
		t.Fatalf("%d Slack posts, want the one that failed for a while posted", n)
	}
}

func TestNotifyCrashBetweenSendingAndRecording(t *testing.T) {
	e := newNotifyEnv(t)
	ctx := context.Background()
	// An attempt recorded the intent of the Slack post, and died before
	// recording its result: it may have been posted.
	if err := e.st.RecordStep(ctx, "QN4", store.StepRecord{Name: "notify_created_slack_2", Status: store.StepStarted,
		Intent: "post to Slack", IntentAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// The stakeholders' mail: the server kept it, the answer was lost.
	e.smtp.DropAfterData(1)
	if err := e.run(t, notifyFacts("QN4")); err == nil {
		t.Fatal("a lost answer is not retried")
	}
	if err := e.run(t, notifyFacts("QN4")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.slack.Posts()); n != 0 {
		t.Fatalf("posted %d times after the crash: may double", n)
	}
	if got := strings.Join(recipients(e.smtp), " "); got != "stakeholders@example.com execs@example.com owner@example.com" {
		t.Fatalf("mails to %s: the mail whose answer was lost went twice", got)
	}
	steps, _ := e.st.Steps(ctx, "QN4")
	for _, s := range []string{"notify_created_slack_2", "notify_created_email_1"} {
		if st := steps[s]; st.Status != store.StepDone || st.Result != MaybeWritten {
			t.Fatalf("%s: %+v, want done, maybe sent", s, st)
		}
	}
}

func TestInviteesBySeverity(t *testing.T) {
	e := newNotifyEnv(t)
	tl := Timeline{Responders: []Responder{
		{Name: "Alice Ng", Role: "Incident commander"},
		{UserID: "PU2", Name: "Bob", Actions: []string{"acknowledged #7"}},
	}}
	logs := map[string]incidentLog{}
	for _, tc := range []struct{ sev, want string }{
		{"SEV-1", "Alice Ng (incident commander); checkout-owner@example.com (service owner); Bob (responder); checkout-em@example.com (engineering manager); checkout-pm@example.com (product manager); liaison@example.com (customer liaison (SEV-1))"},
		{"SEV-2", "Alice Ng (incident commander); checkout-owner@example.com (service owner); Bob (responder); checkout-em@example.com (engineering manager); checkout-pm@example.com (product manager)"},
	} {
		x := e.res.newRun("QI1", EventResolved, "", e.rules, nil)
		got := x.invitees(context.Background(), tc.sev, []string{"PSVC001"}, logs, tl, true)
		var s []string
		for _, in := range got {
			s = append(s, in.Label()+" ("+in.Why+")")
		}
		if strings.Join(s, "; ") != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.sev, strings.Join(s, "; "), tc.want)
		}
	}
	if got := shadowIn("IC: Alice Ng\n- Shadow: Sam Roe"); got != "Sam Roe" {
		t.Fatalf("shadow %q", got)
	}
}

// The notify entries' filters: an entry with severities is for those
// levels only, one with services for post-mortems involving one of them
// only; an entry with neither is for all.
func TestNotifyEntriesFilteredBySeverityAndService(t *testing.T) {
	for _, tc := range []struct {
		name, severity, service string
		mails                   string
		sre, pay                int
	}{
		{"SEV-2 on PSVC001", "SEV-2", "PSVC001", "stakeholders@example.com owner@example.com", 1, 0},
		{"SEV-1 on PSVC001", "SEV-1", "PSVC001", "stakeholders@example.com execs@example.com owner@example.com", 1, 0},
		{"SEV-2 on PSVC009", "SEV-2", "PSVC009", "stakeholders@example.com owner@example.com", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newNotifyEnv(t)
			f := notifyFacts("QF" + strings.ReplaceAll(tc.name, " ", ""))
			f.Severity, f.Services = tc.severity, []string{tc.service}
			if err := e.run(t, f); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(recipients(e.smtp), " "); got != tc.mails {
				t.Errorf("mails to %s, want %s", got, tc.mails)
			}
			if sre, pay := len(e.slack.Posts()), len(e.pay.Posts()); sre != tc.sre || pay != tc.pay {
				t.Errorf("Slack posts: %d to SLACK_SRE, %d to SLACK_PAY; want %d and %d", sre, pay, tc.sre, tc.pay)
			}
		})
	}
}

// The owner's calendar hold is at the latest working-hours slot before the
// meeting is due, skipping the rules' holidays: due Friday 27 November
// 2026 at 09:10 New York time, before a slot fits that morning, the day
// before is Thanksgiving, so the hold is Wednesday 16:30-17:00.
func TestNotifyHoldAtTheLastWorkingSlotBeforeTheMeetingDue(t *testing.T) {
	e := newNotifyEnv(t)
	ny, _ := time.LoadLocation("America/New_York")
	f := notifyFacts("QH1")
	f.MeetingDue = time.Date(2026, 11, 27, 9, 10, 0, 0, ny)
	if err := e.run(t, f); err != nil {
		t.Fatal(err)
	}
	var hold []byte
	for _, m := range e.smtp.Mails() {
		parts, err := m.Parts()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if p.ContentType == "text/calendar" && strings.Join(m.To, ",") == f.Owner {
				hold = p.Body
			}
		}
	}
	if hold == nil {
		t.Fatal("the owner got no hold")
	}
	cal, err := ics.ParseCalendar(bytes.NewReader(hold))
	if err != nil || len(cal.Events()) != 1 {
		t.Fatalf("the hold does not parse: %v\n%s", err, hold)
	}
	start, err := cal.Events()[0].GetStartAt()
	if want := time.Date(2026, 11, 25, 16, 30, 0, 0, ny); err != nil || !start.Equal(want) {
		t.Fatalf("the hold starts %s (%v), want %s", start.In(ny), err, want)
	}
	steps, _ := e.st.Steps(context.Background(), "QH1")
	if st := steps["notify_created_hold"]; !strings.Contains(st.Intent, "2026-11-25 16:30 EST") {
		t.Fatalf("the hold's step says %+v", st)
	}
}

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
