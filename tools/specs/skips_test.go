package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

const (
	pkgWebhook  = "github.com/aftermath-dev/aftermath/integrations/pagerduty/webhook"
	pkgHandlers = "github.com/aftermath-dev/aftermath/handlers"
)

// skipLock allows the webhook package's TestDecodeSamples to skip, and the
// handlers' browser test outside CI.
func skipLock(t *testing.T) string {
	t.Helper()
	l := &Lock{
		About:        "test",
		Files:        []File{whole("a.json", "https://example.com/a.json", "{}")},
		SpecSkips:    []Skip{{Package: pkgWebhook, Test: "TestDecodeSamples"}},
		ProgramSkips: []ProgramSkip{{Package: pkgHandlers, Test: "TestPostmortemsPageInChromium", Program: "chromium"}},
	}
	p := t.TempDir() + "/specs.lock"
	if err := l.save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// stream builds a go test -json stream: for each test, its run, message and
// result events, as cmd/test2json writes them.
func stream(t *testing.T, tests ...[3]string) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	ev := func(action, pkg, test, output string) {
		m := map[string]any{"Time": "2026-01-02T03:04:05Z", "Action": action, "Package": pkg}
		if test != "" {
			m["Test"] = test
		}
		if output != "" {
			m["Output"] = output
		}
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
	}
	ev("start", pkgWebhook, "", "")
	ev("output", pkgHandlers+"/empty", "", "?   \t"+pkgHandlers+"/empty\t[no test files]\n")
	ev("skip", pkgHandlers+"/empty", "", "") // a package without tests: not a skipped test
	for _, tc := range tests {
		pkg, test, result := tc[0], tc[1], tc[2]
		ev("run", pkg, test, "")
		ev("output", pkg, test, "=== RUN   "+test+"\n")
		if result == "skip" {
			ev("output", pkg, test, "    x_test.go:12: why "+test+" skipped\n")
		}
		if result == "fail" {
			ev("output", pkg, test, "    x_test.go:34: why "+test+" failed\n")
		}
		ev("output", pkg, test, "--- "+strings.ToUpper(result)+": "+test+" (0.00s)\n")
		ev(result, pkg, test, "")
	}
	ev("pass", pkgWebhook, "", "")
	return b.String()
}

func skipsRun(t *testing.T, input string, ci bool) (int, string, string) {
	t.Helper()
	env := func(k string) string {
		if k == "CI" && ci {
			return "true"
		}
		return ""
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"skips", "-lock", skipLock(t)}, strings.NewReader(input), &out, &errb, env)
	return code, out.String(), errb.String()
}

func TestSkips(t *testing.T) {
	cases := []struct {
		name  string
		tests [][3]string
		ci    bool
		code  int
		want  []string
	}{
		{"an allowed spec test", [][3]string{{pkgWebhook, "TestDecodeSamples", "skip"}, {pkgWebhook, "TestDecodeRejects", "pass"}}, true, 0, []string{
			"skipped  " + pkgWebhook + " TestDecodeSamples (allowed: its subject is a spec file)\n",
			"1 tests skipped (1 allowed by specs.lock)\n",
		}},
		{"a subtest of an allowed test", [][3]string{{pkgWebhook, "TestDecodeSamples/incident.resolved.json", "skip"}, {pkgWebhook, "TestDecodeSamples", "pass"}}, false, 0, []string{
			"skipped  " + pkgWebhook + " TestDecodeSamples/incident.resolved.json (allowed: its subject is a spec file)\n",
			"1 tests skipped (1 allowed by specs.lock)\n",
		}},
		{"a test not in the lock", [][3]string{{pkgWebhook, "TestDecodeSamples", "skip"}, {pkgWebhook, "TestSignatureRotation", "skip"}}, false, 1, []string{
			"skipped  " + pkgWebhook + " TestSignatureRotation: NOT ALLOWED (not in testdata/specs.lock): x_test.go:12: why TestSignatureRotation skipped\n",
			"2 tests skipped (1 allowed by specs.lock)\n",
		}},
		{"an allowed name in another package", [][3]string{{pkgHandlers, "TestDecodeSamples", "skip"}}, false, 1, []string{
			"skipped  " + pkgHandlers + " TestDecodeSamples: NOT ALLOWED (not in testdata/specs.lock)",
			"1 tests skipped (0 allowed by specs.lock)\n",
		}},
		{"a test whose name starts like an allowed one", [][3]string{{pkgWebhook, "TestDecodeSamplesAgain", "skip"}}, false, 1, []string{
			"NOT ALLOWED (not in testdata/specs.lock)",
		}},
		{"a program test outside CI", [][3]string{{pkgHandlers, "TestPostmortemsPageInChromium", "skip"}}, false, 0, []string{
			"skipped  " + pkgHandlers + " TestPostmortemsPageInChromium (allowed: needs chromium, allowed to skip outside CI)\n",
			"1 tests skipped (1 allowed by specs.lock)\n",
		}},
		{"a program test under CI", [][3]string{{pkgHandlers, "TestPostmortemsPageInChromium", "skip"}}, true, 1, []string{
			"skipped  " + pkgHandlers + " TestPostmortemsPageInChromium: NOT ALLOWED (needs chromium, which CI must have (CI=true)): x_test.go:12: why TestPostmortemsPageInChromium skipped\n",
			"1 tests skipped (0 allowed by specs.lock)\n",
		}},
		{"nothing skipped", [][3]string{{pkgWebhook, "TestDecodeSamples", "pass"}}, true, 0, []string{
			"0 tests skipped (0 allowed by specs.lock)\n",
			"1 tests passed, 0 failed\n",
		}},
		{"a failed test is shown with its output and fails the run", [][3]string{{pkgWebhook, "TestDecodeSamples", "skip"}, {pkgHandlers, "TestWebhookContract", "fail"}, {pkgHandlers, "TestReadyz", "pass"}}, false, 1, []string{
			"FAILED   " + pkgHandlers + " TestWebhookContract\n",
			"    x_test.go:34: why TestWebhookContract failed\n",
			"1 tests passed, 1 failed\n",
			"1 tests skipped (1 allowed by specs.lock)\n",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := skipsRun(t, stream(t, tc.tests...), tc.ci)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
			skips := 0
			for _, x := range tc.tests {
				if x[2] == "skip" {
					skips++
				}
			}
			if n := strings.Count(out, "skipped  "); n != skips {
				t.Fatalf("%d skipped tests listed, want %d:\n%s", n, skips, out)
			}
		})
	}
}

// Lines that are not JSON (a build error on the same stream) are passed
// over; a stream with no go test -json event at all, such as -v output, is
// refused rather than read as "nothing skipped".
func TestSkipsInput(t *testing.T) {
	mixed := "# github.com/x/y\nvet: something\n" + stream(t, [3]string{pkgWebhook, "TestSignatureRotation", "skip"})
	if code, out, _ := skipsRun(t, mixed, false); code != 1 || !strings.Contains(out, "1 tests skipped (0 allowed by specs.lock)") {
		t.Fatalf("mixed stream: exit %d\n%s", code, out)
	}
	verbose := "=== RUN   TestA\n    a_test.go:3: why\n--- SKIP: TestA (0.00s)\nPASS\nok  \texample.com/a\t0.01s\n"
	code, out, errOut := skipsRun(t, verbose, false)
	if code != 1 || !strings.Contains(errOut, "no go test -json events on stdin") || out != "" {
		t.Fatalf("-v output: exit %d\n%s%s", code, out, errOut)
	}
}
