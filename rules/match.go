package rules

import (
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"
)

// Location returns the rules' time zone.
func (r *Rules) Location() *time.Location { return r.c.loc }

// SeverityFor returns the severity of an incident with the given PagerDuty
// priority name, and why. ok is false when no severity maps it.
func (r *Rules) SeverityFor(priority string) (sev *Severity, why string, ok bool) {
	if priority == "" {
		return nil, "the incident has no priority, and every severity is chosen by priority", false
	}
	if s, ok := r.c.byPriority[priority]; ok {
		return s, fmt.Sprintf("priority %s maps to %s", priority, s.Name), true
	}
	return nil, fmt.Sprintf("priority %s maps to no severity", priority), false
}

// Severity returns the named severity.
func (r *Rules) Severity(name string) (*Severity, bool) {
	s, ok := r.c.bySeverity[name]
	return s, ok
}

// InProcess reports whether the severity gets the post-incident process.
func (r *Rules) InProcess(severity string) bool { return r.c.inProcess[severity] }

// Rank orders severities: 0 is the first defined (the most severe). Unknown
// names rank after all.
func (r *Rules) Rank(severity string) int {
	for i, s := range r.Severities {
		if s.Name == severity {
			return i
		}
	}
	return len(r.Severities)
}

// ScopeOf returns the grouping scope of a service, or nil when it is in none
// (its incidents are then grouped with nothing).
func (r *Rules) ScopeOf(serviceID string) *Scope { return r.c.scopeOf[serviceID] }

// Window is how far around the primary's lifetime related incidents are looked for.
func (r *Rules) Window() time.Duration { return time.Duration(r.Grouping.Window) }

// OwnerCandidate is one place an owner may come from.
type OwnerCandidate struct {
	Source string // override, resolver, last_assignee or fallback
	Email  string // set for override and fallback
}

// OwnerCandidates returns the owner sources for a service's post-mortem in
// the order to try them, ending with the fallback when there is one.
func (r *Rules) OwnerCandidates(serviceID string) []OwnerCandidate {
	var out []OwnerCandidate
	for _, src := range r.Owner.From {
		if src == SourceOverride {
			if email, ok := r.c.ownerOf[serviceID]; ok {
				out = append(out, OwnerCandidate{Source: SourceOverride, Email: email})
			}
			continue
		}
		out = append(out, OwnerCandidate{Source: src})
	}
	if r.Owner.Fallback != "" {
		out = append(out, OwnerCandidate{Source: "fallback", Email: r.Owner.Fallback})
	}
	return out
}

// JiraProject returns the project for a service's post-mortem and whether a
// route chose it.
func (r *Rules) JiraProject(serviceID string) (project string, routed bool) {
	if p, ok := r.c.projectOf[serviceID]; ok {
		return p, true
	}
	return r.Jira.Project, false
}

// SeverityLabel is the Jira label of a severity: "SEV-1" → "sev-1".
func SeverityLabel(severity string) string {
	return strings.ToLower(strings.Join(strings.Fields(severity), "-"))
}

// Labels returns the labels of a post-mortem and its tickets: the severity,
// the date tag of the incident's start in the rules' zone, and the rules'
// extra labels.
func (r *Rules) Labels(severity string, incidentStart time.Time) []string {
	out := []string{SeverityLabel(severity), "incident-" + incidentStart.In(r.c.loc).Format(time.DateOnly)}
	for _, l := range r.Jira.Labels {
		if !contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// StandardFollowups returns the standard tasks for a severity: those that
// name it, and those that name none when it is in process.
func (r *Rules) StandardFollowups(severity string) []StandardFollowup {
	var out []StandardFollowup
	for _, f := range r.Followups.Standard {
		if contains(f.Severities, severity) || len(f.Severities) == 0 && r.InProcess(severity) {
			out = append(out, f)
		}
	}
	return out
}

// MeetingDeadline returns when the post-mortem meeting is due for an incident
// of the severity resolved at resolvedAt: the same wall-clock time in the
// rules' zone, N calendar days later, or on the Nth business day after the
// resolve date (skipping weekends and the rules' holidays). DST changes keep
// the wall-clock time; a wall-clock time the change skips moves forward by the gap.
func (r *Rules) MeetingDeadline(severity string, resolvedAt time.Time) (time.Time, error) {
	s, ok := r.c.bySeverity[severity]
	if !ok {
		return time.Time{}, fmt.Errorf("severity %q is not defined", severity)
	}
	local := resolvedAt.In(r.c.loc)
	return wallClock(r.after(local, s.MeetingDue), local), nil
}

// after returns noon (never in a DST gap) of the day due after from's date
// in the rules' zone: N calendar days later, or the Nth business day after
// it (skipping weekends and the rules' holidays).
func (r *Rules) after(from time.Time, due Due) time.Time {
	y, m, d := from.In(r.c.loc).Date()
	day := time.Date(y, m, d, 12, 0, 0, 0, r.c.loc)
	if !due.Business {
		return day.AddDate(0, 0, due.Days)
	}
	for n := 0; n < due.Days; {
		day = day.AddDate(0, 0, 1)
		if r.c.calendar.IsWorkday(day) {
			n++
		}
	}
	return day
}

// FollowupDue returns the due date of a follow-up of a post-mortem of the
// severity whose incident resolved at resolvedAt (rules followups.due),
// as midnight UTC of that date in the rules' zone (Jira's duedate is a
// date), and false when the rules give the severity no due date.
func (r *Rules) FollowupDue(severity string, resolvedAt time.Time) (time.Time, bool) {
	due, ok := r.Followups.Due[severity]
	if !ok || due.Days == 0 {
		return time.Time{}, false
	}
	y, m, d := r.after(resolvedAt, due).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), true
}

// FollowupOverdueAt is when a follow-up due on the date due (as
// FollowupDue returns it) becomes overdue: the end of that day in the
// rules' zone.
func (r *Rules) FollowupOverdueAt(due time.Time) time.Time {
	y, m, d := due.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, r.c.loc)
}

