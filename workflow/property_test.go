package workflow

import (
	"context"
	"fmt"
	"math/rand/v2"
	netmail "net/mail"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifytest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/testutil"
)

// The property: whatever an incident holds (0 to 500 notes of up to 64 KiB,
// text from every Unicode plane, Jira wiki markup and Slack control
// sequences, people whose names hold , : ; CR and LF), resolving it gives
// exactly one epic whose page fits in Jira, every message within its
// channel's limits (the simulators and the Slack receiver refuse what the
// real services refuse), a meeting hold that a strict RFC 5545 reader
// accepts, no dead letter and no panic; and a redelivery changes nothing.

// shape bounds what one drawn incident holds.
type shape struct {
	maxNotes, maxNoteBytes, maxTotalBytes int
	exact                                 bool // exactly maxNotes notes, not up to
}

// pieces are the hostile fragments the text is drawn from.
var pieces = []string{
	"{code}", "{noformat}", "{quote}", "{panel:title=x}", "{color:red}", "{{mono}}", "[~accountid:5b10a2844c20165700ede21g]",
	"[click|https://evil.example/x]", "h1. ", "||a||b||", "|x|y|", "*bold*", "_em_", "-----", "!image.png!", "\\\\", "[aftermath:postmortem:PX]",
	"<!channel>", "<!here>", "<@U024BE7LH>", "<#C024BE7LH>", "<https://evil.example|open>", "&amp;", "&lt;", "```", "~strike~", ">quote",
	"\r", "\n", "\r\n", "\t", "\x00", "\x1b[31m", "\u202e", "\u200d", "\ufeff", "e\u0301", "BEGIN:VEVENT", "END:VCALENDAR", ";CN=x:", "\\n",
	"TODO: ", "FOLLOWUP: ", "IC: ", "Scribe: ", "https://grafana.example.com/d/", "Subject: x\r\nBcc: victim@example.com",
	"<script>alert(1)</script>", "\"quoted\"", "'", "%s%n", "${jndi:ldap://x}",
}

// planes are code point ranges from every Unicode plane that holds any
// (0, 1, 2, 3, 14, 15, 16), surrogates excluded.
var planes = [][2]rune{{0x20, 0xD7FF}, {0xE000, 0xFFFD}, {0x10000, 0x1FFFF}, {0x20000, 0x2FFFF}, {0x30000, 0x3134F}, {0xE0000, 0xE01EF}, {0xF0000, 0xFFFFD}, {0x100000, 0x10FFFD}}

// drawText draws about n bytes of hostile text.
func drawText(rng *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		switch rng.IntN(4) {
		case 0:
			b.WriteString(pieces[rng.IntN(len(pieces))])
		case 1:
			p := planes[rng.IntN(len(planes))]
			for range 1 + rng.IntN(8) {
				b.WriteRune(p[0] + rune(rng.IntN(int(p[1]-p[0]+1))))
			}
		case 2:
			b.WriteString([]string{"pool", "saturation", "rollback", "deploy", "checkout", "error", "rate", "DB", " ", " ", ". "}[rng.IntN(11)])
		default:
			fmt.Fprintf(&b, "https://logs.example.com/s?q=%d ", rng.IntN(1e6))
		}
	}
	return b.String()
}

// hostileName is a display name with what breaks headers and calendars.
func hostileName(rng *rand.Rand, i int) string {
	return fmt.Sprintf("Ng, Alice%d; \"Ops\":%s\r\nBcc: x@example.com %s", i, drawText(rng, 10), []string{"", "\n", "\r", ";", ","}[rng.IntN(5)])
}

