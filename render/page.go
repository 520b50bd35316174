// Package render holds every sentence aftermath writes to people in Jira
// and PagerDuty: the epic's summary and its description (the post-mortem
// page, in Jira wiki markup), the follow-up tickets' descriptions, the
// comments on the epic (comments.go, language.go) and the notes on the
// incidents (notes.go); the mail and Slack bodies are rendered by
// integrations/notify. The page comes from Go text/template, built in or
// overridden from the rules; every value from PagerDuty goes through an
// escaping function, so that no incident title or note can break the
// markup. Each family of sentences has a golden file in testdata.
package render

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
	"time"
)

//go:embed templates/*.tmpl
var files embed.FS

// Funcs are the functions every template can use; the rules parse their
// templates with the same set.
var Funcs = template.FuncMap{
	"text": Text, // escaped text, line breaks kept
	"cell": Cell, // escaped text on one line (a table cell)
	"link": Link, // [text|url], or the escaped text when the URL is not http(s)
	"join": strings.Join,
}

var (
	defaultSummary     = mustParse("summary.tmpl")
	defaultDescription = mustParse("description.tmpl")
	followupTemplate   = mustParse("followup.tmpl")
)

func mustParse(name string) *template.Template {
	b, err := files.ReadFile("templates/" + name)
	if err != nil {
		panic(err)
	}
	return template.Must(template.New(name).Funcs(Funcs).Option("missingkey=error").Parse(string(b)))
}

// Page is what a post-mortem page is rendered from. Times are already in the
// rules' zone and formatted; text fields hold raw text from PagerDuty, to be
// escaped by the template (text, cell, link).
type Page struct {
	Severity  string // e.g. "SEV-1"
	Title     string
	Number    int
	URL       string // the primary incident
	Services  []string
	Started   string
	Resolved  string
	Duration  string
	Zone      string // the zone times are shown in, e.g. "America/New_York"
	Status    string // the post-mortem's status: Draft
	Owner     Person
	OwnerNote string // why there is no owner, when there is none

	MeetingDue string
	ReviewDue  string

	Incidents  []Incident // the primary first, then the members
	Timeline   []Event
	Responders []Responder
	Resolution *Note
	Actions    []Action // the follow-up tickets
	Overflow   []string // TODO items beyond the rules' max: listed, not ticketed

	// Show says which of the optional sections the rules turn on.
	Show Sections
	// Conference is the primary's incident call; nil when PagerDuty has none.
	Conference *Conference
	// Response is how the response went, per incident of the group
	// (primary first); Overall is the whole group's, nil for one incident.
	Response []Response
	Overall  *Response
	// Links are the links found in the incidents' notes (dashboards, log
	// searches), each with the note it came from.
	Links []NoteLink
	// Invitees are who to invite to the post-mortem meeting: the incident
	// commander first, then the responders.
	Invitees []string
	// GroupSize is how many incidents the group has, the primary
	// included, however many the page lists.
	GroupSize int
	// Earlier are the post-mortems of earlier incidents on these services
	// (or in their grouping scope) whose follow-ups were still open when
	// this incident resolved, the most recent first: it recurred. Empty:
	// no recurrence, and no section. CapEarlier bounds them.
	Earlier []Earlier
	// Cut says what the page leaves out to fit in Jira, section by
	// section; Fit sets it.
	Cut Cut
}

// Sections are the page's optional sections, each on or off in the rules
// (page: in the rules file).
type Sections struct {
	Conference bool // the incident call and a prompt for its recording, in the Overview
	Durations  bool // the response table in the Overview
	Data       bool // "Data and queries", with the links found in notes
	Impact     bool // the customer-impact fields
	Meeting    bool // the meeting's due date, invitees and agenda
}

// AllSections turns every optional section on.
func AllSections() Sections {
	return Sections{Conference: true, Durations: true, Data: true, Impact: true, Meeting: true}
}

// Conference is an incident's call (PagerDuty's conference bridge).
type Conference struct {
	URL    string // a video call or chat channel; may be ""
	Number string // a phone number with its access code; may be ""
}

// Response is how one incident (or the group) was answered. A duration is
// "" when it did not happen: never acknowledged, not resolved.
type Response struct {
	Incident      string // "#4211", or "All" for the group
	URL           string
	PagedFirst    string // who was paged first; "" when the log does not say
	Acknowledged  string // time from trigger to the first acknowledgement, e.g. "3 min"
	Resolved      string // time from trigger to resolution
	Escalations   int
	Reassignments int
}

// NoteLink is a link someone wrote in a note.
type NoteLink struct {
	URL      string
	Kind     string // "dashboard", "log search" or "link"
	Incident string // "#4211"
	Author   string
	At       string
	Line     string // the note's line the link is on
}

