package render

import (
	"net/url"
	"strings"
)

// wikiSpecial are the characters Jira wiki markup gives a meaning to inside
// a line; each is escaped with a backslash.
const wikiSpecial = "*_-+^~?{}[]|!"

// Text escapes text from outside (PagerDuty titles, notes, names) for Jira
// wiki markup: every markup character is backslash-escaped, so that nothing
// in it can open a link, a macro, a table cell or a heading, or end the
// page's own markup. Line breaks are kept as line breaks; blank lines
// collapse, so text cannot end a table or a quote.
func Text(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var lines []string
	for line := range strings.SplitSeq(s, "\n") {
		if line = escapeLine(line); line != "" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// Cell escapes text for one table cell or one line: as Text, with every line
// break turned into a space.
func Cell(s string) string {
	return strings.Join(strings.Fields(Text(s)), " ")
}

func escapeLine(line string) string {
	// Control characters go first, so that what starts the line is known.
	line = strings.TrimSpace(strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case r < ' ' || r == 0x7f:
			return -1
		}
		return r
	}, line))
	var b strings.Builder
	rs := []rune(line)
	for i, r := range rs {
		switch {
		case r == '-' && i > 0 && i < len(rs)-1 && isWord(rs[i-1]) && isWord(rs[i+1]):
			// Inside a word (PM-1, 2026-11-20) a dash never strikes
			// through: kept as it is, for legible text.
			b.WriteRune(r)
		case r == '\\':
			// Jira reads "\\\\" as a forced line break: a backslash from
			// outside becomes a look-alike that means nothing.
			b.WriteRune('⧵')
		case r == '#' && i > 0:
			// Only a line's first # makes a numbered list: "#4211" inside
			// a line stays legible.
			b.WriteRune(r)
		case strings.ContainsRune(wikiSpecial, r) || r == '#':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	out := b.String()
	// "h1." to "h6.", "bq." at the start of a line make headings and quotes.
	if len(out) >= 3 && out[2] == '.' && (out[0] == 'h' && out[1] >= '1' && out[1] <= '6' || out[:2] == "bq") {
		out = "\\" + out
	}
	return out
}

// Link is a wiki link [text|url] when url is an http(s) URL, else the
// escaped text alone: an outside URL cannot inject markup.
func Link(text, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Cell(text)
	}
	// Characters that would end the link are percent-encoded.
	safe := strings.NewReplacer("|", "%7C", "]", "%5D", "[", "%5B", " ", "%20", "{", "%7B", "}", "%7D").Replace(u.String())
	if text == "" {
		return "[" + safe + "]"
	}
	// Inside a link's text, escapes are not reliably honoured: the
	// characters that would end it become look-alikes.
	text = strings.NewReplacer("|", "¦", "[", "⁅", "]", "⁆").Replace(text)
	return "[" + Cell(text) + "|" + safe + "]"
}

// Line makes text safe as one line of plain text (a Jira summary): line
// breaks become spaces and it is cut to max characters as Jira counts them
// (UTF-16 units: an emoji counts twice).
func Line(s string, max int) string {
	return Clip(strings.Join(strings.Fields(s), " "), max)
}

func isWord(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