// seedIncident draws one incident into e's PagerDuty simulator: hostile
// responders (each also a Jira user, so one can own the post-mortem), a
// hostile title, notes drawn within sh. It returns the incident's ID.
func seedIncident(e *pdEnv, rng *rand.Rand, sh shape) string {
	s := e.sim
	users := []string{"PUSER01", "PUSER02", "PUSER03"}
	for i := range 3 {
		id := fmt.Sprintf("PHOST%d", i)
		email := fmt.Sprintf("hostile%d@example.com", i)
		s.AddUser(pagerdutytest.User{ID: id, Name: hostileName(rng, i), Email: email})
		e.jsim.AddUser(jiratest.User{AccountID: "acc-" + id, Name: "hostile" + fmt.Sprint(i), Key: "hostile" + fmt.Sprint(i), Email: email,
			DisplayName: hostileName(rng, i), Active: true})
		users = append(users, id)
	}
	const id = "PPROP1"
	s.AddIncident(pagerdutytest.NewIncident{ID: id, Number: 4300, Title: drawText(rng, 1+rng.IntN(1200)), ServiceID: "PSVC001", Priority: "P1", CreatedAt: t0,
		Conference: &pagerdutytest.ConferenceBridge{URL: "https://meet.example.com/x?" + drawText(rng, 20), Number: drawText(rng, 30)}})
	s.Assign(id, users[3], t0.Add(30*time.Second))
	s.Acknowledge(id, users[4], t0.Add(time.Minute))
	n := rng.IntN(sh.maxNotes + 1)
	if sh.exact {
		n = sh.maxNotes
	}
	total := 0
	for i := range n {
		size := 1 + rng.IntN(sh.maxNoteBytes)
		if total+size > sh.maxTotalBytes {
			size = max(1, sh.maxTotalBytes-total)
		}
		total += size
		s.Annotate(id, users[rng.IntN(len(users))], drawText(rng, size), t0.Add(time.Duration(2+i)*time.Second))
	}
	s.Resolve(id, users[3+rng.IntN(3)], t0.Add(2*time.Hour))
	return id
}

// resolveWithin queues the resolution of id (a new delivery each time, as
// PagerDuty's redelivery is) and waits until the queue is empty, failing the
// test on a dead letter: a large drawn incident may take longer than
// drain's 10 s under -race on a busy machine.
func resolveWithin(d *deadlineEnv, id string, limit time.Duration) {
	d.t.Helper()
	d.w.enqueue(resolved(fmt.Sprintf("E%s-%d", id, d.seq.Add(1)), id))
	testutil.EventuallyWithin(d.t, "queue drained", limit, func() bool {
		st := d.w.stats()
		return st.Length == 0 && st.Pending == 0
	})
	if st := d.w.stats(); st.Dead != 0 {
		dl, _ := d.store.DeadLetters(context.Background(), 5)
		d.t.Fatalf("dead letters: %+v", dl)
	}
}

// units counts as Jira counts: UTF-16 code units.
func units(s string) int { return len(utf16.Encode([]rune(s))) }

