package notify_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifytest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type classified interface {
	Retryable() bool
	Unapplied() bool
}

func classify(t *testing.T, err error) (retryable, unapplied bool) {
	t.Helper()
	var c classified
	if !errors.As(err, &c) {
		t.Fatalf("error %v does not say whether to retry", err)
	}
	return c.Retryable(), c.Unapplied()
}

func sample() notify.Facts {
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	return notify.Facts{
		Incident: "Q1ABC", Number: 42, Title: "Checkout <500s> & timeouts", IncidentURL: "https://acme.pagerduty.com/incidents/Q1ABC",
		Severity: "SEV-1", Services: []string{"PSVC001"}, Key: "PM-7", EpicURL: "https://acme.atlassian.net/browse/PM-7",
		Owner: "alice@example.com", TriggeredAt: t0, ResolvedAt: t0.Add(95 * time.Minute),
		ReviewDue: time.Date(2026, 11, 22, 15, 35, 0, 0, time.UTC), MeetingDue: time.Date(2026, 11, 23, 15, 35, 0, 0, time.UTC),
		TZ: "America/New_York",
		Invitees: []notify.Invitee{
			{Name: "Alice Ng", Email: "alice@example.com", Why: "incident commander"},
			{Name: "Sam Roe", Why: "shadow of the incident commander"},
			{Email: "payments-owner@example.com", Why: "owner of PSVC001"},
			{Email: "liaison@example.com", Why: "customer liaison (SEV-1)"},
		},
	}
}

func TestEmailOverSTARTTLSWithAuth(t *testing.T) {
	srv := notifytest.NewSMTP(t)
	c := notify.New(srv.Config(), nil, nil)
	f := sample()
	m := notify.Created(f)
	loc, _ := time.LoadLocation(f.TZ)
	hold := notify.Hold(f, notify.MeetingSlot(f.MeetingDue, loc, nil), f.ResolvedAt, f.Owner)
	err := c.Email(context.Background(), notify.Email{To: []string{"alice@example.com", "sre@example.com"}, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		Attachments: []notify.Attachment{{Name: "postmortem.ics", ContentType: "text/calendar; method=REQUEST; charset=utf-8", Data: hold}}})
	if err != nil {
		t.Fatal(err)
	}
	mails := srv.Mails()
	if len(mails) != 1 || srv.Authenticated() != 1 {
		t.Fatalf("got %d mails after %d sign-ins, want 1 and 1", len(mails), srv.Authenticated())
	}
	got := mails[0]
	if got.From != notifytest.From || strings.Join(got.To, ",") != "alice@example.com,sre@example.com" {
		t.Fatalf("envelope %s -> %v", got.From, got.To)
	}
	for _, want := range []string{"Subject: Post-mortem PM-7:", "Content-Type: text/plain", "Content-Type: text/html", "text/calendar", "postmortem.ics"} {
		if !strings.Contains(got.Data, want) {
			t.Errorf("the mail lacks %q:\n%s", want, got.Data)
		}
	}
}

func TestEmailFailuresSayWhetherToRetry(t *testing.T) {
	cases := []struct {
		name                 string
		setup                func(*notifytest.SMTP, *notify.Config)
		retryable, unapplied bool
	}{
		{"recipient refused for now (451)", func(s *notifytest.SMTP, _ *notify.Config) { s.RefuseRcpt(451) }, true, true},
		{"recipient refused (550)", func(s *notifytest.SMTP, _ *notify.Config) { s.RefuseRcpt(550) }, false, true},
		{"wrong password (535)", func(_ *notifytest.SMTP, c *notify.Config) { c.Password = "wrong-password-also-secret" }, false, true},
		{"answer to the final dot lost", func(s *notifytest.SMTP, _ *notify.Config) { s.DropAfterData(1) }, true, false},
		{"nobody listening", func(_ *notifytest.SMTP, c *notify.Config) { c.SMTPAddr = "127.0.0.1:1" }, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := notifytest.NewSMTP(t)
			cfg := srv.Config()
			tc.setup(srv, &cfg)
			var logs bytes.Buffer
			c := notify.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			err := c.Email(context.Background(), notify.Email{To: []string{"a@example.com"}, Subject: "s", Text: "t"})
			if err == nil {
				t.Fatal("sent")
			}
			r, u := classify(t, err)
			if r != tc.retryable || u != tc.unapplied {
				t.Fatalf("%v: retryable %v unapplied %v, want %v %v", err, r, u, tc.retryable, tc.unapplied)
			}
			for _, secret := range []string{notifytest.Password, "wrong-password-also-secret"} {
				if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
					t.Fatalf("the password shows: %v\n%s", err, logs.String())
				}
			}
		})
	}
}

