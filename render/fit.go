package render

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Jira refuses a description or a comment longer than TextLimit characters,
// and it counts characters as Java does: UTF-16 code units (Units). A page
// that does not fit would make no post-mortem at all, so every page is
// fitted: each section that grows with the incident gets a share of the
// room, what a section leaves out is said on the page where it would have
// been, and the rows left out are handed back to be written as comments.

// TextLimit is Jira's limit on a text field (an issue's description) and
// on a comment's body, in UTF-16 units.
const TextLimit = 32767

// PageLimit is the longest page or comment aftermath writes: under
// TextLimit, with room for what Jira's handling of the markup may add.
const PageLimit = 32000

// Units counts s as Jira counts characters: UTF-16 code units, so that an
// emoji counts two and no text from the astral planes can overflow a limit.
func Units(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++ // a surrogate pair
		}
	}
	return n
}

// Clip cuts s to at most max UTF-16 units, ending it with an ellipsis when
// it was cut; line breaks are kept.
func Clip(s string, max int) string {
	if Units(s) <= max {
		return s
	}
	n := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > max-1 { // room for the ellipsis
			return s[:i] + "…"
		}
		n += w
	}
	return s
}

// Cut says, per section of the page, what the page leaves out to fit in
// Jira: a sentence for the page, "" when nothing was cut. The built-in
// template shows each where its section is; a page whose template shows
// none of them gets them in a section of their own at its end.
type Cut struct {
	Services   string
	Incidents  string // the related incidents
	Response   string // rows of the response table
	Links      string
	Resolution string
	Responders string
	Timeline   string
	Actions    string
	Overflow   string
	Invitees   string
}

// list is the sentences in page order.
func (c Cut) list() []string {
	return []string{c.Services, c.Incidents, c.Response, c.Links, c.Resolution, c.Responders, c.Timeline, c.Actions, c.Overflow, c.Invitees}
}

// RestSection is what a fitted page left out of one section, in wiki markup
// for comments on the epic: a title, the table's header row ("" for a list)
// and the rows.
type RestSection struct {
	Title  string
	Header string
	Rows   []string
}

// Per-row caps, in UTF-16 units: one note line or name cannot take a
// section's whole share. Each is far above what people write in one line;
// the row links to the whole text in PagerDuty.
const (
	capLine  = 500  // a timeline event, a note's line, an item
	capName  = 200  // a person, a service
	capTitle = 1024 // an incident's title: PagerDuty's own limit
	capLong  = 1000 // a responder's actions, the owner note, the call
)

// moreWhere is where what a section left out is found.
const moreWhere = "see the comments on this epic, and the incidents in PagerDuty"

// section is one part of the page that grows with the incident.
type section struct {
	noun string // a row, in the plural: "links"
	rows func(p *Page) int
	keep func(p *Page, k int) // keeps the first k rows
	cut  func(c *Cut) *string
	rest func(p *Page, from int) RestSection // the rows from from on
}

func (s section) sentence(left int) string {
	return fmt.Sprintf("%d more %s: %s", left, s.noun, moreWhere)
}

// resolutionCut is the resolution section's sentence.
const resolutionCut = "The note is cut here: the whole of it is in the comments on this epic, and in PagerDuty"

