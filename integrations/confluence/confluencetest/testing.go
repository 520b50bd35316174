package confluencetest

import (
	"testing"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

// New starts a simulator of mode for a test: every Cloud REST v2 request
// and every answer to one is validated against Atlassian's official spec,
// and at cleanup the server is closed and each recorded violation fails the
// test. The spec is parsed once per test process. Without the specs folder
// the simulator runs without validation (testspecs says so once); under
// CI=true that fails the test. Data Center's REST v1, and the v1 endpoints
// Cloud is used through for labels, search and the current user, have no
// official spec in the folder: the simulator's own checks are theirs.
func New(t testing.TB, mode Mode) *Server {
	t.Helper()
	return NewWithOptions(t, Options{Mode: mode})
}

// NewWithOptions is New with every option but Validate and
// ValidateResponse, which it sets to the spec's validators.
func NewWithOptions(t testing.TB, opts Options) *Server {
	t.Helper()
	if v := Validators(t); v != nil {
		opts.Validate, opts.ValidateResponse = v.Request, v.Response
	}
	s := NewServer(opts)
	t.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			t.Errorf("confluencetest: %s", v)
		}
	})
	return s
}

// Validators returns the spec's validators, or nil (validation off) when
// the specs folder is absent.
func Validators(t testing.TB) *SpecValidators {
	t.Helper()
	return testspecs.Validator(t, SpecFile, NewSpecValidators)
}