func TestSlack(t *testing.T) {
	rcv := notifytest.NewSlack(t)
	env := map[string]string{"SLACK_SRE": rcv.URL, "SLACK_BAD": "http://127.0.0.1:1/services/T/B/also-secret"}
	var logs bytes.Buffer
	c := notify.New(notify.Config{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
		slog.New(slog.NewTextHandler(&logs, nil)), nil)
	m := notify.Created(sample()).Slack
	if err := c.Slack(context.Background(), "SLACK_SRE", m); err != nil {
		t.Fatal(err)
	}
	if p := rcv.Posts(); len(p) != 1 || p[0].Text != m.Text || len(p[0].Blocks) == 0 {
		t.Fatalf("posted %+v", p)
	}
	cases := []struct {
		env                  string
		fail                 int
		retryable, unapplied bool
	}{
		{"SLACK_SRE", 500, true, true},
		{"SLACK_SRE", 429, true, true},
		{"SLACK_SRE", 503, true, true},
		{"SLACK_SRE", 502, true, false},
		{"SLACK_SRE", 404, false, true},
		{"SLACK_UNSET", 0, false, true},
		{"SLACK_BAD", 0, true, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.env, tc.fail), func(t *testing.T) {
			if tc.fail != 0 {
				rcv.Fail(tc.fail)
			}
			err := c.Slack(context.Background(), tc.env, m)
			if err == nil {
				t.Fatal("posted")
			}
			r, u := classify(t, err)
			if r != tc.retryable || u != tc.unapplied {
				t.Fatalf("%v: retryable %v unapplied %v, want %v %v", err, r, u, tc.retryable, tc.unapplied)
			}
			for _, secret := range []string{rcv.URL, "secret-webhook-token", "also-secret"} {
				if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
					t.Fatalf("the webhook URL shows: %v", err)
				}
			}
			if !strings.Contains(err.Error(), tc.env) {
				t.Fatalf("%v does not name the variable", err)
			}
		})
	}
	if n := len(rcv.Posts()); n != 1 {
		t.Fatalf("%d posts, want the one that succeeded", n)
	}
}

func TestMeetingSlot(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	cases := []struct{ due, want time.Time }{
		// Monday 10:35 in New York: 10:00–10:30.
		{time.Date(2026, 11, 23, 10, 35, 0, 0, ny), time.Date(2026, 11, 23, 10, 0, 0, 0, ny)},
		// After hours: the day's last slot.
		{time.Date(2026, 11, 23, 21, 0, 0, 0, ny), time.Date(2026, 11, 23, 16, 30, 0, 0, ny)},
		// Monday before 09:30: Friday's last slot.
		{time.Date(2026, 11, 23, 9, 10, 0, 0, ny), time.Date(2026, 11, 20, 16, 30, 0, 0, ny)},
		// Sunday: Friday.
		{time.Date(2026, 11, 22, 12, 0, 0, 0, ny), time.Date(2026, 11, 20, 16, 30, 0, 0, ny)},
	}
	for _, tc := range cases {
		if got := notify.MeetingSlot(tc.due.UTC(), ny, nil); !got.Equal(tc.want) || got.Location() != ny {
			t.Errorf("due %s: got %s, want %s", tc.due, got, tc.want)
		}
	}
}

