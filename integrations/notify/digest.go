package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// Digest is what the managers' digest says of one period (workflow
// gathers it from the store; every count and list is as of the period's
// end).
type Digest struct {
	// Team is the team's name (its PagerDuty ID when no post-mortem names
	// it) for a team's digest; "" for the digest of every team.
	Team       string    `json:"team,omitempty"`
	Start, End time.Time // the period, [Start, End)
	// TZ is the rules' time zone, in which times are written.
	TZ string `json:"tz"`
	// OverviewURL is the overview page (/postmortems) on aftermath's
	// public address; "" when that address is not configured.
	OverviewURL string `json:"overview_url,omitempty"`

	Opened   []DigestPostmortem // made in the period, oldest first
	Reviewed []DigestPostmortem // first Reviewed (or Closed) in the period, oldest first
	Overdue  []DigestPostmortem // past their meeting and not Reviewed, oldest meeting first
	// FollowupsOverdue are the open follow-ups past their due date, oldest
	// due first.
	FollowupsOverdue []DigestFollowup
	Recurrences      []DigestRecurrence // resolved in the period, oldest first
	// Completion counts the follow-ups of the post-mortems first Reviewed
	// in the 90 days before the period's end.
	Completion DigestCompletion
	// ToReviewed is the median time from an incident's resolution to its
	// post-mortem's first Reviewed, over those same post-mortems.
	ToReviewed DigestMedian
}

// DigestPostmortem is one post-mortem in the digest.
type DigestPostmortem struct {
	Key      string    `json:"key"`
	URL      string    `json:"url"` // the epic
	Number   int       `json:"number"`
	Title    string    `json:"title"`
	Severity string    `json:"severity"`
	Owner    string    `json:"owner,omitempty"` // name or email; "" nobody
	Status   string    `json:"status"`          // as of the period's end
	At       time.Time `json:"at"`              // opened, reviewed, or the meeting due (overdue)
	DaysLate int       `json:"days_late,omitempty"`
}

// DigestFollowup is one overdue follow-up.
type DigestFollowup struct {
	Key      string    `json:"key"`
	URL      string    `json:"url"`
	Summary  string    `json:"summary"`
	Assignee string    `json:"assignee,omitempty"` // name or email; "" nobody
	Due      time.Time `json:"due"`                // the date (midnight UTC)
	DaysLate int       `json:"days_late"`
	// Postmortem is its post-mortem's epic.
	Postmortem    string `json:"postmortem"`
	PostmortemURL string `json:"postmortem_url"`
}

// DigestRecurrence is an incident that resolved while an earlier
// post-mortem on its services had open follow-ups.
type DigestRecurrence struct {
	Number     int       `json:"number"`
	Title      string    `json:"title"`
	URL        string    `json:"url"`
	Severity   string    `json:"severity,omitempty"`
	Service    string    `json:"service"`
	ResolvedAt time.Time `json:"resolved_at"`
	Earlier    string    `json:"earlier"` // the earlier post-mortem's epic
	EarlierURL string    `json:"earlier_url"`
	Open       []string  `json:"open"` // its follow-ups open then
}

// DigestCompletion counts follow-ups: Done of Total, over Postmortems.
type DigestCompletion struct {
	Postmortems, Done, Total int
}

// DigestMedian is a median in days over N post-mortems.
type DigestMedian struct {
	Days float64
	N    int
}

// How many rows of a list the email holds; the rest are counted and the
// overview lists them.
const digestMailRows = 100

// Slack: each list is one section of at most digestSlackList characters
// (under Slack's 3,000 a section), five lists and the summary well under
// the ~13,000 Slack accepts in all (see the limits in messages.go).
const (
	digestSlackList = 1900
	digestSlackRow  = 300
)

