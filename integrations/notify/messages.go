package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"text/template"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Message is one notification in every form: the email's subject, plain
// text and HTML, and the Slack message.
type Message struct {
	Subject string
	Text    string
	HTML    string
	Slack   SlackMessage
}

// Message kinds.
const (
	KindCreated   = "created"
	KindReview    = "review"
	KindOverdue   = "overdue"
	KindReviewed  = "reviewed"
	timeLayout    = "Mon 2 Jan 2006 15:04 MST"
	inviteeHeader = "Invited to the post-mortem meeting"
)

// view is what every form of a message is rendered from.
type view struct {
	Subject  string
	Headline string // one line: what happened, or what is due
	Fields   []field
	Invitees []Invitee
	Body     string // a paragraph after the fields ("" none)
	EpicURL  string
	Key      string
}

type field struct{ Label, Value, URL string }

// Created is the message of a new post-mortem: what happened in one line,
// severity, duration, owner, meeting due, links, and the invitees.
func Created(f Facts) Message {
	v := f.view("Post-mortem "+f.Key+": "+subjectTitle(f),
		fmt.Sprintf("%s: %s resolved after %s; post-mortem %s is open.", f.Severity, f.Title, f.duration(), f.Key))
	v.Invitees = f.Invitees
	return v.render()
}

// MeetingHold is the owner's mail that carries the meeting's calendar hold
// (Hold, attached by the caller): the creation message, introduced. It has
// no Slack form: the hold goes to the owner only, by email.
func MeetingHold(f Facts) Message {
	m := Created(f)
	m.Subject = "Meeting hold: " + m.Subject
	m.Text = "A hold for the post-mortem meeting is attached: forward it to the shared calendar, or move it.\n\n" + m.Text
	m.Slack = SlackMessage{}
	return m
}

// Review is the message when the draft is due for review.
func Review(f Facts) Message {
	v := f.view("Review due: post-mortem "+f.Key+" "+subjectTitle(f),
		fmt.Sprintf("The draft of post-mortem %s is due for review now: the meeting is due %s.", f.Key, f.at(f.MeetingDue)))
	return v.render()
}

// Overdue is the n-th message once the meeting is overdue; last says no
// more will come.
func Overdue(f Facts, status string, n int, last bool) Message {
	v := f.view(fmt.Sprintf("Overdue (%d): post-mortem %s %s", n, f.Key, subjectTitle(f)),
		fmt.Sprintf("The post-mortem meeting of %s was due %s and the post-mortem is still %s.", f.Key, f.at(f.MeetingDue), status))
	v.Body = "Hold the meeting and move the epic to Reviewed."
	if last {
		v.Body += " This is the last reminder."
	}
	return v.render()
}

// Reviewed is the message when the post-mortem is Reviewed, with its
// results (the page's external message, when it has one).
func Reviewed(f Facts, results string) Message {
	v := f.view("Reviewed: post-mortem "+f.Key+" "+subjectTitle(f),
		fmt.Sprintf("Post-mortem %s is Reviewed: the results are in %s.", f.Key, f.EpicURL))
	v.Body = strings.TrimSpace(results)
	return v.render()
}

func (f Facts) view(subject, headline string) view {
	owner := f.Owner
	if owner == "" {
		owner = "nobody yet"
	}
	return view{Subject: subject, Headline: headline, EpicURL: f.EpicURL, Key: f.Key, Fields: []field{
		{Label: "Severity", Value: f.Severity},
		{Label: "Incident", Value: fmt.Sprintf("#%d %s", f.Number, f.Title), URL: f.IncidentURL},
		{Label: "Duration", Value: f.duration()},
		{Label: "Owner", Value: owner},
		{Label: "Meeting due", Value: f.at(f.MeetingDue)},
		{Label: "Post-mortem", Value: f.Key, URL: f.EpicURL},
	}}
}

func (f Facts) loc() *time.Location {
	if l, err := time.LoadLocation(f.TZ); err == nil && f.TZ != "" {
		return l
	}
	return time.UTC
}

func (f Facts) at(t time.Time) string {
	if t.IsZero() {
		return "not set"
	}
	return t.In(f.loc()).Format(timeLayout)
}

