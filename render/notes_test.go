package render

import (
	"testing"
	"time"
)

func TestMemberNoteGolden(t *testing.T) {
	primary := Incident{Number: 4211, Title: `Checkout API returning 502 for 38% of "requests"`, URL: "https://acme.pagerduty.com/incidents/PCHK1"}
	goldenCases(t, "member-note.txt", [][2]string{
		{"a member", MemberNote(primary, Epic{Key: "PM-1", URL: "https://acme.atlassian.net/browse/PM-1"}, "[aftermath:member:PCHK1]")},
	})
}

func TestLinkBackNoteGolden(t *testing.T) {
	epic := Epic{Key: "PM-1", URL: "https://acme.atlassian.net/browse/PM-1"}
	goldenCases(t, "link-back-note.txt", [][2]string{
		{"owned, due, with members", LinkBackNote(LinkBack{Epic: epic, Owner: "alice@example.com", MeetingDue: meetingDue, Zone: newYork, Members: []int{4212, 4213}},
			"[aftermath:postmortem:PCHK1]")},
		{"nobody owns it, no deadline, alone", LinkBackNote(LinkBack{Epic: epic, Zone: newYork}, "[aftermath:postmortem:PCHK1]")},
		{"deadline in UTC", LinkBackNote(LinkBack{Epic: epic, Owner: "alice@example.com", MeetingDue: meetingDue.Add(24 * time.Hour), Zone: time.UTC},
			"[aftermath:postmortem:PCHK1]")},
	})
}
