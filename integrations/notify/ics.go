package notify

import (
	"bytes"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
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

// Hold is the meeting's calendar hold: an RFC 5545 calendar with one
// 30-minute event at start, for the owner to forward or adjust, and the
// invitees whose email is a valid address as attendees. Times are in UTC,
// which every client shows in its own zone, summer or winter, with no
// VTIMEZONE to trust. What comes from outside (titles, names, addresses)
// is written so that no client can misread it: TEXT escaped, parameter
// values quoted, CR and LF never raw, lines folded at 75 octets.
func Hold(f Facts, start, now time.Time, organizer string) []byte {
	var w icsWriter
	w.line("BEGIN", "VCALENDAR")
	w.line("VERSION", "2.0")
	w.line("PRODID", "-//aftermath//post-mortem meeting//EN")
	w.line("CALSCALE", "GREGORIAN")
	w.line("METHOD", "REQUEST")
	w.line("BEGIN", "VEVENT")
	w.line("UID", icsText("postmortem-"+f.Incident+"@aftermath", false))
	w.line("DTSTAMP", icsTime(now))
	w.line("DTSTART", icsTime(start))
	w.line("DTEND", icsTime(start.Add(MeetingDuration)))
	w.line("SUMMARY", icsText("Post-mortem meeting: "+subjectTitle(f), false))
	w.line("DESCRIPTION", icsText(fmt.Sprintf("Post-mortem %s: %s\nIncident: %s\nA hold from aftermath: forward it to the shared calendar or move it.", f.Key, f.EpicURL, f.IncidentURL), true))
	if u, err := url.Parse(f.EpicURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && !hasCTL(f.EpicURL) {
		w.line("URL", f.EpicURL)
	}
	if addr, ok := mailto(organizer); ok {
		w.line("ORGANIZER", addr)
	}
	for _, in := range f.Invitees {
		addr, ok := mailto(in.Email)
		if !ok {
			continue // listed in the message, not invited by the hold
		}
		params := ""
		if name := icsParam(in.Name); name != `""` {
			params = ";CN=" + name
		}
		w.line("ATTENDEE"+params+";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE", addr)
	}
	w.line("END", "VEVENT")
	w.line("END", "VCALENDAR")
	return w.b.Bytes()
}

// icsWriter writes content lines (RFC 5545 3.1): CRLF line ends, folded so
// that no line is over 75 octets, never inside a UTF-8 sequence.
type icsWriter struct{ b bytes.Buffer }

func (w *icsWriter) line(nameAndParams, value string) {
	const most = 75
	n := 0 // octets on the current line
	for _, r := range nameAndParams + ":" + value {
		l := utf8.RuneLen(r)
		if n+l > most {
			w.b.WriteString("\r\n ")
			n = 1
		}
		w.b.WriteRune(r)
		n += l
	}
	w.b.WriteString("\r\n")
}

// icsTime is a DATE-TIME in UTC (RFC 5545 3.3.5, form 2).
func icsTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// icsText is a TEXT value (RFC 5545 3.3.11): backslash, semicolon and comma
// escaped; a line break (CRLF, CR or LF) is an escaped \n where the value
// may have several lines and a space where it may not, a tab a space;
// other control characters are dropped.
func icsText(s string, multiline bool) string {
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' && multiline:
			b.WriteString(`\n`)
		case r == '\n' || r == '\t':
			b.WriteByte(' ')
		case r == '\\' || r == ';' || r == ',':
			b.WriteByte('\\')
			b.WriteRune(r)
		case isCTL(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// icsParam is a parameter value, always quoted (RFC 5545 3.2: one with a
// colon, semicolon or comma must be; quoting the others does no harm). A
// quoted string cannot hold a double quote or a control character: a
// double quote becomes a single one, a line break or tab a space, and the
// other controls are dropped.
func icsParam(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\t", " ", `"`, "'").Replace(s)
	s = strings.Map(func(r rune) rune {
		if isCTL(r) {
			return -1
		}
		return r
	}, s)
	return `"` + strings.TrimSpace(s) + `"`
}

// mailto is the CAL-ADDRESS of a valid bare email address.
func mailto(email string) (string, bool) {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || hasCTL(email) {
		return "", false
	}
	return "mailto:" + email, true
}

// isCTL reports RFC 5545's control characters (3.1: %x00-08, %x0A-1F and
// %x7F; HTAB, allowed in values, is not worth keeping either).
func isCTL(r rune) bool { return r < 0x20 || r == 0x7f }

func hasCTL(s string) bool { return strings.ContainsFunc(s, isCTL) }

func subjectTitle(f Facts) string {
	return strings.TrimSpace(fmt.Sprintf("[%s] %s (#%d)", f.Severity, f.Title, f.Number))
}
