package rules

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

var update = flag.Bool("update", false, "rewrite the .want files of testdata/invalid from the current output")

// Each testdata/invalid/NAME.yaml fails with exactly the problems in
// NAME.want, one FILE:LINE:COL: message per line.
func TestInvalidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) < 25 {
		t.Fatalf("want at least 25 invalid cases, found %d (%v)", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, err := LoadFile(file)
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("LoadFile = %v, want an *Error", err)
			}
			got := err.Error() + "\n"
			wantFile := strings.TrimSuffix(file, ".yaml") + ".want"
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test ./rules -run TestInvalidFiles -update, then read the .want file)", err)
			}
			if got != string(want) {
				t.Fatalf("problems differ\n--- got\n%s--- want\n%s", got, want)
			}
			for _, p := range re.Problems {
				if p.File != file || p.Line < 1 || p.Col < 1 || p.Msg == "" {
					t.Errorf("problem without a position: %+v", p)
				}
			}
		})
	}
}

func TestBuiltinRulesAreTheSeedsProcess(t *testing.T) {
	r := Builtin()
	if r.Source() != BuiltinSource || r.Timezone != "UTC" {
		t.Fatalf("source %q timezone %q", r.Source(), r.Timezone)
	}
	for prio, want := range map[string]string{"P1": "SEV-1", "P2": "SEV-2"} {
		s, _, ok := r.SeverityFor(prio)
		if !ok || s.Name != want || !r.InProcess(want) {
			t.Fatalf("%s -> %v %v", prio, s, ok)
		}
	}
	if _, why, ok := r.SeverityFor("P3"); ok || !strings.Contains(why, "P3 maps to no severity") {
		t.Fatalf("P3: %v %q", ok, why)
	}
	s1, _ := r.Severity("SEV-1")
	s2, _ := r.Severity("SEV-2")
	if s1.MeetingDue != (Due{Days: 3}) || s2.MeetingDue != (Due{Days: 5, Business: true}) {
		t.Fatalf("meeting due %v / %v", s1.MeetingDue, s2.MeetingDue)
	}
	if r.Reminders.ReviewBeforeMeeting != Duration(24*time.Hour) {
		t.Fatalf("review %v", r.Reminders.ReviewBeforeMeeting)
	}
	// Defaults are not shared: changing one load's slices leaves the next alone.
	r.Severities[0].Priorities[0] = "changed"
	if s, _, ok := Builtin().SeverityFor("P1"); !ok || s.Name != "SEV-1" {
		t.Fatal("the built-in rules were changed through a loaded copy")
	}
}

func TestExampleFile(t *testing.T) {
	r, err := LoadFile("../config/rules.example.yaml")
	if err != nil {
		t.Fatalf("the example must pass rules check:\n%v", err)
	}
	if got := r.Summary(); !strings.HasSuffix(got, "3 severities SEV-1 (P1), SEV-2 (P2), SEV-3 (P3), process SEV-1, SEV-2, 2 grouping scopes, 1 Jira route, 2 standard follow-ups, timezone America/New_York") {
		t.Fatalf("summary = %s", got)
	}
	if r.InProcess("SEV-3") {
		t.Fatal("SEV-3 is defined but not in process")
	}
	if p, routed := r.JiraProject("PSVC002"); p != "PAY" || !routed {
		t.Fatalf("PSVC002 -> %s %v", p, routed)
	}
	if p, routed := r.JiraProject("PSVC010"); p != "PM" || routed {
		t.Fatalf("PSVC010 -> %s %v", p, routed)
	}
	if sc := r.ScopeOf("PSVC002"); sc == nil || sc.Name != "checkout" {
		t.Fatalf("scope of PSVC002 = %v", sc)
	}
	if r.ScopeOf("PSVC999") != nil {
		t.Fatal("an unlisted service is in no scope")
	}
	got := r.OwnerCandidates("PSVC001")
	want := []OwnerCandidate{{SourceOverride, "payments-lead@example.com"}, {Source: SourceResolver}, {Source: SourceLastAssignee}, {"fallback", "sre-lead@example.com"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("owners of PSVC001 = %+v", got)
	}
	if got := r.OwnerCandidates("PSVC002"); len(got) != 3 || got[0].Source != SourceResolver {
		t.Fatalf("owners of PSVC002 (no override) = %+v", got)
	}
	start := time.Date(2026, 11, 21, 3, 30, 0, 0, time.UTC) // 22:30 on the 20th in New York
	if got := strings.Join(r.Labels("SEV-1", start), ","); got != "sev-1,incident-2026-11-20,postmortem" {
		t.Fatalf("labels = %s", got)
	}
	if n := len(r.StandardFollowups("SEV-1")); n != 2 {
		t.Fatalf("SEV-1 standard follow-ups = %d", n)
	}
	if f := r.StandardFollowups("SEV-2"); len(f) != 1 || f[0].Summary != "Schedule the post-mortem meeting" {
		t.Fatalf("SEV-2 standard follow-ups = %+v", f)
	}
	if st, ok := r.PostmortemStatus("Done"); !ok || st != StatusClosed || !IsFinished(st) {
		t.Fatalf("Done -> %s %v", st, ok)
	}
	if r.Rank("SEV-1") >= r.Rank("SEV-2") || r.Rank("nope") != 3 {
		t.Fatal("rank order")
	}
}

// Valid files load, and what they load survives a trip through YAML.
func TestValidFilesRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	files = append(files, "../config/rules.example.yaml")
	if len(files) < 4 {
		t.Fatalf("found only %d valid files", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r1, err := LoadFile(file)
			if err != nil {
				t.Fatalf("load:\n%v", err)
			}
			out, err := yaml.Marshal(r1)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := Load("round-trip.yaml", out)
			if err != nil {
				t.Fatalf("reload of the marshalled rules:\n%v\n%s", err, out)
			}
			// YAML cannot tell an empty list from a missing one, so compare
			// what the reloaded rules marshal to.
			again, err := yaml.Marshal(r2)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(out) {
				t.Fatalf("round trip changed the rules:\n--- first\n%s--- second\n%s", out, again)
			}
			if r1.Summary() != strings.Replace(r2.Summary(), "round-trip.yaml", file, 1) {
				t.Fatalf("summaries differ: %s / %s", r1.Summary(), r2.Summary())
			}
		})
	}
}