var sections = []section{
	{
		noun: "services",
		rows: func(p *Page) int { return len(p.Services) },
		keep: func(p *Page, k int) { p.Services = p.Services[:k] },
		cut:  func(c *Cut) *string { return &c.Services },
		rest: func(p *Page, from int) RestSection {
			return RestSection{Title: "Services", Rows: bullets(p.Services[from:])}
		},
	},
	{
		noun: "related incidents",
		rows: func(p *Page) int { return max(len(p.Incidents)-1, 0) },
		keep: func(p *Page, k int) { p.Incidents = p.Incidents[:min(len(p.Incidents), k+1)] },
		cut:  func(c *Cut) *string { return &c.Incidents },
		rest: func(p *Page, from int) RestSection {
			r := RestSection{Title: "Related incidents", Header: "||Incident||Service||Severity||Status||"}
			for _, in := range p.Incidents[min(len(p.Incidents), from+1):] {
				r.Rows = append(r.Rows, "|"+Link(fmt.Sprintf("#%d %s", in.Number, in.Title), in.URL)+"|"+orBlank(Cell(in.Service))+"|"+orBlank(Cell(in.Severity))+"|"+orBlank(Cell(in.Status))+"|")
			}
			return r
		},
	},
	{
		noun: "rows of the response table",
		rows: func(p *Page) int { return len(p.Response) },
		keep: func(p *Page, k int) { p.Response = p.Response[:k] },
		cut:  func(c *Cut) *string { return &c.Response },
		rest: func(p *Page, from int) RestSection {
			r := RestSection{Title: "Response", Header: "||Incident||Paged first||Acknowledged after||Resolved after||Escalations||Reassignments||"}
			for _, x := range p.Response[from:] {
				r.Rows = append(r.Rows, responseRow(x))
			}
			return r
		},
	},
	{
		noun: "links",
		rows: func(p *Page) int { return len(p.Links) },
		keep: func(p *Page, k int) { p.Links = p.Links[:k] },
		cut:  func(c *Cut) *string { return &c.Links },
		rest: func(p *Page, from int) RestSection {
			r := RestSection{Title: "Links found in the incidents' notes", Header: "||Link||Kind||Note||"}
			for _, l := range p.Links[from:] {
				r.Rows = append(r.Rows, "|"+Link("", l.URL)+"|"+l.Kind+"|"+Cell(l.Line)+" — "+Cell(l.Author)+", "+l.Incident+", "+l.At+"|")
			}
			return r
		},
	},
	{
		// The resolution note is cut by the character.
		rows: func(p *Page) int {
			if p.Resolution == nil {
				return 0
			}
			return len([]rune(p.Resolution.Text))
		},
		keep: func(p *Page, k int) {
			n := *p.Resolution
			n.Text = string([]rune(n.Text)[:k]) + "…"
			p.Resolution = &n
		},
		cut: func(c *Cut) *string { return &c.Resolution },
		rest: func(p *Page, _ int) RestSection {
			n := p.Resolution
			r := RestSection{Title: "Resolution note, whole"}
			for line := range strings.SplitSeq(Text(n.Text), "\n") {
				r.Rows = append(r.Rows, "bq. "+line)
			}
			r.Rows = append(r.Rows, "— "+Cell(n.Author)+", "+n.At+" ("+Link("resolution note", n.Link)+")")
			return r
		},
	},
	{
		noun: "responders",
		rows: func(p *Page) int { return len(p.Responders) },
		keep: func(p *Page, k int) { p.Responders = p.Responders[:k] },
		cut:  func(c *Cut) *string { return &c.Responders },
		rest: func(p *Page, from int) RestSection {
			r := RestSection{Title: "Responders", Header: "||Name||Role||What they did||"}
			for _, x := range p.Responders[from:] {
				r.Rows = append(r.Rows, "|"+Cell(x.Name)+"|"+orBlank(x.Role)+"|"+Cell(x.Actions)+"|")
			}
			return r
		},
	},
	{
		noun: "events",
		rows: func(p *Page) int { return len(p.Timeline) },
		keep: func(p *Page, k int) { p.Timeline = p.Timeline[:k] },
		cut:  func(c *Cut) *string { return &c.Timeline },
		rest: func(p *Page, from int) RestSection {
			r := RestSection{Title: "Timeline (all times " + p.Zone + ")", Header: "||Time||Incident||Who||Event||Source||"}
			for _, e := range p.Timeline[from:] {
				r.Rows = append(r.Rows, "|"+e.At+"|"+e.Incident+"|"+orBlank(Cell(e.Actor))+"|*"+e.Kind+"*: "+Cell(e.Summary)+"|"+Link("log entry", e.Link)+"|")
			}
			return r
		},
	},
	{
		noun: "follow-up tickets",
		rows: func(p *Page) int { return len(p.Actions) },
		keep: func(p *Page, k int) { p.Actions = p.Actions[:k] },
		cut:  func(c *Cut) *string { return &c.Actions },
		rest: func(p *Page, from int) RestSection {
			r := RestSection{Title: "Action Items", Header: "||Ticket||Summary||"}
			for _, a := range p.Actions[from:] {
				ticket := "_being created_"
				if a.Key != "" {
					ticket = Link(a.Key, a.URL)
				}
				r.Rows = append(r.Rows, "|"+ticket+"|"+Cell(a.Summary)+"|")
			}
			return r
		},
	},
	{
		noun: "items found in the notes",
		rows: func(p *Page) int { return len(p.Overflow) },
		keep: func(p *Page, k int) { p.Overflow = p.Overflow[:k] },
		cut:  func(c *Cut) *string { return &c.Overflow },
		rest: func(p *Page, from int) RestSection {
			return RestSection{Title: "Also found in the notes, not ticketed", Rows: bullets(p.Overflow[from:])}
		},
	},
	{
		noun: "people to invite",
		rows: func(p *Page) int { return len(p.Invitees) },
		keep: func(p *Page, k int) { p.Invitees = p.Invitees[:k] },
		cut:  func(c *Cut) *string { return &c.Invitees },
		rest: func(p *Page, from int) RestSection {
			return RestSection{Title: "Post-mortem meeting: who to invite", Rows: bullets(p.Invitees[from:])}
		},
	},
}