// DigestMessage renders the digest: the email's subject, plain text and
// HTML, and the Slack message. A period with nothing in it still says so.
func DigestMessage(d Digest) Message {
	v := d.view()
	var t, h bytes.Buffer
	_ = digestText.Execute(&t, v)
	_ = digestHTML.Execute(&h, v)
	return Message{Subject: v.Subject, Text: t.String(), HTML: h.String(), Slack: v.slack()}
}

// digestView is what every form is rendered from: plain strings, escaped
// by each form for where it goes.
type digestView struct {
	Subject, Headline string
	Summary           []string // lines
	Lists             []digestList
	Nothing           bool
	OverviewURL       string
}

type digestList struct {
	Title string
	Rows  []digestRow
	More  int // rows left out of the email
	Empty string
}

type digestRow struct {
	Text, URL, Link string // Link: the linked part, at the row's start
	Rest            string // after the link
}

func (d Digest) loc() *time.Location {
	if l, err := time.LoadLocation(d.TZ); err == nil && d.TZ != "" {
		return l
	}
	return time.UTC
}

func (d Digest) day(t time.Time) string { return t.In(d.loc()).Format("Mon 2 Jan 2006") }
func (d Digest) at(t time.Time) string  { return t.In(d.loc()).Format(timeLayout) }

func (d Digest) view() digestView {
	who := "every team"
	if d.Team != "" {
		who = "team " + d.Team
	}
	v := digestView{
		Subject:  headerText(fmt.Sprintf("Post-mortem digest (%s): %s to %s", who, d.day(d.Start), d.day(d.End)), 200),
		Headline: fmt.Sprintf("Post-mortems of %s from %s to %s.", who, d.at(d.Start), d.at(d.End)),
	}
	if slackURL(d.OverviewURL) {
		v.OverviewURL = d.OverviewURL
	}
	v.Summary = []string{
		fmt.Sprintf("Opened %d, reviewed %d, overdue %d; follow-ups overdue %d; recurrences %d.",
			len(d.Opened), len(d.Reviewed), len(d.Overdue), len(d.FollowupsOverdue), len(d.Recurrences)),
		d.Completion.String(),
		d.ToReviewed.String(),
	}
	v.Nothing = len(d.Opened)+len(d.Reviewed)+len(d.Overdue)+len(d.FollowupsOverdue)+len(d.Recurrences) == 0
	v.Lists = []digestList{
		d.list("Overdue post-mortems (oldest first)", "None.", d.Overdue, func(p DigestPostmortem) digestRow {
			return digestRow{URL: p.URL, Link: p.Key, Rest: fmt.Sprintf(" %s (#%d, %s): %s, meeting due %s, %s late; owner %s",
				p.Title, p.Number, p.Severity, p.Status, d.day(p.At), days(p.DaysLate), orNobody(p.Owner))}
		}),
		d.listF("Overdue follow-ups (oldest first)", "None.", d.FollowupsOverdue),
		d.list("Opened in the period", "None.", d.Opened, func(p DigestPostmortem) digestRow {
			return digestRow{URL: p.URL, Link: p.Key, Rest: fmt.Sprintf(" %s (#%d, %s): opened %s, now %s; owner %s",
				p.Title, p.Number, p.Severity, d.day(p.At), p.Status, orNobody(p.Owner))}
		}),
		d.list("Reviewed in the period", "None.", d.Reviewed, func(p DigestPostmortem) digestRow {
			return digestRow{URL: p.URL, Link: p.Key, Rest: fmt.Sprintf(" %s (#%d, %s): reviewed %s; owner %s",
				p.Title, p.Number, p.Severity, d.day(p.At), orNobody(p.Owner))}
		}),
		d.listR("Recurrences in the period", "None.", d.Recurrences),
	}
	if v.Nothing {
		v.Lists = nil // one line says it
	}
	return v
}

func (d Digest) list(title, empty string, ps []DigestPostmortem, row func(DigestPostmortem) digestRow) digestList {
	l := digestList{Title: title, Empty: empty}
	for _, p := range ps {
		l.Rows = append(l.Rows, row(p))
	}
	return l.finish()
}

