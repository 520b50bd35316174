package pagerdutytest

import (
	"testing"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

// SpecFile is the official REST API document under ../shared/specs.
const SpecFile = "pagerduty-rest-openapiv3.json"

// New starts a simulator for a test: every request is validated against the
// official PagerDuty spec, and at cleanup the server is closed and each
// recorded violation fails the test, so a request the spec rejects fails
// the test that sent it. The spec is parsed once per test process. Without
// ../shared/specs the test is skipped (failed under CI=true).
func New(t testing.TB) *Server {
	t.Helper()
	validate, err := SpecValidator(testspecs.Read(t, SpecFile))
	if err != nil {
		t.Fatalf("load pagerduty spec: %v", err)
	}
	s := NewServer(Options{Validate: validate})
	t.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			t.Errorf("pagerdutytest: %s", v)
		}
	})
	return s
}