func bullets(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = "* " + Cell(s)
	}
	return out
}

// orBlank keeps an empty table cell a cell: Jira merges "||".
func orBlank(s string) string {
	if s == "" {
		return " "
	}
	return s
}

func responseRow(r Response) string {
	paged := "_not in the log_"
	if r.PagedFirst != "" {
		paged = Cell(r.PagedFirst)
	}
	ack := "*never acknowledged*"
	if r.Acknowledged != "" {
		ack = r.Acknowledged
	}
	res := "_not resolved_"
	if r.Resolved != "" {
		res = r.Resolved
	}
	return "|" + Link(r.Incident, r.URL) + "|" + paged + "|" + ack + "|" + res + "|" + strconv.Itoa(r.Escalations) + "|" + strconv.Itoa(r.Reassignments) + "|"
}

// capped is p with every free text of a row cut to its cap.
func capped(p Page) Page {
	p.Title = Clip(p.Title, capTitle)
	p.OwnerNote = Clip(p.OwnerNote, capLong)
	p.Services = mapped(p.Services, func(s string) string { return Clip(s, capName) })
	p.Incidents = mapped(p.Incidents, func(in Incident) Incident {
		in.Title, in.Service = Clip(in.Title, capTitle), Clip(in.Service, capName)
		return in
	})
	if p.Conference != nil {
		c := *p.Conference
		c.URL, c.Number = Clip(c.URL, capLong), Clip(c.Number, capName)
		p.Conference = &c
	}
	p.Response = mapped(p.Response, func(r Response) Response { r.PagedFirst = Clip(r.PagedFirst, capLine); return r })
	if p.Overall != nil {
		o := *p.Overall
		o.PagedFirst = Clip(o.PagedFirst, capLine)
		p.Overall = &o
	}
	p.Links = mapped(p.Links, func(l NoteLink) NoteLink {
		l.Line, l.Author = Clip(l.Line, capLine), Clip(l.Author, capName)
		return l
	})
	if p.Resolution != nil {
		n := *p.Resolution
		n.Author = Clip(n.Author, capName)
		p.Resolution = &n
	}
	p.Responders = mapped(p.Responders, func(r Responder) Responder {
		r.Name, r.Actions = Clip(r.Name, capName), Clip(r.Actions, capLong)
		return r
	})
	p.Timeline = mapped(p.Timeline, func(e Event) Event {
		e.Actor, e.Summary = Clip(e.Actor, capName), Clip(e.Summary, capLine)
		return e
	})
	p.Actions = mapped(p.Actions, func(a Action) Action { a.Summary = Clip(a.Summary, capLine); return a })
	p.Overflow = mapped(p.Overflow, func(s string) string { return Clip(s, capLine) })
	p.Invitees = mapped(p.Invitees, func(s string) string { return Clip(s, capLine) })
	return p
}

