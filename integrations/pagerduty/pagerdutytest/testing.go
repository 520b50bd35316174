package pagerdutytest

import (
	"net/http"
	"testing"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

// SpecFile is the official REST API document in the specs folder.
const SpecFile = "pagerduty-rest-openapiv3.json"

// New starts a simulator for a test: every request is validated against the
// official PagerDuty spec, and at cleanup the server is closed and each
// recorded violation fails the test, so a request the spec rejects fails
// the test that sent it. The spec is parsed once per test process. Without
// the specs folder the simulator runs without validation (testspecs says so
// once); under CI=true that fails the test.
func New(t testing.TB) *Server {
	t.Helper()
	s := NewServer(Options{Validate: Validator(t)})
	t.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			t.Errorf("pagerdutytest: %s", v)
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
