// Package testspecs finds the official API specs and PagerDuty's signed
// webhook samples for tests. They are not copied into the project: tests read
// them in place, from AFTERMATH_SPECS or ../shared/specs beside the module,
// and `make specs` fetches them there, pinned by sha256 in specs.lock.
//
// The specs are one layer of the tests, not a gate. Without them every test
// of behaviour still runs: the simulators run without validating requests
// against the specs (announced once per test process), and the webhook bodies
// come from the project's own fixtures (Sample). Only a test whose whole
// subject is a spec file (Read: the signature vectors, the sample bodies, the
// validators) skips, with a message that says how to get the specs. Under
// CI=true a missing specs folder fails instead.
package testspecs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// EnvVar names the folder of the specs when it is not ../shared/specs.
const EnvVar = "AFTERMATH_SPECS"

// OffMessage is what a test process says once when the specs are absent.
const OffMessage = "spec validation off: no specs found; make specs fetches them"

// Root is the module's root folder.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Path returns the folder the specs are read from: AFTERMATH_SPECS, else
// ../shared/specs beside the module. It may not exist.
func Path() string {
	if env := os.Getenv(EnvVar); env != "" {
		return env
	}
	return filepath.Join(Root(), "..", "shared", "specs")
}

var announce sync.Once

// Find returns the specs folder and whether it is there. When it is not,
// the test process says so once (OffMessage), and under CI=true t fails:
// CI always runs with the specs.
func Find(t testing.TB) (string, bool) {
	t.Helper()
	dir := Path()
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("specs directory %s is missing; CI must run with ../shared beside the repository (or %s set): %v", dir, EnvVar, err)
		}
		announce.Do(func() { fmt.Fprintf(os.Stderr, "%s (looked in %s)\n", OffMessage, dir) })
		return dir, false
	}
	return dir, true
}

// Available reports whether the specs folder is there (see Find).
func Available(t testing.TB) bool {
	t.Helper()
	_, ok := Find(t)
	return ok
}

// Read returns the bytes of a spec file, for a test whose whole subject is
// that file: without the specs folder the test skips, saying how to get it.
// Such a test is listed in specs.lock, the only tests allowed to skip.
func Read(t testing.TB, rel string) []byte {
	t.Helper()
	dir, ok := Find(t)
	if !ok {
		t.Skipf("%s: this test checks %s itself", OffMessage, rel)
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatalf("read spec %s: %v (make specs fetches it)", rel, err)
	}
	return b
}

// Require skips a test whose whole subject is the spec files when the
// folder is absent (see Read), once at its top, so that it shows as one
// skipped test; it returns the folder.
func Require(t testing.TB, subject string) string {
	t.Helper()
	dir, ok := Find(t)
	if !ok {
		t.Skipf("%s: this test checks %s itself", OffMessage, subject)
	}
	return dir
}

// Optional returns the bytes of a spec file when the specs folder is there,
// and false when it is not: for a layer of a test that can be left off, such
// as validating requests against an API spec.
func Optional(t testing.TB, rel string) ([]byte, bool) {
	t.Helper()
	dir, ok := Find(t)
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatalf("read spec %s: %v (make specs fetches it)", rel, err)
	}
	return b, true
}

// Validator loads the spec file with load, for a simulator's
// Options.Validate, or returns the zero V (validation off) when the specs
// folder is absent; a file that does not load fails t.
func Validator[V any](t testing.TB, file string, load func([]byte) (V, error)) V {
	t.Helper()
	var v V
	spec, ok := Optional(t, file)
	if !ok {
		return v
	}
	v, err := load(spec)
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	return v
}

// SampleSecret is the signing secret of PagerDuty's signed webhook samples
// (a public test secret from the samples' source, see specs.lock); the
// project's own fallback bodies are signed with it too.
const SampleSecret = "HvPtlQNKMPpHSSqJpCdndXfo7HnGXa1pnH6w5axpxLFn9aRBNBGh4e8/HlonK5mz"

// Sample returns the webhook body rel ("webhooks/incident.resolved.json",
// "webhooks/incident.triggered.json" or "webhooks/pagey.ping.json"): the
// signed sample from the specs folder when it is there, else the project's
// own body for the same event (same event, incident, service and user IDs,
// number and times), so a test of behaviour runs on any clone. Sign it with
// Sign(SampleSecret, body); never assume the sample's own signature.
func Sample(t testing.TB, rel string) []byte {
	t.Helper()
	if b, ok := Optional(t, rel); ok {
		return b
	}
	b, ok := fallbacks[rel]
	if !ok {
		t.Fatalf("testspecs: no fallback body for %s", rel)
	}
	return []byte(b)
}

// Sign returns the X-PagerDuty-Signature value for body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}
