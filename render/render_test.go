package render

import (
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./render -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./render -update rewrites it):\n%s", name, got)
	}
}

func TestEscaping(t *testing.T) {
	for _, tc := range []struct{ in, text, cell string }{
		{"plain words", "plain words", "plain words"},
		{"a*b*_c_", `a\*b\*\_c\_`, `a\*b\*\_c\_`},
		{"[click|http://evil]", `\[click\|http://evil\]`, `\[click\|http://evil\]`},
		{"{code}x{code}", `\{code\}x\{code\}`, `\{code\}x\{code\}`},
		{"|| fake | table |", `\|\| fake \| table \|`, `\|\| fake \| table \|`},
		{"h1. Heading\nbq. quote", "\\h1. Heading\n\\bq. quote", "\\h1. Heading \\bq. quote"},
		{"line one\n\n\nline two", "line one\nline two", "line one line two"},
		{"!http://img/x.png!", `\!http://img/x.png\!`, `\!http://img/x.png\!`},
		{"back\\slash", "back⧵slash", "back⧵slash"}, // "\\\\" would be a forced line break
		{"bell\a and \x1b[31mred", "bell and [31mred", "bell and [31mred"},
	} {
		if got := Text(tc.in); got != strings.ReplaceAll(tc.text, "[31m", `\[31m`) {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.text)
		}
		if got := Cell(tc.in); got != strings.ReplaceAll(tc.cell, "[31m", `\[31m`) {
			t.Errorf("Cell(%q) = %q, want %q", tc.in, got, tc.cell)
		}
	}
	for _, tc := range []struct{ text, url, want string }{
		{"PM-1", "https://jira.example.com/browse/PM-1", "[PM-1|https://jira.example.com/browse/PM-1]"},
		{"x|y", "https://a.example/b|c]d", `[x¦y|https://a.example/b%7Cc%5Dd]`},
		{"evil", "javascript:alert(1)", "evil"},
		{"rel", "/incidents/Q1", "rel"},
	} {
		if got := Link(tc.text, tc.url); got != tc.want {
			t.Errorf("Link(%q, %q) = %q, want %q", tc.text, tc.url, got, tc.want)
		}
	}
	if got := Line("a\nb  c", 255); got != "a b c" {
		t.Errorf("Line = %q", got)
	}
	if got := Line(strings.Repeat("x", 300), 255); len([]rune(got)) != 255 || !strings.HasSuffix(got, "…") {
		t.Errorf("Line did not cut to 255 runes: %d", len([]rune(got)))
	}
	// Jira counts UTF-16 units: an emoji is two.
	if got := Line(strings.Repeat("🔥", 200), 255); Units(got) > 255 || !strings.HasSuffix(got, "…") {
		t.Errorf("Line with emoji = %d units", Units(got))
	}
}

func TestSampleRendersWithEveryTemplate(t *testing.T) {
	p := Sample()
	if s, err := Summary(nil, p); err != nil || s != "[SEV-1] Post-mortem: Checkout errors (#42)" {
		t.Fatalf("summary = %q, %v", s, err)
	}
	if _, err := Description(nil, p); err != nil {
		t.Fatal(err)
	}
	if _, err := FollowupDescription(Followup{Item: "x", Note: p.Resolution, Incident: "#42 x", IncURL: p.URL}); err != nil {
		t.Fatal(err)
	}
}

// shape is a page's structure: its headings, table rows, macros and links.
func shape(page string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(page, "\n") {
		switch {
		case strings.HasPrefix(line, "h2.") || strings.HasPrefix(line, "h3."):
			out["heading "+line]++
		case strings.HasPrefix(line, "||"):
			out["header row"]++
		case strings.HasPrefix(line, "|"):
			out["row"]++
		case strings.HasPrefix(line, "{quote}") || strings.HasPrefix(line, "{panel"):
			out["macro "+line]++
		}
	}
	// Unescaped markup anywhere: cells (|), links ([), macros ({).
	out["cells"] = strings.Count(page, "|") - strings.Count(page, `\|`)
	out["links"] = strings.Count(page, "[") - strings.Count(page, `\[`)
	out["macros"] = strings.Count(page, "{") - strings.Count(page, `\{`)
	return out
}

// Text from PagerDuty that tries to break out of its place changes nothing
// in the page's structure.
func TestMarkupInjectionKeepsThePageShape(t *testing.T) {
	evil := []string{
		"x|y||z", "[click me|javascript:alert(1)]", "{code}\n{quote}\nh1. Owned\n----", "bq. quoted\n* bullet\n# number",
		"{panel:title=fake}", "!http://evil.example/pixel.png!", "[~admin]", "\\|\\[\\{", "*bold* _it_ -strike- +under+ ^sup^ ~sub~ ??cite??",
		"line\n\n|| Time || Incident ||\n| 00:00 | #1 |",
	}
	build := func(s string) Page {
		p := Sample()
		p.Title, p.Services, p.OwnerNote = s, []string{s}, s
		p.Owner = Person{Name: s, Email: s}
		p.Timeline = []Event{{At: "09:00", Incident: "#42", Actor: s, Kind: "annotated", Summary: s, Link: "https://x.example/" + url.PathEscape(s)}}
		p.Responders = []Responder{{Name: s, Actions: s}}
		p.Resolution = &Note{Author: s, At: "10:00", Text: s, Link: s}
		p.Actions = []Action{{Key: "PM-2", URL: "https://j.example/browse/PM-2", Summary: s}}
		p.Overflow = []string{s}
		p.Incidents = append(p.Incidents, Incident{Number: 43, Title: s, URL: "https://x.example/" + url.PathEscape(s), Role: "member"})
		p.Conference = &Conference{URL: "https://meet.example/" + url.PathEscape(s), Number: s}
		p.Response = append(p.Response, Response{Incident: "#43", URL: "https://x.example/q", PagedFirst: s})
		p.Overall = &Response{Incident: "All", PagedFirst: s}
		p.Links = append(p.Links, NoteLink{URL: "https://grafana.example/" + url.PathEscape(s), Kind: "dashboard", Incident: "#43", Author: s, At: "10:00", Line: s})
		p.Invitees = []string{s, s}
		return p
	}
	benign, err := Description(nil, build("plain words"))
	if err != nil {
		t.Fatal(err)
	}
	want := shape(benign)
	for _, s := range evil {
		got, err := Description(nil, build(s))
		if err != nil {
			t.Fatal(err)
		}
		gs := shape(got)
		for k, v := range want {
			if gs[k] != v {
				t.Errorf("with %q, %s = %d, want %d:\n%s", s, k, gs[k], v, got)
			}
		}
		for k := range gs {
			if _, ok := want[k]; !ok {
				t.Errorf("with %q the page grew %q:\n%s", s, k, got)
			}
		}
		if regexp.MustCompile(`[^\\]\|javascript:`).MatchString(got) {
			t.Errorf("a javascript: link survived:\n%s", got)
		}
		f, err := FollowupDescription(Followup{Item: s, Note: &Note{Author: s, At: "10:00", Text: s, Link: s}, Incident: s, IncURL: "https://x.example/q"})
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(f, "{quote}"); n != 2 {
			t.Errorf("with %q the follow-up has %d quote macros:\n%s", s, n, f)
		}
	}
	// The summary is plain text on one line.
	if s, _ := Summary(nil, build("a\nb|c")); s != "[SEV-1] Post-mortem: a b|c (#42)" {
		t.Errorf("summary = %q", s)
	}
}
