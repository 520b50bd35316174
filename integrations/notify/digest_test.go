package notify_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifytest"
)

// sampleDigest is a fixed week: two post-mortems opened, one reviewed, two
// overdue, three overdue follow-ups, one recurrence.
func sampleDigest() notify.Digest {
	ny, _ := time.LoadLocation("America/New_York")
	end := time.Date(2026, 12, 7, 9, 0, 0, 0, ny)
	jira := "https://acme.atlassian.net/browse/"
	pm := func(key string, n int, title, sev, owner, status string, at time.Time, late int) notify.DigestPostmortem {
		return notify.DigestPostmortem{Key: key, URL: jira + key, Number: n, Title: title, Severity: sev, Owner: owner, Status: status, At: at, DaysLate: late}
	}
	return notify.Digest{
		Start: end.AddDate(0, 0, -7), End: end, TZ: "America/New_York", OverviewURL: "https://aftermath.example.com/postmortems",
		Opened: []notify.DigestPostmortem{
			pm("PM-12", 4310, "Checkout <502> & retries", "SEV-1", "Alice Ng", "Draft", end.Add(-5*24*time.Hour), 0),
			pm("PM-13", 4322, "Search latency", "SEV-2", "", "In Review", end.Add(-2*24*time.Hour), 0),
		},
		Reviewed: []notify.DigestPostmortem{pm("PM-9", 4250, "Payments timeouts", "SEV-2", "bob@example.com", "Reviewed", end.Add(-3*24*time.Hour), 0)},
		Overdue: []notify.DigestPostmortem{
			pm("PM-7", 4201, "Login outage", "SEV-1", "Carol", "Draft", end.Add(-9*24*time.Hour), 9),
			pm("PM-12", 4310, "Checkout <502> & retries", "SEV-1", "Alice Ng", "Draft", end.Add(-1*24*time.Hour), 1),
		},
		FollowupsOverdue: []notify.DigestFollowup{
			{Key: "PM-8", URL: jira + "PM-8", Summary: "Alert on pool saturation", Assignee: "Dan", Due: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), DaysLate: 16, Postmortem: "PM-7", PostmortemURL: jira + "PM-7"},
			{Key: "PM-10", URL: jira + "PM-10", Summary: "Load test the driver", Due: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), DaysLate: 5, Postmortem: "PM-9", PostmortemURL: jira + "PM-9"},
		},
		Recurrences: []notify.DigestRecurrence{{Number: 4330, Title: "checkout 502", URL: "https://acme.pagerduty.com/incidents/Q4330", Severity: "SEV-3",
			Service: "PSVC001", ResolvedAt: end.Add(-26 * time.Hour), Earlier: "PM-7", EarlierURL: jira + "PM-7", Open: []string{"PM-8", "PM-11"}}},
		Completion: notify.DigestCompletion{Postmortems: 3, Done: 7, Total: 12},
		ToReviewed: notify.DigestMedian{Days: 4.5, N: 3},
	}
}

// The digest's email (text and HTML) and Slack bodies for a fixed week,
// for a week with nothing in it, and for a team without a public URL.
func TestDigestGolden(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	end := time.Date(2026, 12, 7, 9, 0, 0, 0, ny)
	team := sampleDigest()
	team.Team, team.OverviewURL = "Payments", ""
	team.Opened, team.Recurrences = nil, nil
	msgs := map[string]notify.Message{
		"digest":         notify.DigestMessage(sampleDigest()),
		"digest-nothing": notify.DigestMessage(notify.Digest{Start: end.AddDate(0, 0, -7), End: end, TZ: "America/New_York", OverviewURL: "https://aftermath.example.com/postmortems"}),
		"digest-team":    notify.DigestMessage(team),
	}
	for name, m := range msgs {
		t.Run(name, func(t *testing.T) {
			slack, _ := jsonIndent(m.Slack)
			forms := map[string]string{"txt": "Subject: " + m.Subject + "\n\n" + m.Text, "html": m.HTML, "slack.json": slack}
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
			if err := notifytest.CheckSlack(m.Slack); err != nil {
				t.Errorf("Slack would refuse it: %v", err)
			}
		})
	}
	// What the goldens hold, said once more so that an -update cannot
	// quietly bless a regression.
	m := msgs["digest"]
	for _, want := range []string{"Follow-up completion: 7 of 12 done (58%)", "Median time from resolution to Reviewed: 4.5 days",
		"PM-7 Login outage (#4201, SEV-1): Draft, meeting due Sat 28 Nov 2026, 9 days late; owner Carol",
		"PM-8 Alert on pool saturation: due Fri 20 Nov 2026, 16 days late; assignee Dan; post-mortem PM-7",
		"while PM-8, PM-11 of post-mortem PM-7 were open", "The overview: https://aftermath.example.com/postmortems"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the text lacks %q", want)
		}
	}
	if i, j := strings.Index(m.Text, "PM-7 Login"), strings.Index(m.Text, "PM-12 Checkout <502> & retries (#4310, SEV-1): Draft, meeting due"); i < 0 || j < i {
		t.Error("overdue post-mortems are not oldest first")
	}
	if !strings.Contains(msgs["digest-nothing"].Text, "Nothing opened, nothing reviewed, nothing overdue") {
		t.Error("an empty period does not say so")
	}
	if !strings.Contains(msgs["digest-team"].Subject, "team Payments") {
		t.Errorf("team subject %q", msgs["digest-team"].Subject)
	}
}