func mapped[T any](in []T, f func(T) T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// noticeHeading is the heading of the section that lists the cuts a
// template does not show.
const noticeHeading = "h2. Cut to fit in Jira"

// withNotice renders p and adds, at its end, every sentence of p.Cut the
// template did not show: a page never leaves something out silently.
func withNotice(p Page, draw func(Page) string) string {
	out := draw(p)
	var missing []string
	for _, s := range p.Cut.list() {
		if s != "" && !strings.Contains(out, s) {
			missing = append(missing, "* "+s)
		}
	}
	if len(missing) == 0 {
		return out
	}
	return strings.TrimRight(out, "\n") + "\n\n" + noticeHeading + "\n" + strings.Join(missing, "\n") + "\n"
}

// fitter fits one page.
type fitter struct {
	p    Page // capped
	draw func(Page) string
	n    []int // each section's rows
	// top bounds, per section, the rows a page of the limit could show
	// (see bound): the search renders no more than these, so a section of
	// thousands of rows (a pasted log) costs what a page costs.
	top []int
}

// bound is how many of section i's rows a page of limit units could hold
// at the most: each row costs the page at least half what it costs in the
// comments' form (the same cells, fewer columns at most), and the
// resolution note at least a unit a character.
func (f *fitter) bound(i, limit int) int {
	s := sections[i]
	if s.noun == "" {
		return min(f.n[i], limit)
	}
	if f.n[i] == 0 {
		return 0
	}
	used := 0
	for k, row := range s.rest(&f.p, 0).Rows {
		used += (Units(row) + 1) / 2
		if used > limit {
			return k
		}
	}
	return f.n[i]
}

// at is the page with section i keeping ks[i] rows and saying so.
func (f *fitter) at(ks []int) Page {
	q := f.p
	q.Cut = Cut{}
	for i, s := range sections {
		if ks[i] >= f.n[i] {
			continue
		}
		s.keep(&q, ks[i])
		if s.noun == "" {
			*s.cut(&q.Cut) = resolutionCut
		} else {
			*s.cut(&q.Cut) = s.sentence(f.n[i] - ks[i])
		}
	}
	return q
}

func (f *fitter) render(ks []int) string { return withNotice(f.at(ks), f.draw) }

func (f *fitter) size(ks []int) int { return Units(f.render(ks)) }

// rest is what the page with ks rows leaves out.
func (f *fitter) rest(ks []int) []RestSection {
	var out []RestSection
	for i, s := range sections {
		if ks[i] < f.n[i] {
			out = append(out, s.rest(&f.p, ks[i]))
		}
	}
	return out
}

// Fit renders p with draw (a template's execution) so that the page is at
// most limit UTF-16 units long, and returns it with what it left out. A
// page that fits is returned as draw renders it. Otherwise every section
// that grows with the incident (services, related incidents, the response
// table, links, the resolution note, responders, timeline, action items,
// the items not ticketed, invitees) gets a share of the room the rest of
// the page leaves: a section smaller than its share keeps all its rows, and
// what it does not use goes to the larger ones. A section cut keeps its
// first rows and says how many more there are and where. Free text in a
// row is cut to a cap first, so that no one row takes a section's share.
// When even the page without those sections is too long (a rules template
// that is itself too long), that page is returned, longer than limit: the
// caller falls back to a shorter one.
func Fit(p Page, limit int, draw func(Page) string) (string, []RestSection) {
	f := &fitter{p: capped(p), draw: draw}
	f.n = make([]int, len(sections))
	f.top = make([]int, len(sections))
	whole := true
	for i, s := range sections {
		f.n[i] = s.rows(&f.p)
		f.top[i] = f.bound(i, limit)
		whole = whole && f.top[i] == f.n[i]
	}
	if whole {
		if page := f.render(f.n); Units(page) <= limit {
			return page, nil
		}
	}
	zero := make([]int, len(sections))
	base := f.size(zero)
	if base > limit {
		return f.render(zero), f.rest(zero)
	}
	// What each section costs in full, alone on the page.
	cost := make([]int, len(sections))
	for i := range sections {
		ks := slices.Clone(zero)
		ks[i] = f.top[i]
		cost[i] = max(f.size(ks)-base, 0)
	}
	// Sections are not quite additive (a table's header goes with its
	// first row): if the page is still too long, every share shrinks.
	for room := limit - base; room > 0; room = room * 4 / 5 {
		share := waterfill(cost, room)
		ks := make([]int, len(sections))
		for i := range sections {
			ks[i] = f.largest(zero, i, share[i], base)
		}
		if page := f.render(ks); Units(page) <= limit {
			return page, f.rest(ks)
		}
	}
	return f.render(zero), f.rest(zero)
}

// largest is how many rows of section i fit in budget units, by bisection:
// more rows never make the page shorter.
func (f *fitter) largest(zero []int, i, budget, base int) int {
	ks := slices.Clone(zero)
	fits := func(k int) bool {
		ks[i] = k
		return f.size(ks)-base <= budget
	}
	if fits(f.top[i]) {
		return f.top[i]
	}
	lo, hi := 0, f.top[i] // fits(lo), !fits(hi)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// waterfill shares room among sections by their cost: the cheapest are
// given what they need while that is under an equal share of what is left;
// the others split the rest equally.
func waterfill(cost []int, room int) []int {
	order := make([]int, len(cost))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cost[a] - cost[b] })
	share := make([]int, len(cost))
	left := room
	for j, i := range order {
		fair := left / (len(order) - j)
		share[i] = min(cost[i], fair)
		left -= share[i]
	}
	return share
}

