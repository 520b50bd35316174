package rules

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
)

// BuiltinSource names the built-in rules in messages.
const BuiltinSource = "built-in rules"

// maxProblems bounds what one load reports; past that, more would not help.
const maxProblems = 100

// Load decodes and validates a rules file. file names it in problems. On any
// problem it returns an *Error listing all of them, in file order.
func Load(file string, src []byte) (*Rules, error) {
	d := newDecoder(file)
	r := &Rules{}
	d.parse(src, r)
	if !d.fatal {
		// Validate even after structural problems, so that one run reports
		// every problem; values that failed to decode are left zero and the
		// checks below do not report them twice.
		applyDefaults(r, d.written)
		d.validate(r)
	}
	if len(d.problems) > 0 {
		sort.SliceStable(d.problems, func(i, j int) bool {
			a, b := d.problems[i], d.problems[j]
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		if n := len(d.problems); n > maxProblems {
			last := d.problems[maxProblems-1]
			d.problems = append(d.problems[:maxProblems], Problem{File: file, Line: last.Line, Col: last.Col,
				Msg: fmt.Sprintf("... and %d more problems; fix these first", n-maxProblems)})
		}
		return nil, &Error{Problems: d.problems}
	}
	r.c.source = file
	return r, nil
}

// ReadError is a rules file that could not be read at all.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string {
	if errors.Is(e.Err, fs.ErrNotExist) {
		return fmt.Sprintf("rules file %s does not exist", e.Path)
	}
	return fmt.Sprintf("read rules file %s: %v", e.Path, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// LoadFile reads and loads the rules file at path.
func LoadFile(path string) (*Rules, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	return Load(path, src)
}

// Builtin returns the built-in rules: the seeds' process (P1 → SEV-1 with the
// meeting within 3 calendar days, P2 → SEV-2 within 5 business days, both
// processed, review due 24 hours before the meeting).
func Builtin() *Rules {
	r, err := Load(BuiltinSource, nil)
	if err != nil {
		panic("rules: the built-in rules do not load: " + err.Error())
	}
	return r
}

// Source names where the rules came from: a file path or "built-in rules".
func (r *Rules) Source() string { return r.c.source }

// Summary describes the rules in one line.
func (r *Rules) Summary() string {
	names := make([]string, len(r.Severities))
	for i, s := range r.Severities {
		names[i] = fmt.Sprintf("%s (%s)", s.Name, strings.Join(s.Priorities, "/"))
	}
	return fmt.Sprintf("%s: OK: %s %s, process %s, %s, %s, %s, timezone %s",
		r.c.source, count(len(r.Severities), "severity", "severities"), strings.Join(names, ", "), strings.Join(r.Process, ", "),
		count(len(r.Grouping.Scopes), "grouping scope", "grouping scopes"), count(len(r.Jira.Routes), "Jira route", "Jira routes"),
		count(len(r.Followups.Standard), "standard follow-up", "standard follow-ups"), r.Timezone)
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
