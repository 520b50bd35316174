package notify

import (
	"fmt"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"
)

// Working hours of the meeting hold, in the rules' time zone.
const (
	workStart       = 9  // 09:00
	workEnd         = 17 // 17:00
	MeetingDuration = 30 * time.Minute
)

// MeetingSlot is when the meeting hold goes: the latest 30-minute slot on a
// half hour, within working hours (09:00–17:00 in loc) of a working day
// (workday; nil: Monday to Friday), that ends by due. It looks back at most
// 31 days; after that (a due time in the past is still a slot) it gives the
// last working-hours slot before due regardless of the day.
func MeetingSlot(due time.Time, loc *time.Location, workday func(time.Time) bool) time.Time {
	if workday == nil {
		workday = func(t time.Time) bool { return t.Weekday() != time.Saturday && t.Weekday() != time.Sunday }
	}
	due = due.In(loc)
	day := time.Date(due.Year(), due.Month(), due.Day(), 0, 0, 0, 0, loc)
	for range 32 {
		open := day.Add(workStart * time.Hour)
		end := day.Add(workEnd * time.Hour)
		if due.Before(end) {
			end = due.Truncate(0)
			// Round down to the half hour, in loc.
			end = time.Date(end.Year(), end.Month(), end.Day(), end.Hour(), end.Minute()-end.Minute()%30, 0, 0, loc)
		}
		if workday(day) && !end.Add(-MeetingDuration).Before(open) {
			return end.Add(-MeetingDuration)
		}
		day = time.Date(day.Year(), day.Month(), day.Day()-1, 0, 0, 0, 0, loc)
	}
	return time.Date(due.Year(), due.Month(), due.Day(), workStart, 0, 0, 0, loc)
}

// Hold is the meeting's calendar hold: an RFC 5545 calendar (CRLF line
// ends) with one 30-minute event at start, in start's time zone, the
// invitees with an email as attendees, for the owner to forward or adjust.
func Hold(f Facts, start, now time.Time, organizer string) []byte {
	loc := start.Location()
	cal := ics.NewCalendar()
	cal.SetMethod(ics.MethodRequest)
	cal.SetProductId("-//aftermath//post-mortem meeting//EN")
	tz := cal.AddTimezone(loc.String())
	std := tz.AddStandard()
	name, off := start.Zone()
	std.AddProperty(ics.ComponentPropertyDtStart, "19700101T000000")
	std.AddProperty(ics.ComponentProperty(ics.PropertyTzoffsetfrom), utcOffset(off))
	std.AddProperty(ics.ComponentProperty(ics.PropertyTzoffsetto), utcOffset(off))
	std.AddProperty(ics.ComponentProperty(ics.PropertyTzname), name)

	ev := cal.AddEvent(fmt.Sprintf("postmortem-%s@aftermath", f.Incident))
	ev.SetDtStampTime(now)
	const local = "20060102T150405"
	ev.SetProperty(ics.ComponentPropertyDtStart, start.Format(local), ics.WithTZID(loc.String()))
	ev.SetProperty(ics.ComponentPropertyDtEnd, start.Add(MeetingDuration).Format(local), ics.WithTZID(loc.String()))
	ev.SetSummary(fmt.Sprintf("Post-mortem meeting: %s", subjectTitle(f)))
	ev.SetDescription(fmt.Sprintf("Post-mortem %s: %s\nIncident: %s\nA hold from aftermath: forward it to the shared calendar or move it.", f.Key, f.EpicURL, f.IncidentURL))
	ev.SetURL(f.EpicURL)
	if organizer != "" {
		ev.SetOrganizer("mailto:" + organizer)
	}
	for _, in := range f.Invitees {
		if in.Email == "" {
			continue
		}
		params := []ics.PropertyParameter{ics.WithRSVP(true), ics.ParticipationRoleReqParticipant}
		if in.Name != "" {
			params = append(params, ics.WithCN(in.Name))
		}
		ev.AddAttendee("mailto:"+in.Email, params...)
	}
	return []byte(cal.Serialize(ics.WithNewLineWindows))
}

func utcOffset(sec int) string {
	sign := "+"
	if sec < 0 {
		sign, sec = "-", -sec
	}
	return fmt.Sprintf("%s%02d%02d", sign, sec/3600, sec%3600/60)
}

func subjectTitle(f Facts) string {
	return strings.TrimSpace(fmt.Sprintf("[%s] %s (#%d)", f.Severity, f.Title, f.Number))
}
