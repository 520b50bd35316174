package render

import (
	"flag"
	"os"
	"path/filepath"
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
		{"back\\slash", `back\\slash`, `back\\slash`},
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
		{"x|y", "https://a.example/b|c]d", `[x\|y|https://a.example/b%7Cc%5Dd]`},
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
