package workflow

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/render"
)

// IncidentResponse is how one incident was answered, from its log entries
// (no request of its own): the page's response table.
type IncidentResponse struct {
	IncidentID     string    `json:"incident_id"`
	IncidentNumber int       `json:"incident_number"`
	URL            string    `json:"url"`
	TriggeredAt    time.Time `json:"triggered_at"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"` // the first acknowledgement; zero: never
	ResolvedAt     time.Time `json:"resolved_at,omitzero"`     // zero: not resolved
	Escalations    int       `json:"escalations"`
	// Reassignments are the assignments and delegations after the first
	// page; the first page is not a reassignment.
	Reassignments int       `json:"reassignments"`
	PagedFirst    []string  `json:"paged_first,omitempty"` // who the first assigning entry paged
	PagedAt       time.Time `json:"paged_at,omitzero"`
}

// responseOf reads an incident's log, oldest entry first.
func responseOf(il incidentLog) IncidentResponse {
	in := il.Incident
	r := IncidentResponse{IncidentID: in.ID, IncidentNumber: in.Number, URL: in.HTMLURL, TriggeredAt: in.CreatedAt, ResolvedAt: in.ResolvedAt}
	for _, e := range il.Entries {
		assigning := false
		switch e.Type {
		case "acknowledge_log_entry":
			if r.AcknowledgedAt.IsZero() {
				r.AcknowledgedAt = e.CreatedAt
			}
		case "escalate_log_entry":
			r.Escalations++
			assigning = true
		case "assign_log_entry", "delegate_log_entry":
			if !r.PagedAt.IsZero() {
				r.Reassignments++
			}
			assigning = true
		case "resolve_log_entry":
			if r.ResolvedAt.IsZero() {
				r.ResolvedAt = e.CreatedAt
			}
		}
		if assigning && r.PagedAt.IsZero() && len(e.Assignees) > 0 {
			r.PagedAt = e.CreatedAt
			for _, a := range e.Assignees {
				r.PagedFirst = append(r.PagedFirst, cmp.Or(a.Summary, a.ID))
			}
		}
	}
	return r
}

// overallResponse is the whole group's: its first trigger to its first
// acknowledgement and to its last resolution (none while one is open), the
// sums, and who was paged first of all.
func overallResponse(rs []IncidentResponse) IncidentResponse {
	var all IncidentResponse
	resolved := true
	for i, r := range rs {
		if i == 0 || r.TriggeredAt.Before(all.TriggeredAt) {
			all.TriggeredAt = r.TriggeredAt
		}
		if !r.AcknowledgedAt.IsZero() && (all.AcknowledgedAt.IsZero() || r.AcknowledgedAt.Before(all.AcknowledgedAt)) {
			all.AcknowledgedAt = r.AcknowledgedAt
		}
		resolved = resolved && !r.ResolvedAt.IsZero()
		if r.ResolvedAt.After(all.ResolvedAt) {
			all.ResolvedAt = r.ResolvedAt
		}
		if !r.PagedAt.IsZero() && (all.PagedAt.IsZero() || r.PagedAt.Before(all.PagedAt)) {
			all.PagedAt, all.PagedFirst = r.PagedAt, r.PagedFirst
		}
		all.Escalations += r.Escalations
		all.Reassignments += r.Reassignments
	}
	if !resolved {
		all.ResolvedAt = time.Time{}
	}
	return all
}

// pageResponse is a response as the page shows it.
func pageResponse(r IncidentResponse, incident string) render.Response {
	out := render.Response{Incident: incident, URL: r.URL, PagedFirst: strings.Join(r.PagedFirst, ", "),
		Escalations: r.Escalations, Reassignments: r.Reassignments}
	if !r.AcknowledgedAt.IsZero() {
		out.Acknowledged = render.Duration(r.AcknowledgedAt.Sub(r.TriggeredAt))
	}
	if !r.ResolvedAt.IsZero() {
		out.Resolved = render.Duration(r.ResolvedAt.Sub(r.TriggeredAt))
	}
	return out
}

// NoteLink is a link found in a note, with the line it is on.
type NoteLink struct {
	URL  string `json:"url"`
	Kind string `json:"kind"` // "dashboard", "log search" or "link"
	Line string `json:"line"`
	NoteRef
	IncidentNumber int `json:"incident_number"`
}

// urlRe finds http(s) links in a note; the characters that end a link in
// prose or in Jira markup end it here too.
var urlRe = regexp.MustCompile(`https?://[^\s<>"'\[\]|{}\x60]+`)

// findLinks returns the links of a note's lines, each once, without the
// punctuation that ends a sentence.
func findLinks(content string) (urls, lines []string) {
	for line := range strings.SplitSeq(content, "\n") {
		for _, u := range urlRe.FindAllString(line, -1) {
			u = strings.TrimRight(u, ".,;:!?)*_")
			if len(u) > len("https://") && !slices.Contains(urls, u) {
				urls, lines = append(urls, u), append(lines, strings.TrimSpace(line))
			}
		}
	}
	return urls, lines
}

// linkKind tells a log search from a dashboard by the words in its URL.
func linkKind(u string) string {
	l := strings.ToLower(u)
	for _, w := range []string{"kibana", "splunk", "loki", "/logs", "logs.", "explore", "discover", "search", "query="} {
		if strings.Contains(l, w) {
			return "log search"
		}
	}
	for _, w := range []string{"grafana", "dashboard", "/d/", "datadog", "newrelic", "metrics"} {
		if strings.Contains(l, w) {
			return "dashboard"
		}
	}
	return "link"
}
