package render

import "strings"

// ExternalMessage finds the external message people wrote on a post-mortem
// page: the text under its "h3. External" heading, up to the next heading,
// less blank lines and the template's prompts (lines in italics, _like
// this_). ok is false when there is none. A message longer than
// maxExternal is cut (it is quoted, escaped, in a Jira comment: escaping
// may double it), and says so.
func ExternalMessage(page string) (msg string, ok bool) {
	msg, ok = externalMessage(page)
	if Units(msg) > maxExternal {
		msg = Clip(msg, maxExternal) + "\n(cut: the whole message is on the post-mortem page)"
	}
	return msg, ok
}

// maxExternal bounds the external message, in UTF-16 units: escaped, it
// still fits in a Jira comment with what goes around it.
const maxExternal = 15000

func externalMessage(page string) (msg string, ok bool) {
	lines := strings.Split(strings.ReplaceAll(page, "\r\n", "\n"), "\n")
	in := false
	var out []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.EqualFold(t, "h3. External"):
			in = true
			continue
		case !in:
			continue
		case isHeading(t):
			in = false
			continue
		case t == "" || len(t) > 1 && strings.HasPrefix(t, "_") && strings.HasSuffix(t, "_"):
			continue
		}
		out = append(out, t)
	}
	msg = strings.Join(out, "\n")
	return msg, msg != ""
}

func isHeading(t string) bool {
	return len(t) > 3 && t[0] == 'h' && t[1] >= '1' && t[1] <= '6' && t[2] == '.'
}
