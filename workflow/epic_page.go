package workflow

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	x.confluence.service = in.Service.ID
	d.project, _ = x.rules.JiraProject(in.Service.ID)
	for _, m := range pm.Members {
		d.incidents = append(d.incidents, m.Incident.ID)
	}
	d.followups, d.page.Overflow = x.followups(pm, d.project, d.labels)
	if len(pm.Earlier) > 0 && !slices.Contains(d.labels, RecurrenceLabel) {
		// The epic's only: its follow-ups are not the recurrence.
		d.labels = append(slices.Clone(d.labels), RecurrenceLabel)
	}
	for _, f := range d.followups {
		d.page.Actions = append(d.page.Actions, render.Action{Summary: f.item})
	}
	summary, err := render.Summary(x.rules.EpicSummaryTemplate(), d.page)
	if err != nil {
		x.log.Error("the rules' summary template failed; using the built-in one", "err", err)
		summary, _ = render.Summary(nil, d.page)
	}
	d.summary = summary
	d.description, _ = x.description(d.page, pageFit{})
	return d
}

// setPage writes the page again once the follow-ups exist, with their keys,
// the items Jira refused, and the owner as Jira took it. Nothing is written
// when the epic's first page says it all already. It returns what the page
// as Jira holds it left out, for the comments (pageRest), and how it fits.
func (x *run) setPage(ctx context.Context, epic epicResult, d draft, created map[string]string, refusedItems []string, owner Owner, ownerNote string) ([]render.RestSection, pageFit, error) {
	page := d.page
	page.Actions = nil
	for _, f := range d.followups {
		if k := created[f.key]; k != "" {
			page.Actions = append(page.Actions, render.Action{Key: k, URL: x.r.Jira.BrowseURL(k), Summary: f.item})
		}
	}
	page.Overflow = slices.Clone(page.Overflow)
	for _, item := range refusedItems {
		page.Overflow = append(page.Overflow, render.RefusedTicket(item))
	}
	page.Owner = render.Person{Name: owner.Name, Email: owner.Email, JiraID: owner.JiraID}
	page.OwnerNote = ownerNote
	x.keepForConfluence(page, d)
	made, madeRest := x.description(d.page, epic.Fit)
	final, rest := x.description(page, epic.Fit)
	if final == made && !epic.relabelled {
		return rest, epic.Fit, nil
	}
	res, err := x.write(ctx, write{
		incident: x.id, name: StepEpicPage, intent: fmt.Sprintf("list the %d follow-up tickets on %s's page", len(page.Actions), epic.Key),
		do: func(ctx context.Context) (string, error) {
			fit := epic.Fit
			text, _ := x.description(page, fit)
			err := x.r.Jira.SetPage(ctx, epic.Key, text)
			for jira.TooLong(err) {
				next, ok := fit.shorter(err)
				if !ok {
					break
				}
				x.log.Warn("Jira refused the post-mortem page for its size; writing a shorter one, the rest goes to comments", "epic", epic.Key, "err", err)
				fit = next
				text, _ = x.description(page, fit)
				err = x.r.Jira.SetPage(ctx, epic.Key, text)
			}
			return fit.result(epic.Key), err
		},
	})
	switch {
	case refused(err):
		// The page stays as the epic was made.
		return madeRest, epic.Fit, nil
	case err != nil:
		return nil, epic.Fit, err
	}
	if fit, ok := fitOf(res); ok && fit != epic.Fit {
		_, rest = x.description(page, fit)
		return rest, fit, nil
	}
	return rest, epic.Fit, nil
}

// pageFit is how much of the page an epic's description holds. Jira may
// refuse a fitted page for its size all the same (its administrators can
// lower the limit, and its handling of the markup may count more than
// aftermath does): a page refused is never a reason to make no
// post-mortem, so a shorter one is written, and what it leaves out goes to
// comments. The zero value is all of the page that fits in
// render.PageLimit.
type pageFit struct {
	Level int `json:"level,omitempty"` // pageFitted, pageMinimal, ...
	Limit int `json:"limit,omitempty"` // what the page and comments are fitted to; 0: render.PageLimit
}

// The page's levels, from all of it that fits to nothing.
const (
	pageFitted      = iota // the page, fitted to the limit
	pageMinimal            // without the sections that grow with the incident
	pagePlaceholder        // one line pointing at the comments, which hold the page
	pageNone               // no description at all
)

func (f pageFit) limit() int { return cmp.Or(f.Limit, render.PageLimit) }

// shorter is what to write after Jira refused a text of fit for its size
// with err: the page fitted to the limit Jira states, when that is lower
// (with some room), else to half the limit (Jira counts otherwise than
// aftermath, or did not say); below minFitted, the page without its growing
// sections, then a line, then nothing. The comments are fitted to the same
// limit. ok is false when there is nothing shorter.
func (f pageFit) shorter(err error) (pageFit, bool) {
	limit := f.limit() / 2
	if l, ok := jira.StatedLimit(err); ok && l-l/32 < f.limit() {
		limit = l - l/32
	}
	if f.Level == pageFitted && limit >= minFitted {
		f.Limit = limit
		return f, true
	}
	if f.Level >= pageNone {
		return f, false
	}
	f.Limit = max(limit, minLimit)
	f.Level++
	return f, true
}

