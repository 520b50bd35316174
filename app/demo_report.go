package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutysim"
	"github.com/aftermath-dev/aftermath/internal/simkit"
)

// demoReport is what the demo shows; with --json it is printed as is, for
// scripts and the demo's own test.
type demoReport struct {
	Primary       string            `json:"primary"`
	Group         []demoMember      `json:"group"`
	FinalSeverity string            `json:"final_severity"`
	FinalPriority string            `json:"final_priority"`
	Owner         string            `json:"owner"`
	Epic          demoIssue         `json:"epic"`
	PageFile      string            `json:"page_file"`
	PageHead      []string          `json:"page_head"`
	FollowUps     []demoIssue       `json:"follow_ups"`
	Notes         []demoNote        `json:"notes"`
	MeetingDue    time.Time         `json:"meeting_due"`
	ReviewDue     time.Time         `json:"review_due"`
	Calls         map[string]int    `json:"calls"` // "pagerduty GET" -> n, ..., "pagerduty" -> total
	Violations    []string          `json:"violations"`
	URLs          map[string]string `json:"urls"`
	Elapsed       string            `json:"elapsed"`
}

type demoMember struct {
	ID     string   `json:"id"`
	Number int      `json:"number"`
	Title  string   `json:"title"`
	Status string   `json:"status"`
	Got    []string `json:"got"`
}

type demoIssue struct {
	Key      string   `json:"key"`
	Summary  string   `json:"summary"`
	Labels   []string `json:"labels"`
	DueDate  string   `json:"due_date,omitempty"`
	Assignee string   `json:"assignee,omitempty"`
	Status   string   `json:"status,omitempty"`
}

type demoNote struct {
	Incident string `json:"incident"`
	Content  string `json:"content"`
}

// report reads what the workflow did from the simulators' state and writes
// the page to a file under dir.
func (d *demoEnv) report(ctx context.Context, dir string) (*demoReport, error) {
	rep := &demoReport{Primary: demoPrimary, Calls: map[string]int{}, URLs: map[string]string{
		"aftermath": "http://" + d.app.Addr(), "pagerduty": d.pd.URL(), "jira": d.js.URL(),
	}}
	grp, _, err := d.app.Store().GroupOf(ctx, demoPrimary)
	if err != nil {
		return nil, err
	}
	for _, id := range grp.Members {
		rep.Group = append(rep.Group, d.member(id))
	}
	rep.Notes = d.botNotes(grp.Members)
	primary, _ := d.pd.Incident(demoPrimary)
	rep.FinalPriority = primary.Priority
	rl := d.app.Rules()
	if sev, _, ok := rl.SeverityFor(primary.Priority); ok {
		rep.FinalSeverity = sev.Name
		if rep.MeetingDue, err = rl.MeetingDeadline(sev.Name, primary.ResolvedAt); err != nil {
			return nil, err
		}
		rep.ReviewDue = rl.ReviewDeadline(rep.MeetingDue)
	}
	for _, is := range d.js.Issues() {
		di := demoIssue{Key: is.Key, Summary: is.Summary, Labels: is.Labels, DueDate: is.DueDate, Assignee: is.Assignee, Status: is.Status}
		switch {
		case is.IssueType == "Epic":
			rep.Epic = di
			rep.Owner = d.jiraUser(is.Assignee)
			if rep.PageFile, rep.PageHead, err = writePage(dir, is.Key, is.Description); err != nil {
				return nil, err
			}
		default:
			rep.FollowUps = append(rep.FollowUps, di)
		}
	}
	countCalls(rep.Calls, "pagerduty", d.pd.Calls())
	countCalls(rep.Calls, "jira", d.js.Calls())
	rep.Violations = append(d.pd.Violations(), d.js.Violations()...)
	rep.Elapsed = time.Since(d.started).Round(time.Millisecond).String()
	return rep, nil
}