// Person is someone, with their Jira user when known.
type Person struct {
	Name   string
	Email  string
	JiraID string // accountId (Cloud) or name (Data Center); "" when no Jira user matched
}

// Incident is one incident of the group.
type Incident struct {
	Number   int
	Title    string
	URL      string
	Service  string
	Severity string
	Status   string
	Role     string // "primary" or "member"
}

// Event is one timeline row.
type Event struct {
	At       string
	Incident string // "#42"
	Actor    string
	Kind     string
	Summary  string
	Link     string
}

// Responder is a person who took part.
type Responder struct {
	Name    string
	Role    string // "Incident commander", "Scribe", or ""
	Actions string
}

// Note is a note quoted from PagerDuty.
type Note struct {
	Author string
	At     string
	Text   string
	Link   string
}

// Action is a follow-up ticket.
type Action struct {
	Key     string
	URL     string
	Summary string
}

// Earlier is an earlier post-mortem whose follow-ups were still open when
// this incident resolved on one of its services.
type Earlier struct {
	Key         string // its epic: PM-4
	URL         string
	Status      string // Draft, In Review, Reviewed or Closed
	Number      int    // its primary incident
	Title       string
	IncidentURL string
	Resolved    string   // when its primary resolved, formatted
	Open        []Action // its open follow-ups (Summary "" when unknown)
	MoreOpen    int      // how many more are open than Open lists
}

// The most the page's "Earlier incidents on these services" holds, so that
// the section stays small beside the sections Fit shares the room among:
// at most EarlierShown post-mortems, each listing at most EarlierOpenShown
// open follow-ups, with titles and summaries cut.
const (
	EarlierShown     = 5
	EarlierOpenShown = 5
	earlierTitle     = 200
	earlierSummary   = 120
)

// CapEarlier bounds earlier for the page: the first EarlierShown, each
// with its first EarlierOpenShown open follow-ups (the rest counted in
// MoreOpen), titles and summaries cut.
func CapEarlier(earlier []Earlier) []Earlier {
	out := make([]Earlier, 0, min(len(earlier), EarlierShown))
	for _, e := range earlier[:min(len(earlier), EarlierShown)] {
		e.Title = Clip(e.Title, earlierTitle)
		if n := len(e.Open); n > EarlierOpenShown {
			e.MoreOpen += n - EarlierOpenShown
			e.Open = e.Open[:EarlierOpenShown]
		}
		e.Open = mapped(e.Open, func(a Action) Action { a.Summary = Clip(a.Summary, earlierSummary); return a })
		out = append(out, e)
	}
	return out
}

// Followup is what a follow-up ticket's description is rendered from.
type Followup struct {
	Item     string // the TODO item
	Note     *Note  // the note it came from; nil for a standard task
	Detail   string // a standard task's description from the rules
	Incident string // "#42 Checkout errors"
	IncURL   string
}

// Summary renders the epic's summary with t (nil: the built-in one), as one
// line of at most 255 characters.
func Summary(t *template.Template, p Page) (string, error) {
	if t == nil {
		t = defaultSummary
	}
	s, err := execute(t, p)
	if err != nil {
		return "", err
	}
	return Line(s, 255), nil
}

// EpicName is the epic's Epic Name on Jira Data Center (what its boards
// show on the epic's issues): one line of at most 255 characters.
func EpicName(p Page) string {
	return Line(fmt.Sprintf("Post-mortem #%d %s", p.Number, p.Title), 255)
}

// OwnerRefused is the page's owner note when Jira would not assign the
// epic to the owner (email): why is Jira's reason. The page and the owner
// comment escape it.
func OwnerRefused(email, why string) string {
	return fmt.Sprintf("Jira refused to assign it to %s (%s)", email, why)
}

// RefusedTicket is how the page's items not ticketed list a follow-up Jira
// refused to create.
func RefusedTicket(item string) string {
	return item + " (Jira refused the ticket)"
}

// Description renders the post-mortem page with t (nil: the built-in one).
func Description(t *template.Template, p Page) (string, error) {
	if t == nil {
		t = defaultDescription
	}
	return execute(t, p)
}

