package render

import (
	"fmt"
	"strings"
	"time"
)

// The comments aftermath writes on a post-mortem's epic, besides its page
// (LanguageComment is in language.go). Each ends with the marker it is
// given, by which a retry finds it (workflow/markers.go builds the
// markers); text from outside is escaped and cut, so that no comment breaks
// its markup or goes over Jira's limit.

// OwnerComment says on an unassigned epic why nobody owns it. why may hold
// Jira's refusal and emails: it is escaped and cut to 2,000 characters, so
// the comment stays far under Jira's limit.
func OwnerComment(why, marker string) string {
	return "This post-mortem has no owner yet: " + Text(Clip(why, 2000)) + ". Assign someone who took part.\n" + marker
}

// Reminder is what a reminder comment says.
type Reminder struct {
	// Review: the draft is due for review; otherwise the meeting is
	// overdue.
	Review bool
	N      int // the reminder's number among those of its kind, from 1
	// Last says no reminder of its kind comes after this one.
	Last bool
	// Mention is the markup that mentions the owner (Jira's [~accountid:...]);
	// "" when nobody owns the post-mortem.
	Mention    string
	MeetingDue time.Time
	Status     string // the post-mortem's status: Draft, In Review
	Zone       *time.Location
}

// What says what the reminder is about in a few words: "the review is
// due", "the meeting is overdue (reminder 2)".
func (r Reminder) What() string {
	if r.Review {
		return "the review is due"
	}
	return fmt.Sprintf("the meeting is overdue (reminder %d)", r.N)
}

// ReminderComment is a reminder on the epic, mentioning the owner (or, when
// there is none, whoever picks the post-mortem up): the review is due, or
// the meeting is overdue and the post-mortem not yet Reviewed.
func ReminderComment(r Reminder, marker string) string {
	who := r.Mention
	if who == "" {
		who = "Nobody owns this post-mortem yet: whoever picks it up,"
	}
	if r.Review {
		return fmt.Sprintf("%s the draft of this post-mortem is due for review now: post it for review before the post-mortem meeting, due %s.",
			who, At(r.MeetingDue, r.Zone)) + "\n" + marker
	}
	last := ""
	if r.Last {
		last = " This is the last reminder."
	}
	return fmt.Sprintf("%s the post-mortem meeting was due %s, and the post-mortem is still %s. Hold the meeting and move this epic to Reviewed (%s).%s",
		who, At(r.MeetingDue, r.Zone), r.Status, r.What(), last) + "\n" + marker
}

// LiaisonComment asks the customer liaison to post the page's external
// message (from ExternalMessage, which bounds it) on the status page, the
// message quoted and escaped. mention is the markup that mentions the
// liaison, or their email from the rules when Jira has no such user.
func LiaisonComment(mention, message, marker string) string {
	return fmt.Sprintf("%s this post-mortem is Reviewed: please post its external message on the status page.\n{quote}%s{quote}\n%s",
		mention, Text(message), marker)
}

// JoinedComment says on the epic that member joined the post-mortem after
// it was made: related to the primary incident number primary, resolved at
// resolvedAt (shown in zone). The member's title is cut to 1,024
// characters.
func JoinedComment(member Incident, primary int, resolvedAt time.Time, zone *time.Location, marker string) string {
	return fmt.Sprintf("%s joined this post-mortem: it is related to #%d and resolved at %s. Its timeline is not on this page yet: add what matters.\n%s",
		Link(fmt.Sprintf("#%d %s", member.Number, Clip(member.Title, 1024)), member.URL), primary, At(resolvedAt, zone), marker)
}

// PageRestComment is part n of total of what the post-mortem page leaves
// out to fit in Jira; body is that part, one of Comments' results.
func PageRestComment(n, total int, body, marker string) string {
	return fmt.Sprintf("*What the post-mortem page leaves out* to fit in Jira, part %d of %d:\n%s%s", n, total, body, marker)
}

// recurredKeys is how many open follow-ups a recurrence comment or note
// names at most; the rest are counted.
const recurredKeys = 20

// RecurrenceComment says on an earlier post-mortem's epic that its failure
// came back: the incident (linked to it in PagerDuty) resolved at
// resolvedAt, whose date is given in zone, while the follow-ups open were
// still open. The title is cut to 1,024 characters and at most 20 keys are
// named, so the comment stays far under Jira's limit.
func RecurrenceComment(in Incident, resolvedAt time.Time, zone *time.Location, open []string, marker string) string {
	return fmt.Sprintf("Recurred: %s resolved %s while %s open.\n%s",
		Link(fmt.Sprintf("#%d \"%s\"", in.Number, Clip(in.Title, 1024)), in.URL), resolvedAt.In(orUTC(zone)).Format("2006-01-02"),
		keysAre(open, Cell), marker)
}

