package commands

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/rules"
)

// loadRules loads path, or the built-in rules when path is empty.
func loadRules(path string) (*rules.Rules, error) {
	if path == "" {
		return rules.Builtin(), nil
	}
	return rules.LoadFile(path)
}

// RulesCheck validates a rules file (the built-in rules when path is empty)
// and prints every problem as FILE:LINE:COL: message, why the file cannot be
// read, or a one-line summary.
// It returns the exit code: 0 valid, 1 invalid.
func RulesCheck(path string, stdout io.Writer) int {
	r, err := loadRules(path)
	if err != nil {
		var re *rules.Error
		if errors.As(err, &re) {
			for _, p := range re.Problems {
				fmt.Fprintln(stdout, p.String())
			}
			fmt.Fprintf(stdout, "%s: %d problem%s\n", path, len(re.Problems), plural(len(re.Problems)))
		} else {
			// A file that cannot be read has no position to point at.
			fmt.Fprintln(stdout, err)
		}
		return 1
	}
	fmt.Fprintln(stdout, r.Summary())
	return 0
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// apiIncident is the part of PagerDuty's incident object (GET /incidents/{id})
// that the rules look at.
type apiIncident struct {
	ID                 string     `json:"id"`
	IncidentNumber     int        `json:"incident_number"`
	Title              string     `json:"title"`
	Status             string     `json:"status"`
	CreatedAt          time.Time  `json:"created_at"`
	ResolvedAt         *time.Time `json:"resolved_at"`
	LastStatusChangeAt *time.Time `json:"last_status_change_at"`
	Service            *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"service"`
	Priority *struct {
		Summary string `json:"summary"`
		Name    string `json:"name"`
	} `json:"priority"`
}

func readIncident(path string) (*apiIncident, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read incident: %w", err)
	}
	// Accept the API's answer ({"incident": {...}}) or the bare object.
	var wrapped struct {
		Incident *apiIncident `json:"incident"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&wrapped); err != nil {
		return nil, fmt.Errorf("%s is not PagerDuty incident JSON: %w", path, err)
	}
	inc := wrapped.Incident
	if inc == nil {
		inc = &apiIncident{}
		if err := json.Unmarshal(b, inc); err != nil {
			return nil, fmt.Errorf("%s is not PagerDuty incident JSON: %w", path, err)
		}
	}
	if inc.ID == "" {
		return nil, fmt.Errorf("%s: no incident id (want GET /incidents/{id}'s answer or its incident object)", path)
	}
	return inc, nil
}

// RulesExplain prints what the rules give one incident, and why. now stands
// in for the resolve time of an incident that is not resolved yet.
func RulesExplain(rulesPath, incidentPath string, now time.Time, stdout io.Writer) error {
	r, err := loadRules(rulesPath)
	if err != nil {
		return err
	}
	inc, err := readIncident(incidentPath)
	if err != nil {
		return err
	}
	e := &explanation{r: r, inc: inc}
	if sev, ok := e.severity(); ok {
		e.grouping()
		e.owner()
		e.jira(sev)
		e.followups(sev)
		if err := e.deadlines(sev, now); err != nil {
			return err
		}
	}
	_, err = io.WriteString(stdout, e.b.String())
	return err
}

// explanation is what rules explain says of one incident, built line by
// line, one method per part of the process.
type explanation struct {
	r   *rules.Rules
	inc *apiIncident
	b   strings.Builder
}

// line adds one line: the label, then what the rules say.
func (e *explanation) line(label, format string, args ...any) {
	if label != "" {
		label += ":"
	}
	fmt.Fprintf(&e.b, "%-16s %s\n", label, fmt.Sprintf(format, args...))
}

// serviceID is the incident's service, "" when it names none.
func (e *explanation) serviceID() string {
	if e.inc.Service == nil {
		return ""
	}
	return e.inc.Service.ID
}

