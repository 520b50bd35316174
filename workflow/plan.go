package workflow

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/store"
)

// Plan is what one run decided and did, step by step: what `aftermath plan`
// prints, and what a dry run records.
type Plan struct {
	IncidentID     string             `json:"incident_id"`
	Event          string             `json:"event"`
	Mode           Mode               `json:"-"`
	Incident       pagerduty.Incident `json:"incident"`
	Severity       string             `json:"severity,omitempty"`
	SeverityWhy    string             `json:"severity_why,omitempty"`
	Outcome        string             `json:"outcome,omitempty"` // set when the incident gets no process of its own
	Primary        string             `json:"primary,omitempty"`
	Members        []Member           `json:"members,omitempty"`
	FinalSeverity  string             `json:"final_severity,omitempty"`
	PriorityChange string             `json:"priority_change,omitempty"`
	Owner          Owner              `json:"owner,omitzero"`
	MeetingDue     time.Time          `json:"meeting_due,omitzero"`
	Timeline       *Timeline          `json:"timeline,omitempty"`
	Postmortem     *PostmortemRef     `json:"postmortem,omitempty"`
	Steps          []PlanStep         `json:"steps"`
}

// PlanStep is one step's outcome in a run.
type PlanStep struct {
	Incident string `json:"incident"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Detail   string `json:"detail"`
}

func (p *Plan) add(incident, name, status, detail string) {
	p.Steps = append(p.Steps, PlanStep{Incident: incident, Name: name, Status: status, Detail: detail})
}

// Writes lists the outside writes the run would make (status planned).
func (p *Plan) Writes() []PlanStep {
	var out []PlanStep
	for _, s := range p.Steps {
		if s.Status == store.StepPlanned {
			out = append(out, s)
		}
	}
	return out
}

// Render prints the plan for people. loc is the zone times are shown in.
func (p *Plan) Render(w io.Writer, loc *time.Location) error {
	var b strings.Builder
	in := p.Incident
	fmt.Fprintf(&b, "Incident %s #%d %q\n", p.IncidentID, in.Number, in.Title)
	fmt.Fprintf(&b, "  service:   %s (%s)\n", in.Service.Summary, in.Service.ID)
	fmt.Fprintf(&b, "  status:    %s; priority %s\n", in.Status, orNone(in.PriorityName()))
	sev := p.Severity
	if sev == "" {
		sev = "none"
	}
	fmt.Fprintf(&b, "  severity:  %s (%s)\n", sev, p.SeverityWhy)
	if p.Outcome != "" {
		fmt.Fprintf(&b, "  outcome:   %s\n", p.Outcome)
	}
	if p.Primary == p.IncidentID && p.Outcome == "" {
		fmt.Fprintf(&b, "\nGroup: primary %s with %d members\n", p.IncidentID, len(p.Members))
		for _, m := range p.Members {
			var gets []string
			if m.Incident.Open() {
				gets = append(gets, "resolved if the rules say so")
			}
			gets = append(gets, "a note pointing at the primary and its post-mortem")
			fmt.Fprintf(&b, "  #%d %s %q (%s, %s, %s): %s\n", m.Incident.Number, m.Incident.ID, m.Incident.Title,
				m.Incident.Service.Summary, orNone(m.Severity), m.Incident.Status, strings.Join(gets, "; "))
		}
		change := "unchanged"
		if p.PriorityChange != "" {
			change = "priority " + p.PriorityChange
		}
		fmt.Fprintf(&b, "Final severity: %s (%s)\n", orNone(p.FinalSeverity), change)
		if p.Owner.Email != "" {
			fmt.Fprintf(&b, "Owner: %s (%s)\n", p.Owner.Email, p.Owner.Source)
		}
		if !p.MeetingDue.IsZero() {
			fmt.Fprintf(&b, "Meeting due: %s\n", p.MeetingDue.In(loc).Format("Mon 2 Jan 2006 15:04 MST"))
		}
		if tl := p.Timeline; tl != nil {
			fmt.Fprintf(&b, "\nTimeline (%d key events):\n", len(tl.Events))
			for _, e := range tl.Events {
				fmt.Fprintf(&b, "  %s  #%d %-16s %s\n", e.At.In(loc).Format("2006-01-02 15:04:05"), e.IncidentNumber, e.Kind, e.Summary)
			}
			fmt.Fprintf(&b, "Responders (%d):\n", len(tl.Responders))
			for _, r := range tl.Responders {
				fmt.Fprintf(&b, "  %s: %s\n", r.Name, strings.Join(r.Actions, ", "))
			}
			if tl.Resolution != nil {
				fmt.Fprintf(&b, "Resolution note (%s): %s\n", tl.Resolution.Author, firstLine(tl.Resolution.Content))
			}
			fmt.Fprintf(&b, "TODO items (%d):\n", len(tl.TODOs))
			for _, t := range tl.TODOs {
				fmt.Fprintf(&b, "  - %s (%s)\n", t.Text, t.Author)
			}
		}
	}
	fmt.Fprintf(&b, "\nSteps:\n")
	for _, s := range p.Steps {
		who := ""
		if s.Incident != p.IncidentID {
			who = " [" + s.Incident + "]"
		}
		fmt.Fprintf(&b, "  %-16s %-8s %s%s\n", s.Name, s.Status, s.Detail, who)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
