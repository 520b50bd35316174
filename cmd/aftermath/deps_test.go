package main

import (
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

const module = "github.com/aftermath-dev/aftermath/"

// testOnly are the project's packages that only tests may import, besides
// those whose name ends in "test" (pagerdutytest, jiratest, redistest).
var testOnly = []string{
	"internal/testspecs",
	"internal/testutil",
	"internal/redistest",
	"internal/simkit/simspec",
	"e2e/e2ekit",
}

// testOnlyDeps returns the packages of deps that a production binary must
// not link: the testing package, net/http/httptest, kin-openapi (request
// validation against the official specs is a test-only feature) and the
// project's test helpers.
func testOnlyDeps(deps []string) []string {
	var bad []string
	for _, p := range deps {
		rel, own := strings.CutPrefix(p, module)
		switch {
		case p == "testing" || strings.HasPrefix(p, "testing/"),
			p == "net/http/httptest",
			p == "github.com/getkin/kin-openapi" || strings.HasPrefix(p, "github.com/getkin/kin-openapi/"),
			own && (strings.HasSuffix(path.Base(rel), "test") || slices.Contains(testOnly, rel)):
			bad = append(bad, p)
		}
	}
	return bad
}

func TestTestOnlyDeps(t *testing.T) {
	cases := []struct {
		pkg string
		bad bool
	}{
		{"testing", true},
		{"testing/fstest", true},
		{"net/http/httptest", true},
		{"github.com/getkin/kin-openapi/openapi3", true},
		{"github.com/getkin/kin-openapi/openapi3filter", true},
		{module + "integrations/pagerduty/pagerdutytest", true},
		{module + "integrations/jira/jiratest", true},
		{module + "integrations/notify/notifytest", true},
		{module + "internal/redistest", true},
		{module + "internal/testspecs", true},
		{module + "internal/testutil", true},
		{module + "internal/simkit/simspec", true},
		{module + "e2e/e2ekit", true},
		{module + "integrations/pagerduty/pagerdutysim", false},
		{module + "integrations/jira/jirasim", false},
		{module + "integrations/notify/notifysim", false},
		{module + "internal/simkit", false},
		{module + "internal/embedredis", false},
		{"internal/testlog", false}, // the standard library's own, imported by os
		{"internal/synctest", false},
		{"net/http", false},
		{"github.com/other/thing/footest", false},
	}
	for _, tc := range cases {
		if got := len(testOnlyDeps([]string{tc.pkg})) == 1; got != tc.bad {
			t.Errorf("%s: flagged %v, want %v", tc.pkg, got, tc.bad)
		}
	}
}

// The production binary (which runs the simulators for aftermath demo)
// links no test code: not the testing package, not kin-openapi, not the
// test wrappers of the simulators nor any other test helper. `go list
// -deps` is what the linker can reach, package by package.
func TestBinaryLinksNoTestCode(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skipf("cannot list the binary's dependencies: no go command in %s/bin or on PATH", runtime.GOROOT())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, stderr.String())
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, module+"cmd/aftermath") || !slices.Contains(deps, module+"app") || !slices.Contains(deps, module+"cmd/aftermath/internal/commands") {
		t.Fatalf("go list -deps did not list the command, its app package and its commands: %q", deps)
	}
	if bad := testOnlyDeps(deps); len(bad) > 0 {
		t.Errorf("the binary links test-only packages:\n  %s\n(`go list -deps ./cmd/aftermath` lists them; `go list -f '{{.ImportPath}}: {{.Imports}}' -deps ./cmd/aftermath` shows who imports them)",
			strings.Join(bad, "\n  "))
	}
	// The demo runs the simulators' cores, not their test wrappers.
	for _, want := range []string{"integrations/pagerduty/pagerdutysim", "integrations/jira/jirasim", "integrations/notify/notifysim", "internal/simkit"} {
		if !slices.Contains(deps, module+want) {
			t.Errorf("the binary does not link %s, which aftermath demo runs", want)
		}
	}
}