// minFitted is the shortest limit a fitted page is worth writing at: under
// it, the page goes without its growing sections. minLimit is the least
// any text is fitted to, so that comments still hold a few rows each.
const (
	minFitted = 4000
	minLimit  = 1000
)

// result is the epic_page step's result: the epic, and how its page was
// fitted when that is not the default.
func (f pageFit) result(key string) string {
	if f == (pageFit{}) {
		return key
	}
	b, _ := json.Marshal(f)
	return key + " " + string(b)
}

// fitOf reads an epic_page step's result.
func fitOf(result string) (pageFit, bool) {
	var f pageFit
	_, v, ok := strings.Cut(result, " ")
	if !ok {
		return f, result != ""
	}
	return f, json.Unmarshal([]byte(v), &f) == nil
}

// description renders the page with the rules' template, falling back to
// the built-in one if it fails (a value that is nil on this incident), as
// much of it as fit says, to fit's limit. It returns what the description
// leaves out, for the comments.
func (x *run) description(page render.Page, fit pageFit) (string, []render.RestSection) {
	if x.onConfluence() {
		return x.confluenceDescription(page), nil
	}
	logged := false
	draw := func(p render.Page) string {
		d, err := render.Description(x.rules.EpicDescriptionTemplate(), p)
		if err != nil {
			if !logged {
				x.log.Error("the rules' description template failed; using the built-in one", "err", err)
				logged = true
			}
			d, _ = render.Description(nil, p)
		}
		return d
	}
	builtin := func(p render.Page) string {
		d, _ := render.Description(nil, p)
		return d
	}
	limit := fit.limit()
	if fit.Level == pageFitted {
		d, rest := render.Fit(page, limit, draw)
		if render.Units(d) <= limit {
			return d, rest
		}
		// The rules' template alone is too long.
		if d, rest = render.Fit(page, limit, builtin); render.Units(d) <= limit {
			return d, rest
		}
	}
	minimal, rest := render.Minimal(page, draw)
	if render.Units(minimal) > limit {
		minimal, rest = render.Minimal(page, builtin)
	}
	all := append([]render.RestSection{render.PageSection(minimal)}, rest...)
	switch {
	case fit.Level <= pageMinimal && render.Units(minimal) <= limit:
		return minimal, rest
	case fit.Level <= pagePlaceholder:
		return render.Placeholder(page), all
	}
	return "", all
}

// restComments is the most comments that hold what the page left out: 20
// comments of some 31,000 characters, for an incident whose page is ten
// times Jira's limit. What is past them is in PagerDuty.
const restComments = 20

// pageRest writes what the page left out as comments on the epic, each
// once (a checkpointed write with its marker) and each within fit's limit:
// the rows cut from its sections, and the page itself when the description
// could not hold it.
func (x *run) pageRest(ctx context.Context, key string, rest []render.RestSection, fit pageFit) error {
	// Room for the comment's first line and its marker.
	parts := render.Comments(rest, fit.limit()-500, restComments)
	for i, body := range parts {
		n := i + 1
		marker := commentMarker(fmt.Sprintf("page-%d", n), x.id)
		text := render.PageRestComment(n, len(parts), body, marker)
		_, err := x.write(ctx, write{
			incident: x.id, name: fmt.Sprintf("%s_%d", StepEpicPageRest, n),
			intent: fmt.Sprintf("comment on %s part %d of %d of what its page leaves out", key, n, len(parts)),
			lookup: x.findComment(key, marker),
			do:     func(ctx context.Context) (string, error) { return key, x.r.Jira.AddComment(ctx, key, text) },
		})
		if err != nil && !refused(err) {
			return err
		}
	}
	return nil
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
		p.MeetingDue = render.Day(pm.MeetingDue, loc)
		p.ReviewDue = render.Day(pm.ReviewDue, loc)
	}
	p.Incidents, p.Services = x.pageIncidents(pm)
	p.GroupSize = len(p.Incidents)
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
	p.Earlier = x.pageEarlier(pm.Earlier)
	return p
}

// pageEarlier is the page's "Earlier incidents on these services": the
// earlier post-mortems the incident recurs, as render.CapEarlier bounds
// them.
func (x *run) pageEarlier(earlier []EarlierPostmortem) []render.Earlier {
	if len(earlier) == 0 {
		return nil
	}
	out := make([]render.Earlier, 0, len(earlier))
	for _, e := range earlier {
		re := render.Earlier{Key: e.Key, URL: e.EpicURL, Status: e.Status, Number: e.Number, Title: e.Title, IncidentURL: e.URL,
			Resolved: x.at(e.ResolvedAt)}
		if re.URL == "" && x.r.Jira != nil {
			re.URL = x.r.Jira.BrowseURL(e.Key)
		}
		for _, f := range e.Open {
			a := render.Action{Key: f.Key, Summary: f.Summary}
			if x.r.Jira != nil {
				a.URL = x.r.Jira.BrowseURL(f.Key)
			}
			re.Open = append(re.Open, a)
		}
		out = append(out, re)
	}
	return render.CapEarlier(out)
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
