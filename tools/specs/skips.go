package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// testEvent is one line of `go test -json` (cmd/test2json).
type testEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// skipped is one skipped test and what the lock says of it.
type skipped struct {
	pkg, test string
	// why is the test's last message before it skipped (its t.Skip text).
	why     string
	allowed string // why it may skip; "" when it may not
	denied  string // why it may not
}

// maxLine bounds one line of go test -json: a test may print a long line,
// and the reader must not stop there.
const maxLine = 16 << 20

// readSkips reads a `go test -json` stream and returns every skipped test,
// subtests included, in the order they skipped. Lines that are not JSON
// (a build error printed to the same stream) are ignored; a stream with no
// test event at all is an error, since it is not go test -json output.
func readSkips(r io.Reader) ([]skipped, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	lastMsg := map[string]string{}
	var out []skipped
	events := 0
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var ev testEvent
		if json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			continue
		}
		events++
		if ev.Test == "" {
			continue // a package's own events: "skip" there means no test files
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "output":
			if msg := strings.TrimSpace(ev.Output); msg != "" && !strings.HasPrefix(msg, "=== ") && !strings.HasPrefix(msg, "--- ") {
				lastMsg[key] = cut(msg, 300)
			}
		case "skip":
			out = append(out, skipped{pkg: ev.Package, test: ev.Test, why: lastMsg[key]})
			delete(lastMsg, key)
		case "pass", "fail":
			delete(lastMsg, key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read go test -json output: %w", err)
	}
	if events == 0 {
		return nil, errors.New("no go test -json events on stdin: pipe the output of `go test -json ...` (not -v) into skips")
	}
	return out, nil
}

// judge says for each skipped test whether the lock allows it: a test whose
// top-level test is in spec_skips, or in program_skips when not under CI.
func judge(l *Lock, skips []skipped, ci bool) {
	spec := map[string]bool{}
	for _, s := range l.SpecSkips {
		spec[s.Package+" "+s.Test] = true
	}
	program := map[string]string{}
	for _, s := range l.ProgramSkips {
		program[s.Package+" "+s.Test] = s.Program
	}
	for i := range skips {
		s := &skips[i]
		top, _, _ := strings.Cut(s.test, "/")
		key := s.pkg + " " + top
		switch {
		case spec[key]:
			s.allowed = "its subject is a spec file"
		case program[key] != "" && !ci:
			s.allowed = "needs " + program[key] + ", allowed to skip outside CI"
		case program[key] != "":
			s.denied = "needs " + program[key] + ", which CI must have (CI=true)"
		default:
			s.denied = "not in testdata/specs.lock"
		}
	}
}

// reportSkips prints every skipped test and the count line, and returns
// how many were not allowed. Under CI a program test is never allowed.
func reportSkips(w io.Writer, l *Lock, skips []skipped, ci bool) int {
	judge(l, skips, ci)
	allowed, bad := 0, 0
	for _, s := range skips {
		if s.allowed != "" {
			allowed++
			fmt.Fprintf(w, "skipped  %s %s (allowed: %s)\n", s.pkg, s.test, s.allowed)
			continue
		}
		bad++
		why := ""
		if s.why != "" {
			why = ": " + s.why
		}
		fmt.Fprintf(w, "skipped  %s %s: NOT ALLOWED (%s)%s\n", s.pkg, s.test, s.denied, why)
	}
	fmt.Fprintf(w, "%d tests skipped (%d allowed by specs.lock)\n", len(skips), allowed)
	return bad
}

// cut shortens s to at most n bytes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
