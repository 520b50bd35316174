// Package e2ekit runs aftermath as it runs in production, for end-to-end
// tests and benchmarks: the real binary built once (Binary), several
// `aftermath serve` replicas as child processes that can be killed with
// SIGKILL and restarted (Replicas), the PagerDuty and Jira simulators each
// behind a chaos proxy that adds latency, 5xx and 429 answers and a
// requests-per-minute limit while the test runs (Proxy, Sims), an SMTP
// server and a Slack receiver, and a webhook sender that delivers like
// PagerDuty: retried until accepted, duplicated to different replicas
// (Sender). Redis comes from internal/redistest.
//
// Nothing here is used by the production binary.
package e2ekit

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// Binary builds ./cmd/aftermath once per test process, without the race
// detector whatever the test process runs with, and returns its path. The
// build goes to a temporary directory that outlives the test (it is shared
// by every test of the process).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "aftermath-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "aftermath")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/aftermath-dev/aftermath/cmd/aftermath")
		// GOFLAGS=-race in the environment must not reach this build.
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/aftermath: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// RemoveBinary deletes what Binary built, if anything: call it from
// TestMain after m.Run.
func RemoveBinary() {
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
}