// member says what one group member got, from the simulator's state.
func (d *demoEnv) member(id string) demoMember {
	in, _ := d.pd.Incident(id)
	m := demoMember{ID: id, Number: in.Number, Title: in.Title, Status: in.Status}
	if id == demoPrimary {
		m.Got = append(m.Got, "the post-mortem (primary)")
	}
	for _, e := range in.LogEntries {
		switch {
		case e.Type == pagerdutysim.ResolveLogEntry && e.AgentID == "PBOT":
			m.Got = append(m.Got, "resolved by aftermath (it was still open)")
		case e.Type == pagerdutysim.PriorityChangeLogEntry && e.AgentID == "PBOT":
			m.Got = append(m.Got, fmt.Sprintf("priority %s -> %s", e.OldPriority, e.NewPriority))
		}
	}
	for _, n := range in.Notes {
		if n.UserID == "PBOT" {
			m.Got = append(m.Got, "note: "+firstLine(n.Content))
		}
	}
	return m
}

func (d *demoEnv) botNotes(ids []string) []demoNote {
	var out []demoNote
	for _, id := range ids {
		for _, n := range d.pd.Notes(id) {
			if n.UserID == "PBOT" {
				out = append(out, demoNote{Incident: id, Content: n.Content})
			}
		}
	}
	return out
}

func (d *demoEnv) jiraUser(accountID string) string {
	for _, u := range demoUsers {
		if u.account == accountID {
			return fmt.Sprintf("%s <%s>", u.name, u.email)
		}
	}
	if accountID == "" {
		return "(unassigned)"
	}
	return accountID
}

func countCalls(into map[string]int, system string, calls []simkit.Call) {
	for _, c := range calls {
		into[system+" "+c.Method]++
		into[system]++
	}
}

// writePage writes the epic's description to dir (a new temporary
// directory when empty) and returns its path and first lines.
func writePage(dir, key, page string) (string, []string, error) {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "aftermath-demo-"); err != nil {
			return "", nil, fmt.Errorf("write the post-mortem page: %w", err)
		}
	}
	path := filepath.Join(dir, "postmortem-"+key+".jira.txt")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		return "", nil, fmt.Errorf("write the post-mortem page: %w", err)
	}
	lines := strings.Split(page, "\n")
	return path, lines[:min(len(lines), 12)], nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (r *demoReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *demoReport) writeText(w io.Writer) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("\nDone in %s. What aftermath did:\n", r.Elapsed)
	p("Group of %d incidents under primary %s:", len(r.Group), r.Primary)
	for _, m := range r.Group {
		p("  #%d %s %q (%s)", m.Number, m.ID, m.Title, m.Status)
		for _, g := range m.Got {
			p("      - %s", g)
		}
	}
	p("Final severity: %s (PagerDuty priority %s)", r.FinalSeverity, r.FinalPriority)
	p("Owner: %s", r.Owner)
	p("Post-mortem epic %s: %s", r.Epic.Key, r.Epic.Summary)
	p("  labels %s, due %s, status %s", strings.Join(r.Epic.Labels, ", "), r.Epic.DueDate, r.Epic.Status)
	p("  page written to %s; it begins:", r.PageFile)
	for _, l := range r.PageHead {
		p("    | %s", l)
	}
	p("Follow-ups (%d):", len(r.FollowUps))
	for _, f := range r.FollowUps {
		p("  %s %s  [%s]", f.Key, f.Summary, strings.Join(f.Labels, ", "))
	}
	p("Notes written to PagerDuty (%d):", len(r.Notes))
	for _, n := range r.Notes {
		p("  on %s: %s", n.Incident, strings.ReplaceAll(n.Content, "\n", " / "))
	}
	p("Deadlines: meeting due %s, review due %s (24h before)", r.MeetingDue.Format(time.RFC3339), r.ReviewDue.Format(time.RFC3339))
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range r.Calls {
			if !yield(k) {
				return
			}
		}
	})
	var calls []string
	for _, k := range keys {
		calls = append(calls, fmt.Sprintf("%s %d", k, r.Calls[k]))
	}
	p("API calls: %s", strings.Join(calls, ", "))
	if len(r.Violations) > 0 {
		p("Simulator violations: %s", strings.Join(r.Violations, "; "))
	}
	return nil
}
