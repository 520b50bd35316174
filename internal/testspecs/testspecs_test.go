package testspecs_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/webhook"
	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

var samples = []string{"webhooks/incident.resolved.json", "webhooks/incident.triggered.json", "webhooks/pagey.ping.json"}

// essentials are the fields of an event that tests and the workflow read.
func essentials(t *testing.T, body []byte) string {
	t.Helper()
	env, err := webhook.Decode(body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	ev := env.Event
	out := fmt.Sprintf("%s %s %s %s", ev.ID, ev.EventType, ev.OccurredAt.Format(time.RFC3339Nano), ev.IncidentID())
	if ev.Agent != nil {
		out += " agent=" + ev.Agent.ID
	}
	if inc := ev.Data.Incident; inc != nil {
		out += fmt.Sprintf(" #%d %q %s %s", inc.Number, inc.Title, inc.Status, inc.CreatedAt.Format(time.RFC3339))
		if inc.Service != nil {
			out += " service=" + inc.Service.ID
		}
		for _, a := range inc.Assignees {
			out += " assignee=" + a.ID
		}
	}
	if p := ev.Data.Ping; p != nil {
		out += " ping=" + p.Message
	}
	return out
}

// The project's own bodies, signed with the samples' secret, verify and
// decode as V3 events, with or without the specs folder.
func TestFallbacksAreSignedV3Events(t *testing.T) {
	v := webhook.NewVerifier([]string{testspecs.SampleSecret})
	for _, rel := range samples {
		body := testspecs.Sample(t, rel)
		if err := v.Verify(testspecs.Sign(testspecs.SampleSecret, body), body); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if got := essentials(t, body); !strings.Contains(got, strings.TrimSuffix(filepath.Base(rel), ".json")) {
			t.Fatalf("%s decodes as %s", rel, got)
		}
	}
}

// With the specs, each fallback carries the same essentials as the signed
// sample it stands in for, so a test passes or fails the same with either.
func TestFallbacksMatchTheSamples(t *testing.T) {
	dir := testspecs.Require(t, "the webhook samples")
	t.Setenv("CI", "")                              // a missing folder is not a failure here: it is the point
	t.Setenv(testspecs.EnvVar, t.TempDir()+"/none") // Sample now answers the fallback
	for _, rel := range samples {
		fallback := testspecs.Sample(t, rel)
		t.Setenv(testspecs.EnvVar, dir)
		real := testspecs.Read(t, rel)
		if got, want := essentials(t, fallback), essentials(t, real); got != want {
			t.Errorf("%s:\nfallback %s\nsample   %s", rel, got, want)
		}
		t.Setenv(testspecs.EnvVar, t.TempDir()+"/none")
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of acting.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Skipf(f string, a ...any)  { r.skipped = fmt.Sprintf(f, a...) }
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = fmt.Sprintf(f, a...) }
func (r *recorder) Errorf(f string, a ...any) { r.fatal = fmt.Sprintf(f, a...) }
func (r *recorder) Failed() bool              { return r.fatal != "" }

// Without the folder: a behaviour test goes on (Optional is false), a test of
// the spec files skips saying how to get them, and CI fails instead.
func TestMissingSpecsAreALayerNotAGate(t *testing.T) {
	t.Setenv(testspecs.EnvVar, filepath.Join(t.TempDir(), "no-specs-here"))
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	if _, ok := testspecs.Optional(r, "webhooks/incident.resolved.json"); ok || r.skipped != "" || r.fatal != "" {
		t.Fatalf("Optional without specs: ok=%v skipped=%q fatal=%q", ok, r.skipped, r.fatal)
	}
	testspecs.Read(r, "webhooks/incident.resolved.json")
	if !strings.Contains(r.skipped, testspecs.OffMessage) || r.fatal != "" {
		t.Fatalf("Read without specs: skipped=%q fatal=%q", r.skipped, r.fatal)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	testspecs.Optional(r, "webhooks/incident.resolved.json")
	if !strings.Contains(r.fatal, "CI must run with ../shared") {
		t.Fatalf("under CI=true a missing folder must fail: fatal=%q", r.fatal)
	}
}
