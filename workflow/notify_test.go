package workflow

import (
	"bytes"
	"context"
	"encoding/json"
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
	if st := steps["notify_created_email_1"]; st.Status != store.StepFailed || !strings.Contains(st.Error, "550") {
		t.Fatalf("the refusal is not recorded: %+v", st)
	}
	if err := e.run(t, notifyFacts("QN3")); err != nil || len(e.smtp.Mails()) != 2 {
		t.Fatalf("the refused mail was tried again: %v, %d mails", err, len(e.smtp.Mails()))
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
