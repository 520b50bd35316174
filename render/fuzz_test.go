package render

import (
	"strings"
	"testing"
)

// unescaped counts the occurrences of c not preceded by a backslash that is
// itself unescaped.
func unescaped(s string, c byte) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // the next byte is escaped
		case c:
			n++
		}
	}
	return n
}

// Whatever PagerDuty sends, escaped text opens no cell, link, macro,
// image, heading, list or quote.
func FuzzText(f *testing.F) {
	for _, s := range []string{"plain", "a|b", "[x|javascript:y]", "{code}", "h1. x\n# y\n* z\nbq. q", "\\|\\", "!img.png!", "x\r\ny"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Text(s), Cell(s)} {
			if out == "" {
				continue
			}
			for _, c := range []byte("|[]{}!") {
				if n := unescaped(out, c); n != 0 {
					t.Fatalf("%q escaped to %q leaves %d unescaped %q", s, out, n, c)
				}
			}
			for _, line := range strings.Split(out, "\n") {
				l := strings.TrimSpace(line)
				if l == "" {
					t.Fatalf("%q escaped to %q has a blank line (ends a table or quote)", s, out)
				}
				for _, p := range []string{"h1.", "h2.", "h3.", "h4.", "h5.", "h6.", "bq.", "#", "*", "-", "----"} {
					if strings.HasPrefix(l, p) {
						t.Fatalf("%q escaped to %q has a line starting %q", s, out, p)
					}
				}
			}
		}
		if c := Cell(s); strings.Contains(c, "\n") {
			t.Fatalf("Cell(%q) = %q spans lines", s, c)
		}
	})
}