// checkProperty resolves one drawn incident and checks every outcome.
func checkProperty(t *testing.T, seed uint64, sh shape) {
	d := newDeadlineEnv(t, "holidays:\n  calendar: us\nnotify:\n  - email: [stakeholders@example.com]\n  - slack_webhook_env: SLACK_SRE\n", t0.Add(150*time.Minute), 1)
	smtp, slack := notifytest.NewSMTP(t), notifytest.NewSlack(t)
	cfg := smtp.Config()
	cfg.Getenv = func(k string) (string, bool) { return slack.URL, k == "SLACK_SRE" }
	d.res.Notifier = notify.New(cfg, nil, nil)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	id := seedIncident(d.pdEnv, rng, sh)

	resolveWithin(d, id, 2*time.Minute)
	epic := d.wantOneEpic()
	if n := units(epic.Description); n > 32767 {
		t.Fatalf("the epic's description is %d UTF-16 units, over Jira's 32,767", n)
	}
	if n := units(epic.Summary); n > 255 {
		t.Fatalf("the epic's summary is %d units, over 255", n)
	}
	for _, c := range d.children(epic.Key) {
		if units(c.Summary) > 255 || units(c.Description) > 32767 {
			t.Fatalf("follow-up %s: summary %d, description %d units", c.Key, units(c.Summary), units(c.Description))
		}
	}
	if refused := slack.Refused(); len(refused) > 0 {
		t.Fatalf("Slack refused %d messages: %q", len(refused), refused)
	}
	posts, mails := slack.Posts(), smtp.Mails()
	if len(posts) == 0 || len(mails) < 2 {
		t.Fatalf("%d Slack posts and %d mails: want the creation's message in each and the owner's hold", len(posts), len(mails))
	}
	for _, p := range posts {
		if err := notifytest.CheckSlack(p); err != nil {
			t.Fatalf("a Slack message over Slack's limits: %v", err)
		}
	}
	holds := 0
	for i, m := range mails {
		msg, err := netmail.ReadMessage(strings.NewReader(m.Data))
		if err != nil {
			t.Fatalf("mail %d does not parse: %v", i, err)
		}
		if bcc := msg.Header.Get("Bcc"); bcc != "" || strings.Contains(strings.Join(m.To, ","), "x@example.com") {
			t.Fatalf("mail %d: Bcc %q, recipients %q: a name broke out of its header", i, bcc, m.To)
		}
		parts, err := m.Parts()
		if err != nil {
			t.Fatalf("mail %d: %v", i, err)
		}
		for _, p := range parts {
			if p.ContentType != "text/calendar" {
				continue
			}
			holds++
			if _, err := notifytest.StrictICS(p.Body); err != nil {
				t.Fatalf("mail %d: the meeting hold is not valid RFC 5545: %v\n%s", i, err, p.Body)
			}
		}
	}
	if holds != 1 {
		t.Fatalf("%d meeting holds, want the owner's one", holds)
	}

	// PagerDuty's redelivery: nothing is made or sent twice.
	resolveWithin(d, id, 2*time.Minute)
	if n, m, p := len(d.epics()), len(smtp.Mails()), len(slack.Posts()); n != 1 || m != len(mails) || p != len(posts) {
		t.Fatalf("after a redelivery: %d epics, %d mails, %d Slack posts; want 1, %d, %d", n, m, p, len(mails), len(posts))
	}
}

// TestPropertyHostileIncidentsGiveOneFittingPostmortem draws incidents at
// the edges of the shape (none, many small, a few of 64 KiB) and some
// between, each from a fixed seed so that a failure replays.
func TestPropertyHostileIncidentsGiveOneFittingPostmortem(t *testing.T) {
	cases := []struct {
		name string
		seed uint64
		sh   shape
	}{
		{"no notes", 1, shape{maxNotes: 0, maxNoteBytes: 1, maxTotalBytes: 0}},
		{"500 notes", 2, shape{maxNotes: 500, maxNoteBytes: 400, maxTotalBytes: 1 << 20, exact: true}},
		{"64 KiB notes", 3, shape{maxNotes: 12, maxNoteBytes: 64 << 10, maxTotalBytes: 2 << 20, exact: true}},
		{"mixed a", 4, shape{maxNotes: 60, maxNoteBytes: 4 << 10, maxTotalBytes: 1 << 20}},
		{"mixed b", 5, shape{maxNotes: 150, maxNoteBytes: 2 << 10, maxTotalBytes: 1 << 20}},
	}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkProperty(t, tc.seed, tc.sh)
		})
	}
}

// FuzzWorkflowHostileIncident is the same property under the fuzzer
// (.ci/fuzz runs it for a fixed time): the input is the seed and the
// shape's knobs.
func FuzzWorkflowHostileIncident(f *testing.F) {
	f.Add(uint64(1), uint16(0), uint16(10))
	f.Add(uint64(2), uint16(500), uint16(200))
	f.Add(uint64(3), uint16(8), uint16(65535))
	f.Fuzz(func(t *testing.T, seed uint64, notes, noteBytes uint16) {
		checkProperty(t, seed, shape{maxNotes: int(notes) % 501, maxNoteBytes: 1 + int(noteBytes), maxTotalBytes: 1 << 20})
	})
}