func (f Facts) duration() string {
	if f.TriggeredAt.IsZero() || f.ResolvedAt.Before(f.TriggeredAt) {
		return "unknown"
	}
	d := f.ResolvedAt.Sub(f.TriggeredAt).Round(time.Minute)
	if d < time.Hour {
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh %02dmin", int(d.Hours()), int(d.Minutes())%60)
}

var textTmpl = template.Must(template.New("text").Parse(`{{.Headline}}
{{range .Fields}}
{{.Label}}: {{.Value}}{{if .URL}} ({{.URL}}){{end}}{{end}}
{{if .Invitees}}
` + inviteeHeader + `:
{{range .Invitees}}- {{.Label}} ({{.Why}})
{{end}}{{end}}{{if .Body}}
{{.Body}}
{{end}}
-- aftermath
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<p><strong>{{.Headline}}</strong></p>
<table>
{{range .Fields}}<tr><th align="left">{{.Label}}</th><td>{{if .URL}}<a href="{{.URL}}">{{.Value}}</a>{{else}}{{.Value}}{{end}}</td></tr>
{{end}}</table>
{{if .Invitees}}<p>` + inviteeHeader + `:</p>
<ul>
{{range .Invitees}}<li>{{.Label}} ({{.Why}})</li>
{{end}}</ul>
{{end}}{{if .Body}}<p>{{.Body}}</p>
{{end}}<p><a href="{{.EpicURL}}">Open post-mortem {{.Key}}</a></p>
</body></html>
`))

func (v view) render() Message {
	var t, h bytes.Buffer
	_ = textTmpl.Execute(&t, v)
	_ = htmlTmpl.Execute(&h, v)
	return Message{Subject: v.Subject, Text: t.String(), HTML: h.String(), Slack: v.slack()}
}

// What a Slack message may hold. Slack refuses a section's text over 3,000
// characters and a field's over 2,000 (and 50 blocks, and cuts the
// top-level text at 40,000: docs.slack.dev, Block Kit reference); a
// refusal is a 4xx, so the message would be lost. It has also been seen to
// refuse blocks that add up to about 13,000 characters (msg_blocks_too_long,
// not in its docs: slackapi/bolt-js#2509), so each part has a share well
// below that: about 11,000 in all.
const (
	slackSection      = 3000 // a section's text, Slack's limit
	slackHeadline     = 500  // the headline, in the text and the first section
	slackField        = 200  // a field's value (Slack allows 2,000 for label and value)
	slackInvitees     = 2500 // the invitees' section
	slackBodySections = 2    // sections of the body, each up to slackSection
)

// slack lays the message out for a channel: the headline, the fields in
// two columns, the invitees and the body, with Slack's escaping, each cut
// to its share of Slack's limits. A body too long for its sections is
// split at paragraph, line or word breaks, and where it has to stop it
// says so and links to the post-mortem, which holds the whole of it.
func (v view) slack() SlackMessage {
	headline := fit(v.Headline, slackHeadline)
	m := SlackMessage{Text: headline}
	m.Blocks = append(m.Blocks, Block{Type: "section", Text: &TextObject{Type: "mrkdwn", Text: "*" + headline + "*"}})
	var fields []TextObject
	for _, f := range v.Fields {
		val := fit(f.Value, slackField)
		if f.URL != "" {
			val = "<" + f.URL + "|" + val + ">"
		}
		fields = append(fields, TextObject{Type: "mrkdwn", Text: "*" + f.Label + "*\n" + val})
	}
	m.Blocks = append(m.Blocks, Block{Type: "section", Fields: fields})
	if len(v.Invitees) > 0 {
		m.Blocks = append(m.Blocks, Block{Type: "section", Text: &TextObject{Type: "mrkdwn", Text: slackInviteeList(v.Invitees)}})
	}
	for _, s := range v.slackBody() {
		m.Blocks = append(m.Blocks, Block{Type: "section", Text: &TextObject{Type: "mrkdwn", Text: s}})
	}
	m.Blocks = append(m.Blocks, Block{Type: "context", Elements: []TextObject{{Type: "mrkdwn", Text: "Sent by aftermath"}}})
	return m
}

// slackInviteeList lists the invitees within slackInvitees characters; the
// ones that do not fit are counted, and the page lists them all.
func slackInviteeList(invitees []Invitee) string {
	var b strings.Builder
	b.WriteString("*" + inviteeHeader + "*")
	n := slackLen(b.String())
	for i, in := range invitees {
		line := "\n• " + fit(in.Label(), 200) + " _(" + fit(in.Why, 100) + ")_"
		need := slackLen(line)
		if i < len(invitees)-1 {
			need += 80 // room for the line below
		}
		if n+need > slackInvitees {
			fmt.Fprintf(&b, "\n…and %d more: the post-mortem page lists everyone.", len(invitees)-i)
			break
		}
		b.WriteString(line)
		n += slackLen(line)
	}
	return b.String()
}

// slackBody is the body in up to slackBodySections sections.
func (v view) slackBody() []string {
	rest := strings.TrimSpace(strings.ReplaceAll(v.Body, "\r\n", "\n"))
	if rest == "" {
		return nil
	}
	cut := "\n\n_… cut here: the whole text is in the post-mortem, <" + v.EpicURL + "|" + esc(v.Key) + ">._"
	var out []string
	for i := 0; rest != "" && i < slackBodySections; i++ {
		limit := slackSection
		if i == slackBodySections-1 && slackLen(esc(rest)) > limit {
			limit -= slackLen(cut)
		}
		var head string
		head, rest = splitEscaped(rest, limit)
		if head != "" { // "" only with a link of thousands of characters
			out = append(out, head)
		}
	}
	if rest != "" && len(out) > 0 {
		out[len(out)-1] += cut
	}
	return out
}

// splitEscaped takes from raw what fits in limit characters once escaped,
// ending at the last paragraph, line or word break of the second half,
// else anywhere between two characters; it returns that part escaped and
// the rest unescaped.
func splitEscaped(raw string, limit int) (head, rest string) {
	if slackLen(esc(raw)) <= limit {
		return esc(raw), ""
	}
	n, end := 0, 0
	for i, r := range raw {
		l := slackLen(esc(string(r)))
		if n+l > limit {
			break
		}
		n, end = n+l, i+utf8.RuneLen(r)
	}
	cut := end
	for _, br := range []string{"\n\n", "\n", " "} {
		if i := strings.LastIndex(raw[:end], br); i > end/2 {
			cut = i
			break
		}
	}
	return esc(strings.TrimRight(raw[:cut], " \t\n")), strings.TrimLeft(raw[cut:], " \t\n")
}

// fit escapes s for Slack and cuts it to limit characters, the last one
// an ellipsis when cut; the cut never splits an escape.
func fit(s string, limit int) string {
	e := esc(s)
	if slackLen(e) <= limit {
		return e
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		p := esc(string(r))
		if n+slackLen(p) > limit-1 {
			break
		}
		b.WriteString(p)
		n += slackLen(p)
	}
	return b.String() + "…"
}

// slackLen counts as Slack's limits do, or more: in UTF-16 code units.
func slackLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// esc escapes what Slack's mrkdwn reads as markup.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