// severity says which rules and incident are explained, then the
// incident's severity and whether it is in process; ok is false when the
// process skips it, and nothing more is to be said.
func (e *explanation) severity() (sev *rules.Severity, ok bool) {
	r, inc := e.r, e.inc
	serviceName, priority := "", ""
	if inc.Service != nil {
		serviceName = inc.Service.Summary
	}
	if inc.Priority != nil {
		priority = inc.Priority.Summary
		if priority == "" {
			priority = inc.Priority.Name
		}
	}
	e.line("rules", "%s", r.Source())
	e.line("incident", "%s #%d %q (service %s %s, priority %s, %s)", inc.ID, inc.IncidentNumber, inc.Title, e.serviceID(), serviceName, orNone(priority), inc.Status)

	sev, why, ok := r.SeverityFor(priority)
	if !ok {
		e.line("severity", "none: %s", why)
		e.line("process", "skipped: no severity, so nothing would be written anywhere")
		return sev, false
	}
	e.line("severity", "%s (%s)", sev.Name, why)
	if !r.InProcess(sev.Name) {
		e.line("process", "skipped: %s is not in process (%s); nothing would be written anywhere", sev.Name, strings.Join(r.Process, ", "))
		return sev, false
	}
	e.line("process", "yes: %s is in process (%s)", sev.Name, strings.Join(r.Process, ", "))
	return sev, true
}

func (e *explanation) grouping() {
	r, serviceID := e.r, e.serviceID()
	if sc := r.ScopeOf(serviceID); sc != nil {
		e.line("grouping", "scope %q (services %s): incidents triggered within %s of this one's lifetime are related", sc.Name, strings.Join(sc.Services, ", "), r.Grouping.Window)
	} else {
		e.line("grouping", "service %s is in no scope: grouped with nothing from the rules' scopes", orNone(serviceID))
	}
	e.line("", "resolve open members: %s; merge while open: %s; related-incidents API: %s",
		yesNo(r.Grouping.ResolveOpenMembers), yesNo(r.Grouping.MergeWhileOpen), yesNo(r.Grouping.RelatedIncidentsAPI))
}

func (e *explanation) owner() {
	var owners []string
	for i, c := range e.r.OwnerCandidates(e.serviceID()) {
		s := fmt.Sprintf("%d. %s", i+1, c.Source)
		if c.Email != "" {
			s += " " + c.Email
		}
		owners = append(owners, s)
	}
	if len(owners) == 0 {
		owners = []string{"none: the epic would be created unassigned, with a comment saying why"}
	}
	e.line("owner", "first that maps to a Jira user by email: %s", strings.Join(owners, "; "))
}

// jira says where the epic goes, its types, labels and priority.
func (e *explanation) jira(sev *rules.Severity) {
	r, serviceID := e.r, e.serviceID()
	project, routed := r.JiraProject(serviceID)
	how := "the default project"
	if routed {
		how = "a route for service " + serviceID
	}
	e.line("jira project", "%s (%s); epic type %s, follow-up type %s", project, how, r.Jira.EpicIssueType, r.Jira.FollowupIssueType)
	e.line("labels", "%s", strings.Join(r.Labels(sev.Name, e.inc.CreatedAt), ", "))
	if sev.JiraPriority != "" {
		e.line("jira priority", "%s", sev.JiraPriority)
	}
}

func (e *explanation) followups(sev *rules.Severity) {
	r := e.r
	if r.Followups.FromNotes {
		e.line("follow-ups", "one per note line starting with %s; at most %d tickets", strings.Join(r.Followups.Markers, ", "), r.Followups.Max)
	} else {
		e.line("follow-ups", "none from notes; at most %d tickets", r.Followups.Max)
	}
	for _, f := range r.StandardFollowups(sev.Name) {
		e.line("", "standard: %s", f.Summary)
	}
}

// deadlines says when the meeting and the review are due, counted from the
// incident's resolution (now, when it is not resolved yet), and how the
// owner is reminded.
func (e *explanation) deadlines(sev *rules.Severity, now time.Time) error {
	r, inc := e.r, e.inc
	resolved, note := now, "not resolved yet: counted from now"
	switch {
	case inc.ResolvedAt != nil:
		resolved, note = *inc.ResolvedAt, "resolved"
	case inc.Status == "resolved" && inc.LastStatusChangeAt != nil:
		resolved, note = *inc.LastStatusChangeAt, "resolved (last status change)"
	}
	meeting, err := r.MeetingDeadline(sev.Name, resolved)
	if err != nil {
		return err
	}
	const layout = "Mon 2006-01-02 15:04 MST"
	loc := r.Location()
	e.line("meeting due", "%s (%s after %s %s)", meeting.Format(layout), sev.MeetingDue, note, resolved.In(loc).Format(layout))
	e.line("review due", "%s (%s before the meeting)", r.ReviewDeadline(meeting).In(loc).Format(layout), r.Reminders.ReviewBeforeMeeting)
	e.line("reminders", "to the owner when a deadline passes, then every %s until the post-mortem is Reviewed or Closed", r.Reminders.RepeatOverdueEvery)
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