func (d Digest) listF(title, empty string, fs []DigestFollowup) digestList {
	l := digestList{Title: title, Empty: empty}
	for _, f := range fs {
		l.Rows = append(l.Rows, digestRow{URL: f.URL, Link: f.Key, Rest: fmt.Sprintf(" %s: due %s, %s late; assignee %s; post-mortem %s",
			f.Summary, f.Due.UTC().Format("Mon 2 Jan 2006"), days(f.DaysLate), orNobody(f.Assignee), f.Postmortem)})
	}
	return l.finish()
}

func (d Digest) listR(title, empty string, rs []DigestRecurrence) digestList {
	l := digestList{Title: title, Empty: empty}
	for _, r := range rs {
		sev := ""
		if r.Severity != "" {
			sev = ", " + r.Severity
		}
		open := "its follow-ups"
		if len(r.Open) > 0 {
			open = strings.Join(r.Open, ", ")
		}
		l.Rows = append(l.Rows, digestRow{URL: r.URL, Link: fmt.Sprintf("#%d", r.Number), Rest: fmt.Sprintf(" %s (%s%s) resolved %s while %s of post-mortem %s %s open",
			r.Title, r.Service, sev, d.at(r.ResolvedAt), open, r.Earlier, isAre(len(r.Open)))})
	}
	return l.finish()
}

// finish fills each row's whole text and keeps the email's rows.
func (l digestList) finish() digestList {
	for i := range l.Rows {
		l.Rows[i].Text = l.Rows[i].Link + l.Rows[i].Rest
	}
	if len(l.Rows) > digestMailRows {
		l.More = len(l.Rows) - digestMailRows
	}
	return l
}

// MailRows are the rows the email shows.
func (l digestList) MailRows() []digestRow { return l.Rows[:len(l.Rows)-l.More] }

func (c DigestCompletion) String() string {
	if c.Postmortems == 0 {
		return "Follow-up completion: no post-mortem was Reviewed in the last 90 days."
	}
	if c.Total == 0 {
		return fmt.Sprintf("Follow-up completion: the %s Reviewed in the last 90 days %s no follow-ups.", plural(c.Postmortems, "post-mortem"), hasHave(c.Postmortems))
	}
	return fmt.Sprintf("Follow-up completion: %d of %d done (%d%%), of the %s Reviewed in the last 90 days.",
		c.Done, c.Total, c.Done*100/c.Total, plural(c.Postmortems, "post-mortem"))
}

