package render

import (
	"html"
	"strings"
	"unicode/utf8"
)

// StatusPageLimit is the longest postmortem message a PagerDuty status
// page takes (StatusPagePostmortemRequest.message: maxLength 10000).
const StatusPageLimit = 10000

// StatusPageMessage is the page's external message (ExternalMessage's
// text, uncut) as the rich text of a status page's postmortem: one
// paragraph a line, the wiki escapes people typed undone, and every
// character escaped for HTML, so that nothing on the page becomes markup
// on the status page. ok is false when the page has no external message.
// fits is false when the message is longer than a status page takes: it
// is not cut, because customers would read a message that stops
// mid-sentence.
func StatusPageMessage(page string) (msg string, ok, fits bool) {
	text, ok := externalMessage(page)
	if !ok {
		return "", false, true
	}
	var b strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString("<p>" + html.EscapeString(unescapeWiki(line)) + "</p>")
	}
	msg = b.String()
	return msg, true, utf8.RuneCountInString(msg) <= StatusPageLimit
}

// unescapeWiki undoes the backslash before a markup character ("\*"),
// which Jira shows as the character alone.
func unescapeWiki(line string) string {
	var b strings.Builder
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		if rs[i] == '\\' && i+1 < len(rs) && strings.ContainsRune(wikiSpecial+"#\\", rs[i+1]) {
			i++
		}
		b.WriteRune(rs[i])
	}
	return b.String()
}
