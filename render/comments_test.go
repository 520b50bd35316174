package render

import (
	"strings"
	"testing"
	"time"
)

// goldenCases writes each case's text under a "=== name" line into one
// golden file: one file per family of sentences.
func goldenCases(t *testing.T, file string, cases [][2]string) {
	t.Helper()
	var b strings.Builder
	for _, c := range cases {
		b.WriteString("=== " + c[0] + "\n" + c[1] + "\n")
	}
	golden(t, file, b.String())
}

var (
	newYork, _ = time.LoadLocation("America/New_York")
	meetingDue = time.Date(2026, 11, 23, 15, 12, 0, 0, time.UTC) // Mon 23 Nov 2026 10:12 EST
)

// hostile is text from outside that tries to break out of its place.
const hostile = "x|y {quote}[click|javascript:alert(1)]\nh1. Owned *bold*"

func TestOwnerCommentGolden(t *testing.T) {
	goldenCases(t, "owner-comment.jira", [][2]string{
		{"no owner source matched", OwnerComment("no owner: resolver: nobody; last_assignee: no Jira user has the email bob@example.com", "aftermath-ref-owner-Q1")},
		{"Jira refused the owner", OwnerComment(OwnerRefused("alice@example.com", "User 'Alice' cannot be assigned issues."), "aftermath-ref-owner-Q1")},
		{"markup in the reason is escaped", OwnerComment(hostile, "aftermath-ref-owner-Q1")},
		{"a long reason is cut", OwnerComment(strings.Repeat("why ", 600), "aftermath-ref-owner-Q1")},
	})
}

func TestReminderCommentGolden(t *testing.T) {
	base := Reminder{Mention: "[~accountid:acc-alice]", MeetingDue: meetingDue, Status: "Draft", Zone: newYork}
	review := base
	review.Review, review.N = true, 1
	over := base
	over.N = 1
	last := over
	last.N, last.Last, last.Status = 5, true, "In Review"
	nobody := review
	nobody.Mention = ""
	goldenCases(t, "reminder-comment.jira", [][2]string{
		{"review due", ReminderComment(review, "aftermath-ref-reminder-review-1-Q1")},
		{"review due, nobody owns it", ReminderComment(nobody, "aftermath-ref-reminder-review-1-Q1")},
		{"overdue", ReminderComment(over, "aftermath-ref-reminder-overdue-1-Q1")},
		{"overdue, the last", ReminderComment(last, "aftermath-ref-reminder-overdue-5-Q1")},
		{"what: review", review.What()},
		{"what: overdue", last.What()},
	})
}

func TestLiaisonCommentGolden(t *testing.T) {
	msg, _ := ExternalMessage("h3. External\nBetween 14:00 and 15:12 UTC some checkouts failed.\nNo order was lost.\nh3. Internal\n")
	goldenCases(t, "liaison-comment.jira", [][2]string{
		{"mentioned", LiaisonComment("[~accountid:acc-carol]", msg, "aftermath-ref-liaison-Q1")},
		{"no Jira user: the rules' email", LiaisonComment("carol@example.com", msg, "aftermath-ref-liaison-Q1")},
		{"markup in the message is escaped", LiaisonComment("[~accountid:acc-carol]", hostile, "aftermath-ref-liaison-Q1")},
	})
}

func TestLanguageCommentGolden(t *testing.T) {
	page := "h2. What Happened\nBob should have load tested it first. It was a cowboy deploy. Human error, really.\n" +
		"h3. External\n_Write the external message._\nThe outage is over | no order was lost. Outages happen.\nh3. Internal\n"
	goldenCases(t, "language-comment.jira", [][2]string{
		{"outage and blame", LanguageComment(ReviewLanguage(page, []string{"cowboy deploy"}))},
		{"blame only", LanguageComment(ReviewLanguage("h2. What Happened\nCarol forgot to renew the certificate.\n", nil))},
	})
}

func TestJoinedCommentGolden(t *testing.T) {
	member := Incident{Number: 4213, Title: "Payments timing out", URL: "https://acme.pagerduty.com/incidents/PTARDY"}
	evil := Incident{Number: 4214, Title: hostile + strings.Repeat(" long", 300), URL: "javascript:alert(1)"}
	goldenCases(t, "joined-comment.jira", [][2]string{
		{"a late member", JoinedComment(member, 4211, meetingDue, newYork, "aftermath-ref-member-PTARDY")},
		{"resolved at an unknown time", JoinedComment(member, 4211, time.Time{}, newYork, "aftermath-ref-member-PTARDY")},
		{"markup and a long title, a bad URL", JoinedComment(evil, 4211, meetingDue, newYork, "aftermath-ref-member-PEVIL")},
	})
}

func TestPageRestCommentGolden(t *testing.T) {
	parts := Comments([]RestSection{{Title: "Timeline", Header: "||Time||Event||", Rows: []string{"|09:00|triggered|", "|09:03|acknowledged|"}}}, 10000, 20)
	goldenCases(t, "page-rest-comment.jira", [][2]string{
		{"part 1 of 1", PageRestComment(1, len(parts), parts[0], "aftermath-ref-page-1-Q1")},
	})
}

func TestPhrasesGolden(t *testing.T) {
	p := Sample()
	long := p
	long.Title = strings.Repeat("very long title ", 30) + "\nwith a line break"
	goldenCases(t, "phrases.txt", [][2]string{
		{"Epic Name", EpicName(p)},
		{"Epic Name, cut to 255", EpicName(long)},
		{"owner refused", OwnerRefused("alice@example.com", "User 'Alice' cannot be assigned issues.")},
		{"refused ticket", RefusedTicket("Alert on connection pool saturation above 90%")},
		{"at", At(meetingDue, newYork)},
		{"at, zero", At(time.Time{}, newYork)},
		{"at, no zone", At(meetingDue, nil)},
		{"day", Day(meetingDue, newYork)},
	})
}

func TestFollowupReminderCommentGolden(t *testing.T) {
	base := FollowupReminder{Mention: "[~accountid:acc-alice]", Epic: "PM-4", Number: 4211, Title: "Checkout API returning 502",
		URL: "https://example.atlassian.net/browse/PM-4", Due: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), DaysLate: 1, N: 1, Max: 3}
	late := base
	late.DaysLate, late.N = 9, 3
	nobody := base
	nobody.Mention = ""
	hostileTitle := base
	hostileTitle.Title = hostile + strings.Repeat(" long", 100)
	goldenCases(t, "followup-reminder-comment.jira", [][2]string{
		{"the first reminder, a day late", FollowupReminderComment(base, "aftermath-ref-followup-reminder-20261130-1-PM-7")},
		{"the last reminder", FollowupReminderComment(late, "aftermath-ref-followup-reminder-20261130-3-PM-7")},
		{"nobody assigned", FollowupReminderComment(nobody, "aftermath-ref-followup-reminder-20261130-1-PM-7")},
		{"markup in the title is escaped, a long title cut", FollowupReminderComment(hostileTitle, "aftermath-ref-followup-reminder-20261130-1-PM-7")},
	})
}