// FollowupDescription renders a follow-up ticket's description, at most
// PageLimit UTF-16 units long: a note (or a standard task's detail) too
// long for Jira is cut, and says where the whole of it is.
func FollowupDescription(f Followup) (string, error) {
	f.Incident = Clip(f.Incident, capTitle)
	d, err := execute(followupTemplate, f)
	if err != nil || Units(d) <= PageLimit {
		return d, err
	}
	text := f.Detail
	if f.Note != nil {
		text = f.Note.Text
	}
	runes := []rune(text)
	at := func(k int) string {
		g := f
		cut := string(runes[:k]) + "… (cut to fit in Jira)"
		if g.Note != nil {
			n := *g.Note
			n.Text = cut + "\nThe whole note is in PagerDuty."
			g.Note = &n
		} else {
			g.Detail = cut
		}
		d, _ := execute(followupTemplate, g)
		return d
	}
	lo, hi := 0, len(runes) // at(lo) fits, at(hi) does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if Units(at(mid)) <= PageLimit {
			lo = mid
		} else {
			hi = mid
		}
	}
	return at(lo), nil
}

func execute(t *template.Template, data any) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return strings.TrimSpace(b.String()) + "\n", nil
}

// Duration says how long an incident lasted, for people: "1 h 25 min".
func Duration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Round(time.Second).Seconds()))
	}
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("%d min", m)
	case m == 0:
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// At formats a time for people in zone: "2026-11-20 10:12 EST", and
// "unknown" for the zero time.
func At(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.In(orUTC(zone)).Format("2006-01-02 15:04 MST")
}

// Day formats a deadline for people in zone, with its weekday: "Mon 23 Nov
// 2026 10:12 EST".
func Day(t time.Time, zone *time.Location) string {
	return t.In(orUTC(zone)).Format("Mon 2 Jan 2006 15:04 MST")
}

func orUTC(zone *time.Location) *time.Location {
	if zone == nil {
		return time.UTC
	}
	return zone
}

// Sample is a page with every field set, for checking a template before it
// is used: the rules execute theirs against it when they load.
func Sample() Page {
	return Page{
		Severity: "SEV-1", Title: "Checkout errors", Number: 42, URL: "https://example.pagerduty.com/incidents/Q1",
		Services: []string{"checkout-api"}, Started: "2026-11-20 09:00", Resolved: "2026-11-20 10:25", Duration: "1 h 25 min",
		Zone: "UTC", Status: "Draft", Owner: Person{Name: "Alice", Email: "alice@example.com", JiraID: "a1"},
		MeetingDue: "Mon 23 Nov 2026 10:25", ReviewDue: "Sun 22 Nov 2026 10:25",
		Incidents:  []Incident{{Number: 42, Title: "Checkout errors", URL: "https://example.pagerduty.com/incidents/Q1", Service: "checkout-api", Severity: "SEV-1", Status: "resolved", Role: "primary"}},
		Timeline:   []Event{{At: "09:00:00", Incident: "#42", Actor: "checkout-api", Kind: "triggered", Summary: "Triggered", Link: "https://example.pagerduty.com/incidents/Q1"}},
		Responders: []Responder{{Name: "Alice", Role: "Incident commander", Actions: "acknowledged #42"}},
		Resolution: &Note{Author: "Alice", At: "10:20", Text: "Rolled back.", Link: "https://example.pagerduty.com/incidents/Q1"},
		Actions:    []Action{{Key: "PM-2", URL: "https://example.atlassian.net/browse/PM-2", Summary: "Add an alert"}},
		Overflow:   []string{"Review the runbook"},
		Show:       AllSections(),
		Conference: &Conference{URL: "https://meet.example.com/inc-42", Number: "+1-415-555-1212,,,,1234#"},
		Response: []Response{
			{Incident: "#42", URL: "https://example.pagerduty.com/incidents/Q1", PagedFirst: "Alice", Acknowledged: "3 min", Resolved: "1 h 25 min", Escalations: 1, Reassignments: 1},
			{Incident: "#43", URL: "https://example.pagerduty.com/incidents/Q2", Resolved: "40 min"},
		},
		Overall: &Response{Incident: "All", PagedFirst: "Alice", Acknowledged: "3 min", Resolved: "1 h 25 min", Escalations: 1, Reassignments: 1},
		Links: []NoteLink{{URL: "https://grafana.example.com/d/checkout", Kind: "dashboard", Incident: "#42", Author: "Alice", At: "09:10",
			Line: "Error rate: https://grafana.example.com/d/checkout"}},
		Invitees:  []string{"Alice", "Bob"},
		GroupSize: 2,
		Earlier: []Earlier{{Key: "PM-1", URL: "https://example.atlassian.net/browse/PM-1", Status: "In Review", Number: 30, Title: "Checkout slow",
			IncidentURL: "https://example.pagerduty.com/incidents/Q0", Resolved: "2026-10-02 11:00",
			Open: []Action{{Key: "PM-3", URL: "https://example.atlassian.net/browse/PM-3", Summary: "Alert on pool saturation"}}, MoreOpen: 1}},
	}
}
