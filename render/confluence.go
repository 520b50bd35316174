package render

import (
	"bytes"
	"encoding/xml"
	"fmt"
	htmltemplate "html/template"
	"strings"
)

// The sentences of a post-mortem whose page lives in Confluence (rules
// page.target: confluence): the epic's short description that points at
// the page, the page's line back to the epic and the incident, and the
// comment aftermath leaves on a page people have edited instead of
// writing it again.

var confluenceEpic = mustParse("confluence_epic.tmpl")

// ConfluencePage is the Confluence page an epic points at: URL and Title
// are empty until it exists, Space says where it is being made.
type ConfluencePage struct {
	Space string
	Title string
	URL   string
}

// ConfluenceDescription is the epic's description when the page lives in
// Confluence: the status panel, a short summary of the incident and a line
// linking to the page (or saying it is being made). It is always far
// within Jira's limit.
func ConfluenceDescription(p Page, c ConfluencePage) string {
	s, err := execute(confluenceEpic, struct {
		Page Page
		ConfluencePage
	}{capped(p), c})
	if err != nil {
		// The built-in template renders every Page; a failure is a bug
		// worth seeing in the description rather than an empty one.
		return Cell(err.Error())
	}
	return s
}

var storageBack = htmltemplate.Must(htmltemplate.New("back").Funcs(htmltemplate.FuncMap{"link": storageLink}).Parse(
	`{{define "a"}}{{if .URL}}<a href="{{.URL}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}{{end -}}` +
		`<p><strong>Jira epic:</strong> {{template "a" (link .Key .EpicURL)}} (status, follow-up tickets, reminders) · ` +
		`<strong>Incident:</strong> {{template "a" (link .Incident .IncidentURL)}}</p>`))

// StorageBackLinks is the line at the top of the Confluence page that links
// back to the epic and the primary incident, in storage format.
func StorageBackLinks(epicKey, epicURL string, p Page) string {
	var b bytes.Buffer
	err := storageBack.Execute(&b, map[string]string{
		"Key": xmlText(epicKey), "EpicURL": xmlText(epicURL),
		"Incident": xmlText(fmt.Sprintf("#%d %s", p.Number, Clip(p.Title, capTitle))), "IncidentURL": xmlText(p.URL),
	})
	if err != nil {
		return ""
	}
	return b.String() + "\n"
}

var storageNews = htmltemplate.Must(htmltemplate.New("news").Parse(
	`<p>aftermath has news for this post-mortem: the group now has {{.Incidents}} incident(s) and {{.Actions}} follow-up ticket(s). ` +
		`People have edited this page since aftermath wrote it, so aftermath did not write it again: ` +
		`the Jira epic {{if .EpicURL}}<a href="{{.EpicURL}}">{{.Key}}</a>{{else}}{{.Key}}{{end}} lists them.</p>` +
		`<p><sub>{{.Marker}}</sub></p>`))

// ConfluenceNews is the footer comment aftermath leaves on a page a person
// has edited, instead of writing it again, when it has news for it; marker
// makes it findable (and so written once).
func ConfluenceNews(p Page, epicKey, epicURL, marker string) string {
	var b bytes.Buffer
	incidents := max(p.GroupSize, len(p.Incidents))
	err := storageNews.Execute(&b, map[string]any{"Incidents": incidents, "Actions": len(p.Actions),
		"Key": xmlText(epicKey), "EpicURL": storageLink("", epicURL).URL, "Marker": xmlText(marker)})
	if err != nil {
		return ""
	}
	return b.String()
}

// StorageText reads a page in storage format as the language review reads
// a Jira page: one line per block, headings as "h3. External", a paragraph
// all in italics (a template prompt) as "_text_", so that ReviewLanguage
// and ExternalMessage read both the same way.
func StorageText(storage string) string {
	d := xml.NewDecoder(strings.NewReader("<root>" + storage + "</root>"))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	var (
		out       []string
		line      strings.Builder
		heading   string
		italic    int // characters of the line inside <em> or <i>
		plain     int // and outside
		em, param int // depth of <em>/<i>, and of macro parameters (not text)
	)
	flush := func() {
		t := strings.Join(strings.Fields(line.String()), " ")
		switch {
		case t == "":
		case heading != "":
			out = append(out, heading+". "+t)
		case italic > 0 && plain == 0:
			out = append(out, "_"+t+"_")
		default:
			out = append(out, t)
		}
		line.Reset()
		heading, italic, plain = "", 0, 0
	}
	for {
		tok, err := d.Token()
		if err != nil {
			break // io.EOF, or storage too broken to read further
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch n := t.Name.Local; {
			case n == "em" || n == "i":
				em++
			case n == "parameter":
				param++
			case len(n) == 2 && n[0] == 'h' && n[1] >= '1' && n[1] <= '6':
				flush()
				heading = n
			case n == "td" || n == "th":
				line.WriteString(" ")
			case storageBlock[n]:
				flush()
			}
		case xml.EndElement:
			switch n := t.Name.Local; {
			case n == "em" || n == "i":
				em = max(em-1, 0)
			case n == "parameter":
				param = max(param-1, 0)
			case n == "br" || storageBlock[n] || len(n) == 2 && n[0] == 'h' && n[1] >= '1' && n[1] <= '6':
				flush()
			}
		case xml.CharData:
			if param > 0 {
				continue
			}
			s := string(t)
			n := len(strings.Join(strings.Fields(s), ""))
			if em > 0 {
				italic += n
			} else {
				plain += n
			}
			line.WriteString(s)
		}
	}
	flush()
	return strings.Join(out, "\n") + "\n"
}

// storageBlock are the storage-format elements that end a line.
var storageBlock = map[string]bool{
	"p": true, "li": true, "tr": true, "div": true, "blockquote": true, "pre": true,
	"ul": true, "ol": true, "table": true, "rich-text-body": true, "plain-text-body": true,
}