func (m DigestMedian) String() string {
	if m.N == 0 {
		return "Median time to Reviewed: none Reviewed in the last 90 days."
	}
	return fmt.Sprintf("Median time from resolution to Reviewed: %.1f days (%s Reviewed in the last 90 days).", m.Days, plural(m.N, "post-mortem"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func hasHave(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}

func isAre(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

func orNobody(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

// slackURL says whether u can be a Slack link: http(s), and nothing that
// would end the link's markup early.
func slackURL(u string) bool {
	return (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) &&
		!strings.ContainsFunc(u, func(r rune) bool {
			return r == '<' || r == '>' || r == '|' || unicode.IsSpace(r) || unicode.IsControl(r)
		})
}

// headerText makes s safe for a mail header: no control characters (a
// line break would start another header), spaces collapsed, cut to limit
// characters.
func headerText(s string, limit int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit-1]) + "…"
	}
	return s
}

const digestNothing = "Nothing opened, nothing reviewed, nothing overdue and no recurrences in this period."

var digestText = template.Must(template.New("digest-text").Parse(`{{.Headline}}
{{range .Summary}}
{{.}}{{end}}
{{if .Nothing}}
` + digestNothing + `
{{end}}{{range .Lists}}
{{.Title}}
{{range .MailRows}}- {{.Text}}{{if .URL}} ({{.URL}}){{end}}
{{else}}{{.Empty}}
{{end}}{{if .More}}…and {{.More}} more: the overview lists them all.
{{end}}{{end}}
{{if .OverviewURL}}The overview: {{.OverviewURL}}{{else}}The overview: /postmortems on aftermath's address.{{end}}
-- aftermath
`))

var digestHTML = htmltemplate.Must(htmltemplate.New("digest-html").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<p><strong>{{.Headline}}</strong></p>
{{range .Summary}}<p>{{.}}</p>
{{end}}{{if .Nothing}}<p>` + digestNothing + `</p>
{{end}}{{range .Lists}}<h3>{{.Title}}</h3>
{{if .Rows}}<ul>
{{range .MailRows}}<li>{{if .URL}}<a href="{{.URL}}">{{.Link}}</a>{{else}}{{.Link}}{{end}}{{.Rest}}</li>
{{end}}</ul>
{{if .More}}<p>…and {{.More}} more: the overview lists them all.</p>
{{end}}{{else}}<p>{{.Empty}}</p>
{{end}}{{end}}{{if .OverviewURL}}<p><a href="{{.OverviewURL}}">Open the overview</a></p>
{{else}}<p>The overview: /postmortems on aftermath's address.</p>
{{end}}</body></html>
`))

// slack lays the digest out for a channel: the headline, the summary, and
// each list in one section cut to its share, the rows that do not fit
// counted and left to the overview.
func (v digestView) slack() SlackMessage {
	headline := fit(v.Headline, slackHeadline)
	m := SlackMessage{Text: headline}
	m.Blocks = append(m.Blocks, Block{Type: "section", Text: &TextObject{Type: "mrkdwn", Text: "*" + headline + "*"}})
	var sum []string
	for _, s := range v.Summary {
		sum = append(sum, fit(s, 300))
	}
	if v.Nothing {
		sum = append(sum, esc(digestNothing))
	}
	m.Blocks = append(m.Blocks, Block{Type: "section", Text: &TextObject{Type: "mrkdwn", Text: strings.Join(sum, "\n")}})
	for _, l := range v.Lists {
		m.Blocks = append(m.Blocks, Block{Type: "section", Text: &TextObject{Type: "mrkdwn", Text: v.slackList(l)}})
	}
	foot := "Sent by aftermath"
	if v.OverviewURL != "" {
		foot = "<" + v.OverviewURL + "|Open the overview> · " + foot
	}
	m.Blocks = append(m.Blocks, Block{Type: "context", Elements: []TextObject{{Type: "mrkdwn", Text: foot}}})
	return m
}

// slackList is one list within digestSlackList characters: each row cut
// to digestSlackRow, then as many rows as fit with room for the line that
// counts the rest.
func (v digestView) slackList(l digestList) string {
	var b strings.Builder
	b.WriteString("*" + esc(l.Title) + "*")
	if len(l.Rows) == 0 {
		b.WriteString("\n" + esc(l.Empty))
		return b.String()
	}
	more := func(left int) string {
		if v.OverviewURL != "" {
			return fmt.Sprintf("\n…and %d more: <%s|the overview> lists them all.", left, v.OverviewURL)
		}
		return fmt.Sprintf("\n…and %d more: the overview lists them all.", left)
	}
	n := slackLen(b.String())
	for i, r := range l.Rows {
		link := esc(r.Link)
		if slackURL(r.URL) {
			link = "<" + r.URL + "|" + link + ">"
		}
		line := "\n• " + link + fit(r.Rest, digestSlackRow)
		need := slackLen(line)
		if i < len(l.Rows)-1 {
			need += slackLen(more(len(l.Rows))) // room for the line that counts the rest
		}
		if n+need > digestSlackList {
			b.WriteString(more(len(l.Rows) - i))
			break
		}
		b.WriteString(line)
		n += slackLen(line)
	}
	return b.String()
}
