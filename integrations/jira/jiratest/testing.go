package jiratest

import (
	"net/http"
	"testing"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

// New starts a simulator of mode for a test: every request is validated
// against Atlassian's official spec, and at cleanup the server is closed
// and each recorded violation fails the test, so a request the spec rejects
// fails the test that sent it. The spec is parsed once per test process.
// Without the specs folder the simulator runs without validation (testspecs
// says so once); under CI=true that fails the test.
func New(t testing.TB, mode Mode) *Server {
	t.Helper()
	return NewWithOptions(t, Options{Mode: mode})
}

// NewWithOptions is New with every option but Validate, which it sets to
// the spec validator: for a test that needs a clock or a SearchLag.
func NewWithOptions(t testing.TB, opts Options) *Server {
	t.Helper()
	opts.Validate = Validator(t)
	s := NewServer(opts)
	t.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			t.Errorf("jiratest: %s", v)
		}
	})
	return s
}

// Validator returns the spec validator for Options.Validate, or nil
// (validation off) when the specs folder is absent.
func Validator(t testing.TB) func(*http.Request, []byte) error {
	t.Helper()
	return testspecs.Validator(t, SpecFile, SpecValidator)
}