// DigestPeriod returns the digest period that ended last at or before now:
// [start, end). A weekly period ends at its weekday and time in the rules'
// zone; a fixed one at a multiple of its length since the Unix epoch.
func (r *Rules) DigestPeriod(now time.Time) (start, end time.Time) {
	e := r.Digest.Every
	if !e.Weekly {
		p := e.Period
		if p <= 0 {
			p = 7 * 24 * time.Hour
		}
		end = time.UnixMilli(now.UnixMilli() / p.Milliseconds() * p.Milliseconds()).UTC()
		return end.Add(-p), end
	}
	local := now.In(r.c.loc)
	y, m, d := local.Date()
	back := (int(local.Weekday()) - int(e.Weekday) + 7) % 7
	end = time.Date(y, m, d-back, e.Hour, e.Minute, 0, 0, r.c.loc)
	if end.After(now) {
		end = time.Date(y, m, d-back-7, e.Hour, e.Minute, 0, 0, r.c.loc)
	}
	ey, em, ed := end.Date()
	return time.Date(ey, em, ed-7, e.Hour, e.Minute, 0, 0, r.c.loc), end
}

// wallClock returns the moment on day's date at clock's wall-clock time in
// day's zone. A time that a DST change skips (02:30 when clocks jump from
// 02:00 to 03:00) moves forward by the gap (to 03:30), deterministically; a
// time that happens twice (clocks go back) is taken the first time.
// time.Date leaves both choices open.
func wallClock(day, clock time.Time) time.Time {
	y, m, d := day.Date()
	h, mi, sec := clock.Clock()
	ns := clock.Nanosecond()
	loc := day.Location()
	t := time.Date(y, m, d, h, mi, sec, ns, loc)
	// The offsets in force half a day either side: a change happens at most
	// once in that span, and in a gap the offset always goes up.
	_, before := t.Add(-12 * time.Hour).Zone()
	_, after := t.Add(12 * time.Hour).Zone()
	if before == after {
		return t
	}
	utc := time.Date(y, m, d, h, mi, sec, ns, time.UTC)
	first := utc.Add(-time.Duration(max(before, after)) * time.Second).In(loc)
	second := utc.Add(-time.Duration(min(before, after)) * time.Second).In(loc)
	for _, c := range []time.Time{first, second} {
		if ch, cm, cs := c.Clock(); ch == h && cm == mi && cs == sec && c.Day() == d {
			return c // exists: the earlier reading if there are two
		}
	}
	// In the gap: read the clock with the offset in force before it.
	return utc.Add(-time.Duration(min(before, after)) * time.Second).In(loc)
}

// ReviewDeadline is when the draft is due for review: the rules' lead time
// before the meeting.
func (r *Rules) ReviewDeadline(meeting time.Time) time.Time {
	return meeting.Add(-time.Duration(r.Reminders.ReviewBeforeMeeting))
}

// IsBusinessDay reports whether t's date, in the rules' zone, is a business day.
func (r *Rules) IsBusinessDay(t time.Time) bool {
	y, m, d := t.In(r.c.loc).Date()
	return r.c.calendar.IsWorkday(time.Date(y, m, d, 12, 0, 0, 0, r.c.loc))
}

// PostmortemStatus maps the epic's Jira status to the post-mortem status.
func (r *Rules) PostmortemStatus(jiraStatus string) (string, bool) {
	s, ok := r.StatusMap[jiraStatus]
	return s, ok
}

// IsFinished reports whether a post-mortem status ends the reminders.
func IsFinished(status string) bool { return status == StatusReviewed || status == StatusClosed }

// EpicSummaryTemplate and EpicDescriptionTemplate return the rules' template
// overrides, or nil for the built-in ones.
func (r *Rules) EpicSummaryTemplate() *template.Template     { return r.c.summaryTmpl }
func (r *Rules) EpicDescriptionTemplate() *template.Template { return r.c.descTmpl }

// NotifyFor lists the notify entries for a post-mortem of severity on
// services: those whose severities and services (when given) match.
func (r *Rules) NotifyFor(severity string, services []string) []Notify {
	var out []Notify
	for _, n := range r.Notify {
		if len(n.Severities) > 0 && !slices.Contains(n.Severities, severity) {
			continue
		}
		if len(n.Services) > 0 && !slices.ContainsFunc(services, func(s string) bool { return slices.Contains(n.Services, s) }) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// PeopleOf lists the people entries of the services, in the file's order.
func (r *Rules) PeopleOf(services []string) []ServicePeople {
	var out []ServicePeople
	for _, sp := range r.People.Services {
		if slices.ContainsFunc(services, func(s string) bool { return slices.Contains(sp.Services, s) }) {
			out = append(out, sp)
		}
	}
	return out
}

// MostSevere reports whether severity is the rules' first (most severe)
// level, e.g. SEV-1.
func (r *Rules) MostSevere(severity string) bool {
	return len(r.Severities) > 0 && r.Severities[0].Name == severity
}
