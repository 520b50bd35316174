package main

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// binary builds the real command once per test process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "aftermath-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "aftermath")
		buildOut, buildErr = exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// demoReport is the subset of `aftermath demo --json` the test checks.
type demoReport struct {
	Primary string `json:"primary"`
	Group   []struct {
		ID     string   `json:"id"`
		Status string   `json:"status"`
		Got    []string `json:"got"`
	} `json:"group"`
	FinalSeverity string `json:"final_severity"`
	Owner         string `json:"owner"`
	Epic          struct {
		Key     string   `json:"key"`
		Summary string   `json:"summary"`
		Labels  []string `json:"labels"`
		DueDate string   `json:"due_date"`
	} `json:"epic"`
	PageFile  string   `json:"page_file"`
	PageHead  []string `json:"page_head"`
	FollowUps []struct {
		Key     string   `json:"key"`
		Summary string   `json:"summary"`
		Labels  []string `json:"labels"`
	} `json:"follow_ups"`
	Notes []struct {
		Incident string `json:"incident"`
		Content  string `json:"content"`
	} `json:"notes"`
	MeetingDue time.Time         `json:"meeting_due"`
	ReviewDue  time.Time         `json:"review_due"`
	Calls      map[string]int    `json:"calls"`
	Violations []string          `json:"violations"`
	URLs       map[string]string `json:"urls"`
}

// runDemo runs the built binary's demo in an empty directory with an
// environment that names no Redis, no token and no specs, within limit.
func runDemo(t *testing.T, limit time.Duration, args ...string) (stdout, stderr string, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"demo"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir, "TMPDIR=" + cmd.Dir}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took = time.Since(start)
	if err != nil {
		t.Fatalf("demo %v: %v after %s\nstdout:\n%s\nstderr:\n%s", args, err, took, out.String(), errb.String())
	}
	return out.String(), errb.String(), took
}

// The README's first command: the real binary, nothing configured, no
// ../shared, finishes well under a minute with exit 0, and what it reports
// hangs together: the epic it names carries the page written to the file,
// the deadlines it prints are the epic's, every member got its note, and
// nothing is left listening.
func TestDemoBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	stdout, _, took := runDemo(t, 50*time.Second, "--json")
	if took > 30*time.Second {
		t.Errorf("demo took %s; it must be well under a minute", took)
	}
	var rep demoReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if len(rep.Violations) > 0 {
		t.Errorf("simulator violations: %q", rep.Violations)
	}
	if rep.FinalSeverity != "SEV-1" || rep.Owner != "Alice Ng <alice@shop.example>" {
		t.Errorf("severity %q owner %q", rep.FinalSeverity, rep.Owner)
	}
	// The group: three incidents, the open one resolved by aftermath,
	// each with aftermath's note, and the link-back naming the epic.
	if len(rep.Group) != 3 {
		t.Fatalf("group %+v, want 3 incidents", rep.Group)
	}
	for _, m := range rep.Group {
		if m.Status != "resolved" || !slices.ContainsFunc(m.Got, func(g string) bool { return strings.HasPrefix(g, "note: ") }) {
			t.Errorf("member %+v: want resolved with a note", m)
		}
	}
	if !slices.ContainsFunc(rep.Group, func(m struct {
		ID     string   `json:"id"`
		Status string   `json:"status"`
		Got    []string `json:"got"`
	}) bool {
		return slices.Contains(m.Got, "resolved by aftermath (it was still open)")
	}) {
		t.Error("no member was resolved by aftermath, though one was open")
	}
	if len(rep.Notes) != 3 {
		t.Fatalf("notes %+v, want the link-back and two member notes", rep.Notes)
	}
	for _, n := range rep.Notes {
		if !strings.Contains(n.Content, "/browse/"+rep.Epic.Key) {
			t.Errorf("note on %s does not link the epic %s: %q", n.Incident, rep.Epic.Key, n.Content)
		}
	}
	// The epic, its labels and due date, the deadlines.
	if !strings.HasPrefix(rep.Epic.Summary, "[SEV-1] Post-mortem: Checkout returns 502 for card payments (#4211)") {
		t.Errorf("epic summary %q", rep.Epic.Summary)
	}
	for _, l := range []string{"sev-1", "postmortem", "incident-" + rep.ReviewDue.Add(-48*time.Hour).UTC().Format("2006-01-02")} {
		if !slices.Contains(rep.Epic.Labels, l) {
			t.Errorf("epic labels %v lack %s", rep.Epic.Labels, l)
		}
	}
	if rep.Epic.DueDate != rep.MeetingDue.UTC().Format("2006-01-02") || !rep.ReviewDue.Equal(rep.MeetingDue.Add(-24*time.Hour)) {
		t.Errorf("epic due %s, meeting %s, review %s", rep.Epic.DueDate, rep.MeetingDue, rep.ReviewDue)
	}
	// The page file is the epic's description: its head is what was
	// printed, and it holds the timeline with the IC and the TODOs.
	page, err := os.ReadFile(rep.PageFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(page), strings.Join(rep.PageHead, "\n")) {
		t.Errorf("page head %q is not the start of %s", rep.PageHead, rep.PageFile)
	}
	for _, want := range []string{"h2. Timeline", "Alice Ng", "Incident commander", "Scribe", "rolled back to 2.13.2", "#4212", "#4213"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if len(rep.FollowUps) < 3 {
		t.Fatalf("follow-ups %+v", rep.FollowUps)
	}
	for _, f := range rep.FollowUps {
		if !slices.Contains(f.Labels, "sev-1") {
			t.Errorf("follow-up %s lacks sev-1: %v", f.Key, f.Labels)
		}
	}
	if !slices.ContainsFunc(rep.FollowUps, func(f struct {
		Key     string   `json:"key"`
		Summary string   `json:"summary"`
		Labels  []string `json:"labels"`
	}) bool {
		return strings.Contains(f.Summary, "payments-api memory")
	}) {
		t.Error("the TODO note did not become a follow-up")
	}
	if rep.Calls["pagerduty"] == 0 || rep.Calls["jira"] == 0 || rep.Calls["pagerduty"] != rep.Calls["pagerduty GET"]+rep.Calls["pagerduty POST"]+rep.Calls["pagerduty PUT"] {
		t.Errorf("calls %v", rep.Calls)
	}
	// Nothing left listening.
	for name, u := range rep.URLs {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := net.DialTimeout("tcp", pu.Host, time.Second); err == nil {
			c.Close()
			t.Errorf("%s (%s) still listens after the demo exited", name, u)
		}
	}
}

// The text report names what the JSON does, for people.
func TestDemoBinaryText(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	stdout, _, _ := runDemo(t, 50*time.Second)
	for _, want := range []string{"Group of 3 incidents under primary Q1CHECKOUT502", "Final severity: SEV-1", "Owner: Alice Ng",
		"Post-mortem epic PM-1: [SEV-1] Post-mortem:", "page written to ", "Follow-ups (", "Notes written to PagerDuty (3)",
		"Deadlines: meeting due ", "API calls: jira "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
}
