package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/e2ekit"
)

// binary builds the real command once per test process.
func binary(t *testing.T) string { return e2ekit.Binary(t) }

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
	cmd := demoCommand(ctx, t, args...)
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

// demoCommand is the built binary's demo with args, in an empty directory
// with an environment that names no Redis, no token and no specs.
func demoCommand(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"demo"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir, "TMPDIR=" + cmd.Dir}
	return cmd
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

// What `demo --keep-running` prints, and how the test reads it.
var (
	keepAdminLine = regexp.MustCompile(`^\s*admin API\s+curl -H 'Authorization: Bearer ([0-9a-f]+)' (http://[^/\s]+)(/api/v1/incidents/\S+)$`)
	keepPageLine  = regexp.MustCompile(`^\s*post-mortems\s+open (http://[^/\s]+/postmortems) in a browser and log in with the admin token ([0-9a-f]+)$`)
	keepPMAPILine = regexp.MustCompile(`^\s*post-mortems API\s+curl -H 'Authorization: Bearer ([0-9a-f]+)' (http://[^/\s]+/api/v1/postmortems)$`)
	keepPDLine    = regexp.MustCompile(`^\s*PagerDuty sim\s+curl -H 'Authorization: (Token token=[0-9a-f]+)' (http://[^/\s]+)(/incidents/\S+/notes)$`)
	keepJiraLine  = regexp.MustCompile(`^\s*Jira sim\s+curl -u '([^:']+):([^']+)' '(http://[^/']+)(/rest/api/2/search/jql\?[^']*)'$`)
)

// `demo --keep-running` keeps everything up after the report: the URLs it
// prints answer (the admin API with the printed token, and only with it;
// each simulator's state with its credentials), and Ctrl-C (SIGINT) makes
// it exit 0 within seconds, leaving nothing listening on those addresses.
func TestDemoBinaryKeepRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := demoCommand(ctx, t, "--keep-running")
	pr, pw := io.Pipe()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = pw, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		pw.Close()
		close(exited)
	}()
	// Read stdout line by line, handing each line over until the test
	// stops listening and then only keeping it (the pipe must keep flowing
	// for Wait to return); the transcript is for failure messages.
	lines, stop := make(chan string), make(chan struct{})
	stopReading := sync.OnceFunc(func() { close(stop) })
	var mu sync.Mutex
	var transcript strings.Builder
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			transcript.WriteString(sc.Text() + "\n")
			mu.Unlock()
			select {
			case lines <- sc.Text():
			case <-stop:
			}
		}
	}()
	// Whatever happens, the process does not outlive the test.
	defer func() { cancel(); stopReading(); <-exited }()
	output := func() string { mu.Lock(); defer mu.Unlock(); return transcript.String() }

	var admin, pd, jira, page, pmAPI []string
	deadline := time.After(50 * time.Second)
	for jira == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				<-exited
				t.Fatalf("demo ended (%v) before printing its URLs\nstdout:\n%s\nstderr:\n%s", waitErr, output(), stderr.String())
			}
			if m := keepAdminLine.FindStringSubmatch(l); m != nil {
				admin = m
			}
			if m := keepPDLine.FindStringSubmatch(l); m != nil {
				pd = m
			}
			if m := keepPageLine.FindStringSubmatch(l); m != nil {
				page = m
			}
			if m := keepPMAPILine.FindStringSubmatch(l); m != nil {
				pmAPI = m
			}
			if m := keepJiraLine.FindStringSubmatch(l); m != nil {
				jira = m
			}
		case <-deadline:
			t.Fatalf("no URLs after 50s\nstdout:\n%s", output())
		}
	}
	stopReading()
	if admin == nil || pd == nil || page == nil || pmAPI == nil {
		t.Fatalf("admin API, post-mortems or PagerDuty simulator line missing\nstdout:\n%s", output())
	}

	// The admin API: the incident the demo processed, with the token only.
	adminURL := admin[2] + admin[3]
	if code, body := demoGet(t, adminURL, "Bearer "+admin[1], nil); code != http.StatusOK || !strings.Contains(body, "Q1CHECKOUT502") {
		t.Errorf("GET %s with the printed token: %d %s", adminURL, code, body)
	}
	if code, body := demoGet(t, adminURL, "Bearer wrong", nil); code != http.StatusUnauthorized {
		t.Errorf("GET %s with a wrong token: %d %s", adminURL, code, body)
	}
	// The managers' overview shows the demo's post-mortem: the page with
	// the printed token (without it, the login page and no data), and the
	// API with its epic and the follow-ups the workflow registered.
	if code, body := demoGet(t, page[1], "", nil); code != http.StatusOK || !strings.Contains(body, `action="/postmortems/login"`) || strings.Contains(body, "PM-1") {
		t.Errorf("GET %s without the token: %d %s", page[1], code, body)
	}
	if code, body := demoGet(t, page[1], "Bearer "+page[2], nil); code != http.StatusOK || !strings.Contains(body, `data-incident="Q1CHECKOUT502"`) ||
		!strings.Contains(body, "/browse/PM-1") {
		t.Errorf("GET %s with the token: %d %s", page[1], code, body)
	}
	code, body := demoGet(t, pmAPI[2], "Bearer "+pmAPI[1], nil)
	var overview struct {
		Postmortems []struct {
			Incident  string   `json:"incident"`
			EpicKey   string   `json:"epic_key"`
			Status    string   `json:"status"`
			Followups []string `json:"followups"`
		} `json:"postmortems"`
	}
	if err := json.Unmarshal([]byte(body), &overview); code != http.StatusOK || err != nil || len(overview.Postmortems) != 1 ||
		overview.Postmortems[0].Incident != "Q1CHECKOUT502" || overview.Postmortems[0].EpicKey != "PM-1" || len(overview.Postmortems[0].Followups) == 0 {
		t.Errorf("GET %s: %d %v %s", pmAPI[2], code, err, body)
	}
	// The simulators' state: the primary's notes, among them aftermath's
	// link to the epic, and the epic in the project's issues.
	if code, body := demoGet(t, pd[2]+pd[3], pd[1], nil); code != http.StatusOK || !strings.Contains(body, "/browse/PM-1") {
		t.Errorf("GET %s%s: %d %s", pd[2], pd[3], code, body)
	}
	if code, body := demoGet(t, jira[3]+jira[4], "", url.UserPassword(jira[1], jira[2])); code != http.StatusOK || !strings.Contains(body, `"key":"PM-1"`) {
		t.Errorf("GET %s%s: %d %s", jira[3], jira[4], code, body)
	}

	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("demo still running 10s after SIGINT\nstdout:\n%s", output())
	}
	if waitErr != nil {
		t.Fatalf("demo after SIGINT: %v (want exit 0) after %s\nstderr:\n%s", waitErr, time.Since(start), stderr.String())
	}
	t.Logf("exited 0 %s after SIGINT", time.Since(start).Round(time.Millisecond))
	for name, base := range map[string]string{"aftermath": admin[2], "PagerDuty simulator": pd[2], "Jira simulator": jira[3]} {
		host := strings.TrimPrefix(base, "http://")
		if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
			c.Close()
			t.Errorf("%s (%s) still listens after the demo exited", name, host)
		}
	}
}

// demoGet GETs u with an Authorization header (auth) or basic credentials
// (user) and returns the status and the body, within 10 seconds.
func demoGet(t *testing.T, u, auth string, user *url.Userinfo) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if user != nil {
		pass, _ := user.Password()
		req.SetBasicAuth(user.Username(), pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, string(b)
}