// Text from Jira, PagerDuty and people is escaped for HTML and Slack's
// mrkdwn, and a line break in a team's name cannot add a mail header: the
// mail is sent through the SMTP sink and read back.
func TestDigestEscapesOutsideText(t *testing.T) {
	d := sampleDigest()
	d.Team = "Payments\r\nBcc: victim@example.com"
	d.Opened[0].Title = `<script>alert(1)</script> & <a href="x">`
	d.Opened[0].Owner = "Eve <eve@example.com>"
	d.FollowupsOverdue[0].Summary = "<b>bold</b> & <!channel>"
	d.Recurrences[0].URL = "javascript:alert(1)"
	m := notify.DigestMessage(d)

	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>bold") || strings.Contains(m.HTML, `href="javascript:`) {
		t.Fatalf("the HTML holds unescaped outside text:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;a href=&#34;x&#34;&gt;") {
		t.Fatalf("the title is not shown escaped:\n%s", m.HTML)
	}
	slack := allText(m.Slack)
	if strings.Contains(slack, "<!channel>") || strings.Contains(slack, "<script>") || !strings.Contains(slack, "&lt;!channel&gt;") ||
		strings.Contains(slack, "<javascript:") || !strings.Contains(slack, "\n• #4330 checkout 502") {
		t.Fatalf("Slack's mrkdwn holds unescaped outside text:\n%s", slack)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Fatalf("the subject holds a line break: %q", m.Subject)
	}

	srv := notifytest.NewSMTP(t)
	c := notify.New(srv.Config(), nil, nil)
	if err := c.Email(context.Background(), notify.Email{To: []string{"managers@example.com"}, Subject: m.Subject, Text: m.Text, HTML: m.HTML}); err != nil {
		t.Fatal(err)
	}
	mails := srv.Mails()
	if len(mails) != 1 || strings.Join(mails[0].To, ",") != "managers@example.com" {
		t.Fatalf("mails %+v", mails)
	}
	h, err := mails[0].Header()
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Bcc") != "" || !strings.Contains(mails[0].Subject(), "team Payments Bcc: victim@example.com") {
		t.Fatalf("the team's name made a header: Bcc %q, subject %q", h.Get("Bcc"), mails[0].Subject())
	}
	parts, err := mails[0].Parts()
	if err != nil || len(parts) != 2 {
		t.Fatalf("%d parts (%v), want text and HTML", len(parts), err)
	}
	if !strings.HasPrefix(parts[0].ContentType, "text/plain") || !strings.HasPrefix(parts[1].ContentType, "text/html") {
		t.Fatalf("parts %q and %q", parts[0].ContentType, parts[1].ContentType)
	}
}

// A digest with hundreds of rows in every list, each with a long title
// full of what Slack escapes, stays within Slack's limits (the receiver
// refuses what Slack refuses) and counts what it leaves to the overview;
// the email holds the first 100 rows of each list and counts the rest.
func TestDigestManyRowsStayWithinLimits(t *testing.T) {
	d := sampleDigest()
	long := strings.Repeat("Checkout <5xx> & timeouts 🔥 ", 40)
	d.Opened, d.Overdue, d.Reviewed, d.FollowupsOverdue, d.Recurrences = nil, nil, nil, nil, nil
	for i := range 400 {
		p := notify.DigestPostmortem{Key: fmt.Sprintf("PM-%d", i), URL: fmt.Sprintf("https://acme.atlassian.net/browse/PM-%d", i), Number: 5000 + i,
			Title: long, Severity: "SEV-1", Owner: strings.Repeat("&", 100), Status: "Draft", At: d.End.Add(-time.Hour), DaysLate: i}
		d.Opened, d.Overdue, d.Reviewed = append(d.Opened, p), append(d.Overdue, p), append(d.Reviewed, p)
		d.FollowupsOverdue = append(d.FollowupsOverdue, notify.DigestFollowup{Key: fmt.Sprintf("FU-%d", i), URL: "https://acme.atlassian.net/browse/FU-1",
			Summary: long, Assignee: long, Due: d.Start, DaysLate: 3, Postmortem: "PM-1"})
		d.Recurrences = append(d.Recurrences, notify.DigestRecurrence{Number: i, Title: long, URL: "https://acme.pagerduty.com/incidents/Q",
			Service: long, ResolvedAt: d.End.Add(-time.Hour), Earlier: "PM-1", Open: []string{"FU-1"}})
	}
	m := notify.DigestMessage(d)

	rcv := notifytest.NewSlack(t)
	c := notify.New(notify.Config{Getenv: func(string) (string, bool) { return rcv.URL, true }}, nil, nil)
	if err := c.Slack(context.Background(), "SLACK_DIGEST", m.Slack); err != nil {
		t.Fatalf("Slack refused the digest: %v\n%s", err, strings.Join(rcv.Refused(), "\n"))
	}
	if n := blockChars(m.Slack); n > slackBudget {
		t.Errorf("the blocks hold %d characters, over %d", n, slackBudget)
	}
	text := allText(m.Slack)
	if got := strings.Count(text, "more: <https://aftermath.example.com/postmortems|the overview> lists them all."); got != 5 {
		t.Errorf("%d lists count the rows left out, want 5:\n%s", got, text)
	}
	if got := strings.Count(m.Text, "…and 300 more: the overview lists them all."); got != 5 {
		t.Errorf("%d lists of the email count the 300 rows left out, want 5", got)
	}
	if got := strings.Count(m.HTML, "<li>"); got != 500 {
		t.Errorf("the HTML lists %d rows, want 100 of each of 5 lists", got)
	}
}