func TestHoldParsesBack(t *testing.T) {
	f := sample()
	ny, _ := time.LoadLocation(f.TZ)
	start := time.Date(2026, 11, 23, 15, 0, 0, 0, ny)
	raw := notify.Hold(f, start, f.ResolvedAt, f.Owner)
	s := string(raw)
	if !strings.HasSuffix(s, "\r\n") || strings.Count(s, "\n") != strings.Count(s, "\r\n") {
		t.Fatalf("not CRLF line ends:\n%q", s)
	}
	// In UTC: 15:00 EST is 20:00Z.
	for _, want := range []string{"DTSTART:20261123T200000Z\r\n", "DTEND:20261123T203000Z\r\n", "DTSTAMP:20261120T153500Z\r\n", "METHOD:REQUEST\r\n",
		"ORGANIZER:mailto:alice@example.com\r\n", "ATTENDEE;CN=\"Alice Ng\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE\r\n :mailto:alice@example.com\r\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
	cal, err := ics.ParseCalendar(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	got, err := evs[0].GetStartAt()
	if err != nil || !got.Equal(start) {
		t.Fatalf("start %s (%v), want %s", got, err, start)
	}
	end, err := evs[0].GetEndAt()
	if err != nil || end.Sub(got) != 30*time.Minute {
		t.Fatalf("end %s (%v)", end, err)
	}
	var att []string
	for _, a := range evs[0].Attendees() {
		att = append(att, a.Email())
	}
	// The shadow has no email: listed in the message, not an attendee.
	if want := "alice@example.com payments-owner@example.com liaison@example.com"; strings.Join(att, " ") != want {
		t.Fatalf("attendees %v, want %s", att, want)
	}
}

// The hold is valid RFC 5545 to a strict reader as well as to golang-ical,
// whatever the title and the names hold (CR, LF, CRLF, the characters
// RFC 5545 escapes or quotes, text beyond ASCII across a fold), and says
// the right instant in summer and in winter alike.
func TestHoldIsStrictRFC5545(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	type attendees map[string]string // email -> CN
	cases := []struct {
		name        string
		edit        func(*notify.Facts)
		wantSummary string
		wantCN      attendees
	}{
		{"plain", func(*notify.Facts) {}, "Post-mortem meeting: [SEV-1] Checkout <500s> & timeouts (#42)",
			attendees{"alice@example.com": "Alice Ng", "payments-owner@example.com": "", "liaison@example.com": ""}},
		{"a name with a comma", func(f *notify.Facts) { f.Invitees = []notify.Invitee{{Name: "Ng, Alice", Email: "alice@example.com"}} },
			"Post-mortem meeting: [SEV-1] Checkout <500s> & timeouts (#42)", attendees{"alice@example.com": "Ng, Alice"}},
		{"a title with a CR", func(f *notify.Facts) { f.Title = "Checkout\rdown" }, "Post-mortem meeting: [SEV-1] Checkout down (#42)",
			attendees{"alice@example.com": "Alice Ng", "payments-owner@example.com": "", "liaison@example.com": ""}},
		{"everything at once", func(f *notify.Facts) {
			f.Title = "Checkout\rdown\r\nagain; \"big\", \\ 50% \n" + strings.Repeat("Zürich–São Paulo ✓ ", 8)
			f.Invitees = []notify.Invitee{
				{Name: "Ng, Alice; \"Al\": IC", Email: "alice@example.com", Why: "incident commander"},
				{Name: "Bob\r\nRoe\rJr\nIII", Email: "bob@example.com", Why: "responder"},
				{Name: "Zoë Ünal-Øster ✓ " + strings.Repeat("é", 40), Email: "zoe@example.com", Why: "responder"},
				{Name: "Mallory", Email: "mallory@example.com\r\nATTENDEE:mailto:x@evil.example", Why: "responder"},
				{Name: "Display", Email: "Display <d@example.com>", Why: "responder"},
			}
		}, "Post-mortem meeting: [SEV-1] Checkout down again; \"big\", \\ 50%  " + strings.Repeat("Zürich–São Paulo ✓ ", 8) + " (#42)",
			// An address that is not one is not invited.
			attendees{"alice@example.com": "Ng, Alice; 'Al': IC", "bob@example.com": "Bob Roe Jr III", "zoe@example.com": "Zoë Ünal-Øster ✓ " + strings.Repeat("é", 40)}},
	}
	starts := []time.Time{
		time.Date(2026, 7, 15, 10, 0, 0, 0, ny),  // EDT, UTC-4
		time.Date(2026, 11, 23, 15, 0, 0, 0, ny), // EST, UTC-5
		time.Date(2027, 3, 15, 9, 30, 0, 0, ny),  // the Monday after DST began
	}
	for _, tc := range cases {
		for _, start := range starts {
			t.Run(tc.name+" "+start.Format("2006-01-02"), func(t *testing.T) {
				f := sample()
				tc.edit(&f)
				raw := notify.Hold(f, start, f.ResolvedAt, f.Owner)
				cal, err := notifytest.StrictICS(raw)
				if err != nil {
					t.Fatalf("not RFC 5545: %v\n%s", err, raw)
				}
				if got, err := notifytest.ICSStart(cal); err != nil || !got.Equal(start) {
					t.Fatalf("the strict reader's start is %s (%v), want %s", got, err, start)
				}
				ev := cal.Components("VEVENT")[0]
				if got := notifytest.ICSUnText(ev.Properties("SUMMARY")[0].Value); got != tc.wantSummary {
					t.Errorf("summary\n%q, want\n%q", got, tc.wantSummary)
				}
				got := attendees{}
				for _, a := range ev.Properties("ATTENDEE") {
					got[strings.TrimPrefix(a.Value, "mailto:")] = strings.Join(a.Params["CN"], ",")
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.wantCN) {
					t.Errorf("attendees %v, want %v", got, tc.wantCN)
				}

				lib, err := ics.ParseCalendar(strings.NewReader(string(raw)))
				if err != nil {
					t.Fatalf("golang-ical: %v", err)
				}
				evs := lib.Events()
				if len(evs) != 1 {
					t.Fatalf("golang-ical: %d events", len(evs))
				}
				if s, err := evs[0].GetStartAt(); err != nil || !s.Equal(start) {
					t.Fatalf("golang-ical's start is %s (%v), want %s", s, err, start)
				}
				if e, err := evs[0].GetEndAt(); err != nil || !e.Equal(start.Add(30*time.Minute)) {
					t.Fatalf("golang-ical's end is %s (%v)", e, err)
				}
				if n := len(evs[0].Attendees()); n != len(tc.wantCN) {
					t.Fatalf("golang-ical reads %d attendees, want %d", n, len(tc.wantCN))
				}
			})
		}
	}
}

// The strict reader refuses what RFC 5545 forbids; without that the test
// above could not fail.
func TestStrictICSReaderRefuses(t *testing.T) {
	cal := func(event ...string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\n" +
			strings.Join(event, "\r\n") + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	}
	nyStandardOnly := "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
	good := cal("DTSTART:20260715T140000Z", "SUMMARY:a\\, b\\; c\\n", `ATTENDEE;CN="Ng, Alice";RSVP=TRUE:mailto:a@example.com`)
	if _, err := notifytest.StrictICS([]byte(good)); err != nil {
		t.Fatalf("refused a valid calendar: %v", err)
	}
	for name, raw := range map[string]string{
		"bare CR in a value":        cal("DTSTART:20260715T140000Z", "SUMMARY:a\rb"),
		"bare LF in a parameter":    cal("DTSTART:20260715T140000Z", "ATTENDEE;CN=a\nb:mailto:a@example.com"),
		"a line over 75 octets":     cal("DTSTART:20260715T140000Z", "SUMMARY:"+strings.Repeat("a", 68)),
		"an unquoted comma":         cal("DTSTART:20260715T140000Z", `ATTENDEE;CN=Ng\, Alice:mailto:a@example.com`),
		"an unquoted colon":         cal("DTSTART:20260715T140000Z", `ATTENDEE;CN=a: b:mailto:a@example.com`),
		"a quote in a quoted value": cal("DTSTART:20260715T140000Z", `ATTENDEE;CN="a \"b\"":mailto:a@example.com`),
		"an unescaped semicolon":    cal("DTSTART:20260715T140000Z", "SUMMARY:a; b"),
		"a bad escape":              cal("DTSTART:20260715T140000Z", `SUMMARY:a\b`),
		"RSVP=yes":                  cal("DTSTART:20260715T140000Z", "ATTENDEE;RSVP=yes:mailto:a@example.com"),
		"a floating time":           cal("DTSTART:20260715T140000"),
		"a TZID with no VTIMEZONE":  cal("DTSTART;TZID=America/New_York:20260715T100000"),
		"a standard-only VTIMEZONE": strings.Replace(cal("DTSTART;TZID=America/New_York:20260715T100000"), "BEGIN:VEVENT", strings.TrimSuffix(nyStandardOnly, "\r\n")+"\r\nBEGIN:VEVENT", 1),
		"no CRLF at the end":        strings.TrimSuffix(good, "\r\n"),
		"no UID":                    strings.Replace(good, "UID:u\r\n", "", 1),
		"END with nothing open":     good + "END:VEVENT\r\n",
	} {
		if _, err := notifytest.StrictICS([]byte(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMessagesGolden(t *testing.T) {
	f := sample()
	msgs := map[string]notify.Message{
		"created":  notify.Created(f),
		"review":   notify.Review(f),
		"overdue":  notify.Overdue(f, "In Review", 2, true),
		"reviewed": notify.Reviewed(f, "Between 14:00 and 15:35 UTC some checkouts failed."),
		"hold":     notify.MeetingHold(f),
	}
	for name, m := range msgs {
		t.Run(name, func(t *testing.T) {
			forms := map[string]string{"txt": "Subject: " + m.Subject + "\n\n" + m.Text, "html": m.HTML}
			if len(m.Slack.Blocks) > 0 { // the meeting hold has no Slack form
				forms["slack.json"], _ = jsonIndent(m.Slack)
			}
			for ext, got := range forms {
				path := filepath.Join("testdata", name+"."+ext)
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs (run with -update):\n%s", path, got)
				}
			}
		})
	}
}

// A very long body (a Reviewed message whose results are long, with a line
// of 5,000 characters and text beyond ASCII) goes through SMTP intact:
// no line of the message is over RFC 5322's 998 octets, and the text and
// HTML parts decode back to all of it.
func TestEmailLongBodyArrivesWhole(t *testing.T) {
	srv := notifytest.NewSMTP(t)
	c := notify.New(srv.Config(), nil, nil)
	results := longResults() + "\n\n" + strings.Repeat("Zürich–São Paulo ✓ ", 2000) + "\n\nLast line."
	m := notify.Reviewed(sample(), results)
	if err := c.Email(context.Background(), notify.Email{To: []string{"a@example.com"}, Subject: m.Subject, Text: m.Text, HTML: m.HTML}); err != nil {
		t.Fatal(err)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	for i, l := range strings.Split(mails[0].Data, "\r\n") {
		if len(l) > 998 {
			t.Fatalf("line %d is %d octets, over 998", i+1, len(l))
		}
	}
	parts, err := mails[0].Parts()
	if err != nil {
		t.Fatal(err)
	}
	var text, html string
	for _, p := range parts {
		switch p.ContentType {
		case "text/plain":
			text = string(p.Body)
		case "text/html":
			html = string(p.Body)
		}
	}
	if !strings.Contains(strings.ReplaceAll(text, "\r\n", "\n"), results) {
		t.Errorf("the text part lost some of the results (%d octets)", len(text))
	}
	if !strings.Contains(html, "Last line.") || !strings.Contains(html, strings.Repeat("x", 4000)) {
		t.Errorf("the HTML part lost some of the results (%d octets)", len(html))
	}
}
