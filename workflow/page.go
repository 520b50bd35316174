package workflow

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/rules"
)

// draft is the post-mortem as this run would first write it: where it goes,
// its labels, its summary and page, and the follow-ups to make.
type draft struct {
	project   string
	labels    []string // severity, date and the rules' labels
	incidents []string // the group's, primary first
	page      render.Page
	summary   string
	// description is the page rendered for Jira, listing the follow-ups
	// without their keys (they do not exist yet).
	description string
	followups   []followup
}

// draft renders the post-mortem's first version.
func (x *run) draft(pm Postmortem) draft {
	in := pm.Primary
	d := draft{labels: x.rules.Labels(pm.Severity, in.CreatedAt), incidents: []string{in.ID}, page: x.pageOf(pm)}
	d.project, _ = x.rules.JiraProject(in.Service.ID)
	for _, m := range pm.Members {
		d.incidents = append(d.incidents, m.Incident.ID)
	}
	d.followups, d.page.Overflow = x.followups(pm, d.project, d.labels)
	for _, f := range d.followups {
		d.page.Actions = append(d.page.Actions, render.Action{Summary: f.item})
	}
	summary, err := render.Summary(x.rules.EpicSummaryTemplate(), d.page)
	if err != nil {
		x.log.Error("the rules' summary template failed; using the built-in one", "err", err)
		summary, _ = render.Summary(nil, d.page)
	}
	d.summary, d.description = summary, x.description(d.page)
	return d
}

// setPage writes the page again once the follow-ups exist, with their keys,
// the items Jira refused, and the owner as Jira took it. Nothing is written
// when the epic's first page says it all already.
func (x *run) setPage(ctx context.Context, epic epicResult, d draft, created map[string]string, refusedItems []string, owner Owner, ownerNote string) error {
	page := d.page
	page.Actions = nil
	for _, f := range d.followups {
		if k := created[f.key]; k != "" {
			page.Actions = append(page.Actions, render.Action{Key: k, URL: x.r.Jira.BrowseURL(k), Summary: f.item})
		}
	}
	page.Overflow = slices.Clone(page.Overflow)
	for _, item := range refusedItems {
		page.Overflow = append(page.Overflow, item+" (Jira refused the ticket)")
	}
	page.Owner = render.Person{Name: owner.Name, Email: owner.Email, JiraID: owner.JiraID}
	page.OwnerNote = ownerNote
	final := x.description(page)
	if final == d.description && !epic.relabelled {
		return nil
	}
	_, err := x.write(ctx, write{
		incident: x.id, name: StepEpicPage, intent: fmt.Sprintf("list the %d follow-up tickets on %s's page", len(page.Actions), epic.Key),
		do: func(ctx context.Context) (string, error) { return epic.Key, x.r.Jira.SetPage(ctx, epic.Key, final) },
	})
	if refused(err) {
		return nil
	}
	return err
}

// description renders the page with the rules' template, falling back to
// the built-in one if it fails (a value that is nil on this incident), and
// makes it fit in Jira by keeping fewer timeline rows.
func (x *run) description(page render.Page) string {
	render1 := func(p render.Page) string {
		d, err := render.Description(x.rules.EpicDescriptionTemplate(), p)
		if err != nil {
			x.log.Error("the rules' description template failed; using the built-in one", "err", err)
			d, _ = render.Description(nil, p)
		}
		return d
	}
	d := render1(page)
	for keep := len(page.Timeline) / 2; !jira.FitsText(d) && keep >= 1; keep /= 2 {
		p := page
		p.Timeline = append(slices.Clone(page.Timeline[:keep]), render.Event{
			Kind: "more", Summary: fmt.Sprintf("%d more events: see the incidents in PagerDuty", len(page.Timeline)-keep), Link: page.URL,
		})
		d = render1(p)
	}
	return d
}