// keysAre names follow-up keys as the subject of "open": "PM-4 is", "PM-4,
// PM-5 are", "PM-4, ..., PM-23 and 3 more are".
func keysAre(keys []string, esc func(string) string) string {
	shown := make([]string, 0, min(len(keys), recurredKeys))
	for _, k := range keys[:min(len(keys), recurredKeys)] {
		shown = append(shown, esc(Clip(k, 50)))
	}
	s := strings.Join(shown, ", ")
	if n := len(keys) - len(shown); n > 0 {
		s += fmt.Sprintf(" and %d more", n)
	}
	if len(keys) == 1 {
		return s + " is"
	}
	return s + " are"
}

// StatusPagePostedComment says on the epic that the external message is
// the postmortem of the status-page post linked to the incident (post is
// the post's title, url where people read it) and that the post-mortem is
// being moved to Closed.
func StatusPagePostedComment(post, url, marker string) string {
	return fmt.Sprintf("The external message is posted on the status page, as the postmortem of %s. This post-mortem is done: moving it to Closed.\n%s",
		Link(Clip(post, 1024), url), marker)
}

// StatusPageNoPostComment says on the epic that no post of the status page
// (named page) is linked to incident number incident, so the external
// message (from ExternalMessage, which bounds it) is not posted: Support
// posts it, and the epic stays Reviewed until then.
func StatusPageNoPostComment(page string, incident int, message, marker string) string {
	return fmt.Sprintf("The external message is not on the status page: no post of %s is linked to incident #%d. Support: please post it there, then move this epic to Closed.\n{quote}%s{quote}\n%s",
		Cell(Clip(page, 256)), incident, Text(message), marker)
}

// StatusPageTakenComment says on the epic that the status-page post
// linked to the incident (post, at url) already has a postmortem that is
// not the page's external message: it is left as people wrote it, and the
// epic stays Reviewed for Support to reconcile the two.
func StatusPageTakenComment(post, url, message, marker string) string {
	return fmt.Sprintf("The external message is not on the status page: %s already has a postmortem that differs from it, and aftermath leaves it as it is. Support: please reconcile the two, then move this epic to Closed.\n{quote}%s{quote}\n%s",
		Link(Clip(post, 1024), url), Text(message), marker)
}

// StatusPageTooLongComment says on the epic that the external message is
// longer than a status page takes (n characters as rich text, of limit):
// it is not posted cut; the epic stays Reviewed until it is shortened and
// posted.
func StatusPageTooLongComment(n, limit int, marker string) string {
	return fmt.Sprintf("The external message is not on the status page: as rich text it has %d characters, and a status page takes at most %d. Shorten it on the page, then post it on the status page and move this epic to Closed.\n%s",
		n, limit, marker)
}

// FollowupReminder is what an overdue follow-up's reminder says.
type FollowupReminder struct {
	// Mention is the markup that mentions the assignee; "" when nobody is
	// assigned.
	Mention string
	Epic    string // the post-mortem's epic key
	Number  int    // the post-mortem's primary incident
	Title   string
	URL     string // the epic, for the link
	Due     time.Time
	// DaysLate is how many days past its due date it is, from 1.
	DaysLate int
	N        int // the reminder's number for this due date, from 1
	Max      int // how many it gets at most
}

// FollowupReminderComment is the reminder on an overdue follow-up's
// ticket: its post-mortem, its due date and how late it is, and what to do.
// The incident's title is escaped and cut to 255 characters.
func FollowupReminderComment(r FollowupReminder, marker string) string {
	who := r.Mention
	if who == "" {
		who = "Nobody is assigned to this follow-up yet: whoever picks it up,"
	}
	days := "1 day"
	if r.DaysLate != 1 {
		days = fmt.Sprintf("%d days", r.DaysLate)
	}
	last := ""
	if r.N >= r.Max {
		last = " This is the last reminder."
	}
	pm := Link(r.Epic, r.URL)
	return fmt.Sprintf("%s this follow-up of post-mortem %s (#%d %s) was due %s and is %s late. Finish it and move it to Done, or set the due date it can meet (reminder %d of %d).%s\n%s",
		who, pm, r.Number, Text(Line(r.Title, 255)), r.Due.Format(time.DateOnly), days, r.N, r.Max, last, marker)
}
