package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"text/template"
	"time"
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

// slack lays the message out for a channel: the headline, the fields in
// two columns, the invitees and the body, with Slack's escaping.
func (v view) slack() SlackMessage {
	m := SlackMessage{Text: esc(v.Headline)}
	m.Blocks = append(m.Blocks, Block{Type: "section", Text: &TextObject{Type: "mrkdwn", Text: "*" + esc(v.Headline) + "*"}})
	var fields []TextObject
	for _, f := range v.Fields {
		val := esc(f.Value)
		if f.URL != "" {
			val = "<" + f.URL + "|" + val + ">"
		}
		fields = append(fields, TextObject{Type: "mrkdwn", Text: "*" + f.Label + "*\n" + val})
	}
	m.Blocks = append(m.Blocks, Block{Type: "section", Fields: fields})
	if len(v.Invitees) > 0 {
		var b strings.Builder
		b.WriteString("*" + inviteeHeader + "*")
		for _, in := range v.Invitees {
			b.WriteString("\n• " + esc(in.Label()) + " _(" + esc(in.Why) + ")_")
		}
		m.Blocks = append(m.Blocks, Block{Type: "section", Text: &TextObject{Type: "mrkdwn", Text: b.String()}})
	}
	if v.Body != "" {
		m.Blocks = append(m.Blocks, Block{Type: "section", Text: &TextObject{Type: "mrkdwn", Text: esc(v.Body)}})
	}
	m.Blocks = append(m.Blocks, Block{Type: "context", Elements: []TextObject{{Type: "mrkdwn", Text: "Sent by aftermath"}}})
	return m
}

// esc escapes what Slack's mrkdwn reads as markup.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
