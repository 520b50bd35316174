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

// failure is one failed test, or a package that failed outside its tests
// (test == "": a build error, a panic in TestMain), with what it printed.
type failure struct {
	pkg, test string
	output    []string
}

// testRun is what a `go test -json` stream says: the skipped tests, the failed
// ones, and how many passed.
type testRun struct {
	skips  []skipped
	failed []failure
	passed int
	// other holds lines that are not test events (build errors printed to
	// the same stream), shown when something failed.
	other []string
}

// readSkips reads a `go test -json` stream and returns every skipped test,
// subtests included, in the order they skipped. Lines that are not JSON
// (a build error printed to the same stream) are ignored; a stream with no
// test event at all is an error, since it is not go test -json output.
func readSkips(r io.Reader) ([]skipped, error) {
	rn, err := readRun(r)
	return rn.skips, err
}

// readRun reads a `go test -json` stream (see readSkips), keeping the output
// of each failed test too.
func readRun(r io.Reader) (testRun, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	lastMsg := map[string]string{}
	outputs := map[string][]string{}
	var rn testRun
	events := 0
	for sc.Scan() {
		line := sc.Bytes()
		var ev testEvent
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Action == "" {
			if len(line) > 0 && len(rn.other) < 200 {
				rn.other = append(rn.other, cut(string(line), 300))
			}
			continue
		}
		events++
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "output", "build-output":
			outputs[key] = append(outputs[key], strings.TrimRight(ev.Output, "\n"))
			if msg := strings.TrimSpace(ev.Output); ev.Test != "" && msg != "" && !strings.HasPrefix(msg, "=== ") && !strings.HasPrefix(msg, "--- ") {
				lastMsg[key] = cut(msg, 300)
			}
		case "skip":
			if ev.Test != "" { // a package's own skip means no test files
				rn.skips = append(rn.skips, skipped{pkg: ev.Package, test: ev.Test, why: lastMsg[key]})
			}
			delete(lastMsg, key)
			delete(outputs, key)
		case "pass":
			if ev.Test != "" {
				rn.passed++
			}
			delete(lastMsg, key)
			delete(outputs, key)
		case "fail":
			rn.failed = append(rn.failed, failure{pkg: ev.Package, test: ev.Test, output: outputs[key]})
			delete(lastMsg, key)
			delete(outputs, key)
		}
	}
	if err := sc.Err(); err != nil {
		return rn, fmt.Errorf("read go test -json output: %w", err)
	}
	if events == 0 {
		return rn, errors.New("no go test -json events on stdin: pipe the output of `go test -json ...` (not -v) into skips")
	}
	return rn, nil
}

// reportFailures prints each failed test with the last lines it printed,
// then the count line, and returns how many failed. A package that failed
// only because a test in it failed is not printed again.
func reportFailures(w io.Writer, rn testRun) int {
	pkgTests := map[string]bool{}
	for _, f := range rn.failed {
		if f.test != "" {
			pkgTests[f.pkg] = true
		}
	}
	n := 0
	for _, f := range rn.failed {
		if f.test == "" && pkgTests[f.pkg] {
			continue
		}
		n++
		name := f.pkg + " " + f.test
		if f.test == "" {
			name = f.pkg + " (the package itself: a build error or a crash outside a test)"
		}
		fmt.Fprintf(w, "FAILED   %s\n", name)
		out := f.output
		if len(out) > 60 {
			fmt.Fprintf(w, "    … %d earlier lines\n", len(out)-60)
			out = out[len(out)-60:]
		}
		for _, l := range out {
			fmt.Fprintf(w, "    %s\n", cut(l, 500))
		}
	}
	if n > 0 && len(rn.other) > 0 {
		fmt.Fprintln(w, "lines that were not test events:")
		for _, l := range rn.other {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	fmt.Fprintf(w, "%d tests passed, %d failed\n", rn.passed, n)
	return n
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
