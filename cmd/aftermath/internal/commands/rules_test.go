package commands

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// root is the module's root, from this package's folder; example is the
// documented example rules file.
const (
	root    = "../../../../"
	example = root + "config/rules.example.yaml"
)

func TestRulesCheckCommand(t *testing.T) {
	var out bytes.Buffer
	if code := RulesCheck(example, &out); code != 0 || !strings.HasPrefix(out.String(), example+": OK: 3 severities") || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("example: %d %q", code, out.String())
	}
	out.Reset()
	if code := RulesCheck("", &out); code != 0 || !strings.HasPrefix(out.String(), "built-in rules: OK") {
		t.Fatalf("built-in: %d %q", code, out.String())
	}
	out.Reset()
	bad := root + "rules/testdata/invalid/many-problems.yaml"
	want, _ := os.ReadFile(root + "rules/testdata/invalid/many-problems.want")
	if code := RulesCheck(bad, &out); code != 1 {
		t.Fatalf("bad file exit %d", code)
	}
	wantOut := strings.ReplaceAll(string(want), "testdata/invalid/", root+"rules/testdata/invalid/") + bad + ": 9 problems\n"
	if out.String() != wantOut {
		t.Fatalf("bad file output:\n%s\nwant:\n%s", out.String(), wantOut)
	}
	out.Reset()
	if code := RulesCheck("nope.yaml", &out); code != 1 || out.String() != "rules file nope.yaml does not exist\n" {
		t.Fatalf("missing file: %d %q", code, out.String())
	}
}

func TestRulesExplainCommand(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "incident.json")
	write := func(s string) {
		if err := os.WriteFile(inc, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"incident":{"id":"Q1ABC","incident_number":42,"title":"Checkout is down","status":"resolved","created_at":"2026-11-20T21:50:00Z","resolved_at":"2026-11-21T03:10:00Z","service":{"id":"PSVC002","summary":"payments"},"priority":{"summary":"P2"}}}`)
	var out bytes.Buffer
	if err := RulesExplain(example, inc, time.Now(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"severity:        SEV-2 (priority P2 maps to SEV-2)",
		"process:         yes: SEV-2 is in process (SEV-1, SEV-2)",
		`grouping:        scope "checkout" (services PSVC001, PSVC002)`,
		"owner:           first that maps to a Jira user by email: 1. resolver; 2. last_assignee; 3. fallback sre-lead@example.com",
		"jira project:    PAY (a route for service PSVC002)",
		"labels:          sev-2, incident-2026-11-20, postmortem",
		// Resolved Fri 22:10 New York: Mon, Tue, Wed, (Thanksgiving), Fri, Mon.
		"meeting due:     Mon 2026-11-30 22:10 EST (5 business days after resolved Fri 2026-11-20 22:10 EST)",
		"review due:      Sun 2026-11-29 22:10 EST (24h before the meeting)",
	} {
		if !strings.Contains(out.String(), want+"\n") && !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "standard: Write and send the external message") {
		t.Error("a SEV-1-only standard follow-up was listed for SEV-2")
	}

	// Outside process: said, and why.
	write(`{"id":"Q2","incident_number":7,"title":"Disk","status":"resolved","created_at":"2026-11-20T21:50:00Z","priority":{"summary":"P3"}}`)
	out.Reset()
	if err := RulesExplain(example, inc, time.Now(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "skipped: SEV-3 is not in process (SEV-1, SEV-2); nothing would be written anywhere") {
		t.Fatalf("SEV-3:\n%s", out.String())
	}
	write(`{"incident":{"id":"Q3","status":"triggered","created_at":"2026-11-20T21:50:00Z"}}`)
	out.Reset()
	if err := RulesExplain("", inc, time.Now(), &out); err != nil || !strings.Contains(out.String(), "severity:        none: the incident has no priority") {
		t.Fatalf("no priority: %v\n%s", err, out.String())
	}
	write(`[1,2]`)
	if err := RulesExplain("", inc, time.Now(), &out); err == nil || !strings.Contains(err.Error(), "is not PagerDuty incident JSON") {
		t.Fatalf("not an incident: %v", err)
	}
}

// manifests are the Kubernetes manifests; app checks the rest of them
// against the binary.
const manifests = root + "deploy/kubernetes/"

// TestManifestRulesLoad loads the rules the ConfigMap carries as serve and
// rules check do.
func TestManifestRulesLoad(t *testing.T) {
	var out strings.Builder
	if code := RulesCheck(manifests+"rules.yaml", &out); code != 0 || !strings.Contains(out.String(), ": OK: ") {
		t.Fatalf("rules check %srules.yaml: exit %d: %s", manifests, code, out.String())
	}
}