// Minimal renders the page with none of the sections that grow with the
// incident: what is written when Jira refuses a fitted page for its size
// (a Jira whose administrators lowered the limit, or that counts otherwise).
// All of those sections are in the rest.
func Minimal(p Page, draw func(Page) string) (string, []RestSection) {
	f := &fitter{p: capped(p), draw: draw}
	f.n = make([]int, len(sections))
	for i, s := range sections {
		f.n[i] = s.rows(&f.p)
	}
	zero := make([]int, len(sections))
	return f.render(zero), f.rest(zero)
}

// Placeholder is the description of an epic whose Jira refuses even the
// minimal page for its size: the page itself goes into the comments.
func Placeholder(p Page) string {
	return fmt.Sprintf("The post-mortem page of %s did not fit in this Jira's description field: it is in the comments on this epic.\n",
		Link(fmt.Sprintf("#%d %s", p.Number, Clip(p.Title, capTitle)), p.URL))
}

// PageSection is the rest section that holds a whole page, for an epic
// whose description could not hold it.
func PageSection(page string) RestSection {
	return RestSection{Title: "The post-mortem page", Rows: strings.Split(strings.TrimRight(page, "\n"), "\n")}
}

// Comments lays the rest out as comment bodies of at most budget UTF-16
// units each and at most max comments: each section under its heading
// (repeated, "continued", in the next comment it runs into) with its
// table's header, rows never split unless one alone is longer than a
// comment. What does not fit in max comments is counted in a last line
// that points at PagerDuty.
func Comments(rest []RestSection, budget, max int) []string {
	const reserve = 200 // for the line saying what was left out
	budget -= reserve
	var out []string
	var b strings.Builder
	used := 0
	flush := func() {
		if used > 0 {
			out = append(out, b.String())
		}
		b.Reset()
		used = 0
	}
	add := func(s string) {
		b.WriteString(s)
		b.WriteByte('\n')
		used += Units(s) + 1
	}
	// need is what a piece takes in the comment being written, with the
	// section's heading and header when it starts there.
	need := func(piece string, started bool, s RestSection, head string) int {
		n := Units(piece) + 1
		if !started {
			n += Units(head) + 1
			if s.Header != "" {
				n += Units(s.Header) + 1
			}
			if used > 0 {
				n++ // the blank line before the heading
			}
		}
		return n
	}
	left := 0 // rows not written
	for _, s := range rest {
		head := "h3. " + s.Title
		cont := head + " (continued)"
		started := false // in the comment being written
		for _, row := range s.Rows {
			dropped := false
			for _, piece := range split(row, budget-Units(cont)-Units(s.Header)-3) {
				if len(out) < max && used > 0 && used+need(piece, started, s, head) > budget {
					flush()
					started = false
				}
				if len(out) >= max {
					dropped = true
					continue
				}
				if !started {
					if used > 0 {
						add("")
					}
					add(head)
					if s.Header != "" {
						add(s.Header)
					}
					started = true
					head = cont // every later heading of this section continues it
				}
				add(piece)
			}
			if dropped {
				left++
			}
		}
	}
	flush()
	if left > 0 && len(out) > 0 {
		out[len(out)-1] += fmt.Sprintf("_%d more rows are not in these comments: see the incidents in PagerDuty._\n", left)
	}
	return out
}

// split cuts a row longer than n units into pieces of at most n, never
// between an escaping backslash and what it escapes.
func split(row string, n int) []string {
	if Units(row) <= n || n <= 1 {
		return []string{row}
	}
	var out []string
	start, used := 0, 0
	prev := rune(0)
	for i, r := range row {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if used+w > n && prev != '\\' {
			out = append(out, row[start:i])
			start, used = i, 0
		}
		used += w
		prev = r
	}
	return append(out, row[start:])
}