// pageOf is the post-mortem page's data.
func (x *run) pageOf(pm Postmortem) render.Page {
	in := pm.Primary
	loc := x.rules.Location()
	p := render.Page{
		Severity: pm.Severity, Title: in.Title, Number: in.Number, URL: in.HTMLURL,
		Started: x.at(in.CreatedAt), Resolved: x.at(in.ResolvedAt), Zone: loc.String(), Status: rules.StatusDraft,
		Owner:     render.Person{Name: pm.Owner.Name, Email: pm.Owner.Email, JiraID: pm.Owner.JiraID},
		OwnerNote: pm.OwnerNote,
	}
	if !in.ResolvedAt.IsZero() {
		p.Duration = render.Duration(in.ResolvedAt.Sub(in.CreatedAt))
	}
	if !pm.MeetingDue.IsZero() {
		p.MeetingDue = pm.MeetingDue.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
		p.ReviewDue = pm.ReviewDue.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
	}
	p.Incidents, p.Services = x.pageIncidents(pm)
	for _, e := range pm.Timeline.Events {
		p.Timeline = append(p.Timeline, render.Event{At: e.At.In(loc).Format("2006-01-02 15:04:05"), Incident: "#" + strconv.Itoa(e.IncidentNumber),
			Actor: e.Actor, Kind: e.Kind, Summary: e.Summary, Link: e.Link})
	}
	for _, r := range pm.Timeline.Responders {
		p.Responders = append(p.Responders, render.Responder{Name: r.Name, Role: r.Role, Actions: strings.Join(r.Actions, ", ")})
	}
	if n := pm.Timeline.Resolution; n != nil {
		p.Resolution = &render.Note{Author: n.Author, At: x.at(n.At), Text: n.Content, Link: n.Link}
	}
	x.pageSections(&p, pm)
	return p
}

// pageSections fills the optional sections the rules turn on: the incident
// call, the response table, the links of the notes and the invitees.
func (x *run) pageSections(p *render.Page, pm Postmortem) {
	cfg := x.rules.Page
	p.Show = render.Sections{Conference: cfg.ConferenceBridge, Durations: cfg.Durations, Data: cfg.DataAndQueries,
		Impact: cfg.ImpactFields, Meeting: cfg.Meeting}
	if c := pm.Primary.Conference; c != nil && p.Show.Conference {
		p.Conference = &render.Conference{URL: c.URL, Number: c.Number}
	}
	tl := pm.Timeline
	if p.Show.Durations {
		for _, r := range tl.Response {
			p.Response = append(p.Response, pageResponse(r, "#"+strconv.Itoa(r.IncidentNumber)))
		}
		if len(tl.Response) > 1 {
			all := pageResponse(overallResponse(tl.Response), "All")
			p.Overall = &all
		}
	}
	if p.Show.Data {
		for _, l := range tl.Links {
			p.Links = append(p.Links, render.NoteLink{URL: l.URL, Kind: l.Kind, Incident: "#" + strconv.Itoa(l.IncidentNumber),
				Author: l.Author, At: x.at(l.At), Line: l.Line})
		}
	}
	if p.Show.Meeting {
		for _, in := range pm.Invitees {
			p.Invitees = append(p.Invitees, cmp.Or(in.Name, in.Email)+" ("+in.Why+")")
		}
	}
}

// pageIncidents lists the group's incidents and the services they are on.
func (x *run) pageIncidents(pm Postmortem) ([]render.Incident, []string) {
	services := []string{}
	var incs []render.Incident
	add := func(in pagerduty.Incident, sev, role string) {
		name := in.Service.Summary
		if name == "" {
			name = in.Service.ID
		}
		if !slices.Contains(services, name) {
			services = append(services, name)
		}
		incs = append(incs, render.Incident{Number: in.Number, Title: in.Title, URL: in.HTMLURL, Service: in.Service.Summary,
			Severity: sev, Status: in.Status, Role: role})
	}
	add(pm.Primary, severityName(x.rules, pm.Primary), "primary")
	for _, m := range pm.Members {
		add(m.Incident, m.Severity, "member")
	}
	return incs, services
}

// at formats a time for people, in the rules' zone.
func (x *run) at(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.In(x.rules.Location()).Format("2006-01-02 15:04 MST")
}
