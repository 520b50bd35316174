// Package testspecs finds ../shared/specs for tests. The specs are not copied
// into the project: tests read them in place. When they are absent a test
// skips with a message, except under CI (CI=true), where their absence fails.
package testspecs

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the path of ../shared/specs (relative to the module root), or
// skips or fails t when it is missing.
func Dir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := filepath.Join(root, "..", "shared", "specs")
	if env := os.Getenv("AFTERMATH_SPECS_DIR"); env != "" {
		dir = env
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("specs directory %s is missing; CI must run with ../shared beside the repository: %v", dir, err)
		}
		t.Skipf("specs directory %s not found (clone with ../shared beside the repository to run this test)", dir)
	}
	return dir
}

// Read returns the bytes of a file under the specs directory.
func Read(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(t), rel))
	if err != nil {
		t.Fatalf("read spec %s: %v", rel, err)
	}
	return b
}
