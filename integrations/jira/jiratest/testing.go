package jiratest

import (
	"testing"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

// New starts a simulator of mode for a test: every request is validated
// against Atlassian's official spec, and at cleanup the server is closed
// and each recorded violation fails the test, so a request the spec rejects
// fails the test that sent it. The spec is parsed once per test process.
// Without ../shared/specs the test is skipped (failed under CI=true).
func New(t testing.TB, mode Mode) *Server {
	t.Helper()
	return NewWithOptions(t, Options{Mode: mode})
}

// NewWithOptions is New with every option but Validate, which it sets to
// the spec validator: for a test that needs a clock or a SearchLag.
func NewWithOptions(t testing.TB, opts Options) *Server {
	t.Helper()
	validate, err := SpecValidator(testspecs.Read(t, SpecFile))
	if err != nil {
		t.Fatalf("load jira spec: %v", err)
	}
	opts.Validate = validate
	s := NewServer(opts)
	t.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			t.Errorf("jiratest: %s", v)
		}
	})
	return s
}