func TestValidFileDetails(t *testing.T) {
	r, err := LoadFile("testdata/valid/anchors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sc := r.ScopeOf("PSVC002"); sc == nil || sc.Name != "checkout" {
		t.Fatal("anchored service list not used in the scope")
	}
	if o := r.OwnerCandidates("PSVC002"); o[0].Email != "checkout-lead@example.com" {
		t.Fatalf("aliased service list not used in the override: %+v", o)
	}
	r, err = LoadFile("testdata/valid/crlf-bom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.Timezone != "Europe/Berlin" || r.Jira.Project != "OPS" {
		t.Fatalf("crlf-bom: %q %q", r.Timezone, r.Jira.Project)
	}
	// A quoted scalar folded over CRLF lines reads as it does over LF.
	r, err = LoadFile("testdata/valid/crlf-folded.yaml")
	if err != nil || r.Severities[0].Name != "SEV-1 critical" {
		t.Fatalf("crlf-folded: %v %q", err, r.Severities[0].Name)
	}
	r, err = LoadFile("testdata/valid/empty.yaml")
	if err != nil || r.Summary() != strings.Replace(Builtin().Summary(), BuiltinSource, "testdata/valid/empty.yaml", 1) {
		t.Fatalf("an empty file is the built-in rules: %v", err)
	}
}

func TestLoadFileErrors(t *testing.T) {
	if _, err := LoadFile("testdata/does-not-exist.yaml"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing file: %v", err)
	}
	big := make([]byte, MaxFileBytes+10)
	for i := range big {
		big[i] = '#'
	}
	_, err := Load("big.yaml", big)
	if err == nil || !strings.Contains(err.Error(), "big.yaml:1:1: the file is larger than 128 KiB") {
		t.Fatalf("oversize file: %v", err)
	}
}

// Inputs that make the YAML parser slow or hungry are refused up front, in
// bounded time, with a position.
func TestLoaderBoundsHostileInput(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"deep flow nesting", "process: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "1:42: brackets nested more than 32 deep"},
		{"deep block nesting", "x: " + strings.Repeat("- ", 20000) + "1\n", "nesting reaches column 202"},
		{"deep indentation", buildIndented(120), "101:202: nesting reaches column 202"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The bound catches runaway (quadratic or exponential) work,
			// which takes minutes; it is loose so a busy CI machine under
			// -race never trips it.
			start := time.Now()
			_, err := Load("hostile.yaml", []byte(tc.src))
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("took %v", d)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// The widest file the size limit allows still loads quickly.
	var b strings.Builder
	for i := 0; b.Len() < MaxFileBytes-64; i++ {
		fmt.Fprintf(&b, "k%d: 1\n", i)
	}
	start := time.Now()
	_, err := Load("wide.yaml", []byte(b.String()))
	if d := time.Since(start); d > 30*time.Second || err == nil {
		t.Fatalf("wide file: %v after %v", err, d)
	}
}

func buildIndented(levels int) string {
	var b strings.Builder
	for i := 0; i < levels; i++ {
		b.WriteString(strings.Repeat("  ", i) + "k:\n")
	}
	return b.String()
}

// An unknown key gets the known one it most likely meant: a typo within two
// edits, or the singular of a plural key; nothing when none is close.
func TestUnknownKeySuggestion(t *testing.T) {
	names := []string{"jira_priority", "meeting_due", "name", "priorities"}
	for key, want := range map[string]string{
		"nme":           "name",
		"Name":          "name",
		"priority":      "priorities",
		"priorty":       "priorities",
		"meeting":       "",
		"jira_priority": "jira_priority",
		"owner":         "",
	} {
		if got := closest(key, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", key, got, want)
		}
	}
}
