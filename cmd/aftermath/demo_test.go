package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/e2e/e2ekit"
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
	Owner         struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"owner"`
	Epic struct {
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
	MeetingDue time.Time                 `json:"meeting_due"`
	ReviewDue  time.Time                 `json:"review_due"`
	Calls      map[string]map[string]int `json:"calls"`
	Violations []string                  `json:"violations"`
	URLs       map[string]string         `json:"urls"`
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
	if rep.FinalSeverity != "SEV-1" || rep.Owner.Name != "Alice Ng" || rep.Owner.Email != "alice@shop.example" {
		t.Errorf("severity %q owner %+v", rep.FinalSeverity, rep.Owner)
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
	// The outage recurs the earlier SEV-2 on payments-api: one note says
	// so on the primary, besides the link-back and the two member notes.
	var notes []struct{ Incident, Content string }
	recurrence := 0
	for _, n := range rep.Notes {
		if strings.Contains(n.Content, "[aftermath:recurrence:") {
			recurrence++
			if n.Incident != rep.Primary || !strings.Contains(n.Content, "/browse/PM-1") {
				t.Errorf("recurrence note %+v: want it on the primary, naming PM-1", n)
			}
			continue
		}
		notes = append(notes, struct{ Incident, Content string }{n.Incident, n.Content})
	}
	if len(notes) != 3 || recurrence != 1 {
		t.Fatalf("notes %+v, want the link-back, two member notes and one recurrence note", rep.Notes)
	}
	for _, n := range notes {
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
	for _, sys := range []string{"pagerduty", "jira"} {
		c := rep.Calls[sys]
		if c["total"] == 0 || c["total"] != c["GET"]+c["POST"]+c["PUT"]+c["DELETE"] {
			t.Errorf("calls to %s: %v", sys, c)
		}
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
		"Post-mortem epic PM-7: [SEV-1] Post-mortem:", "page written to ", "Follow-ups (", "Notes written to PagerDuty (4)",
		"Deadlines: meeting due ", "Messages sent about PM-7 (3;", "  email created  to incident-stakeholders@shop.example: Post-mortem PM-7",
		"calendar hold: DTSTART ", "  slack created  to the webhook in SLACK_WEBHOOK_URL:", ": overdue, 3 days late",
		"reminders sent (2)", "median time to Reviewed 3.0 days", "API calls: jira "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
}

// What `demo --keep-running` prints, and how the test reads it.
var (
	keepAdminLine   = regexp.MustCompile(`^\s*admin API\s+curl -H 'Authorization: Bearer ([0-9a-f]+)' (http://[^/\s]+)(/api/v1/incidents/\S+)$`)
	keepPageLine    = regexp.MustCompile(`^\s*post-mortems\s+open (http://[^/\s]+/postmortems) in a browser and log in with the admin token ([0-9a-f]+)$`)
	keepPMAPILine   = regexp.MustCompile(`^\s*post-mortems API\s+curl -H 'Authorization: Bearer ([0-9a-f]+)' (http://[^/\s]+/api/v1/postmortems)$`)
	keepPDLine      = regexp.MustCompile(`^\s*PagerDuty sim\s+curl -H 'Authorization: (Token token=[0-9a-f]+)' (http://[^/\s]+)(/incidents/\S+/notes)$`)
	keepJiraLine    = regexp.MustCompile(`^\s*Jira sim\s+curl -u '([^:']+):([^']+)' '(http://[^/']+)(/rest/api/2/search/jql\?[^']*)'$`)
	keepMessageLine = regexp.MustCompile(`^\s*messages\s+ls (\S+)\s+\(every mail`)
	keepAdvanceLine = regexp.MustCompile(`^\s*(\S+ demo advance --dir \S+ --to (in-review|reviewed))\s+# `)
	keepEpicLine    = regexp.MustCompile(`^Move post-mortem (PM-\d+) along, from another terminal:$`)
)

// keptDemo is `demo --keep-running` started by a test: what it printed,
// matched line by line, until its last line (the second advance command).
type keptDemo struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stderr  *strings.Builder
	output  func() string
	matches map[*regexp.Regexp][]string
	advance map[string][]string // in-review, reviewed: the printed command's words
}

// keepDemo starts the built binary's demo with --keep-running and reads
// its output up to the advance commands; whatever happens, the process
// does not outlive the test.
func keepDemo(t *testing.T, args ...string) *keptDemo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := demoCommand(ctx, t, append([]string{"--keep-running"}, args...)...)
	pr, pw := io.Pipe()
	k := &keptDemo{cmd: cmd, exited: make(chan struct{}), stderr: &strings.Builder{}, matches: map[*regexp.Regexp][]string{}, advance: map[string][]string{}}
	cmd.Stdout, cmd.Stderr = pw, k.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		k.waitErr = cmd.Wait()
		pw.Close()
		close(k.exited)
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
	t.Cleanup(func() { cancel(); stopReading(); <-k.exited })
	k.output = func() string { mu.Lock(); defer mu.Unlock(); return transcript.String() }

	deadline := time.After(50 * time.Second)
	for k.advance["reviewed"] == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				<-k.exited
				t.Fatalf("demo ended (%v) before printing its URLs\nstdout:\n%s\nstderr:\n%s", k.waitErr, k.output(), k.stderr.String())
			}
			for _, re := range []*regexp.Regexp{keepAdminLine, keepPageLine, keepPMAPILine, keepPDLine, keepJiraLine, keepMessageLine, keepEpicLine} {
				if m := re.FindStringSubmatch(l); m != nil {
					k.matches[re] = m
				}
			}
			if m := keepAdvanceLine.FindStringSubmatch(l); m != nil {
				if strings.ContainsAny(m[1], `'"`) {
					t.Fatalf("the test splits the printed command on spaces, but it is quoted: %s", m[1])
				}
				k.advance[m[2]] = strings.Fields(m[1])
			}
		case <-deadline:
			t.Fatalf("no URLs after 50s\nstdout:\n%s", k.output())
		}
	}
	stopReading()
	for _, re := range []*regexp.Regexp{keepAdminLine, keepPageLine, keepPMAPILine, keepPDLine, keepJiraLine, keepMessageLine, keepEpicLine} {
		if k.matches[re] == nil {
			t.Fatalf("no line matches %s\nstdout:\n%s", re, k.output())
		}
	}
	if k.advance["in-review"] == nil {
		t.Fatalf("no demo advance --to in-review line\nstdout:\n%s", k.output())
	}
	return k
}

// interrupt sends Ctrl-C (SIGINT) and wants an exit 0 within 10 seconds.
func (k *keptDemo) interrupt(t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := k.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-k.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("demo still running 10s after SIGINT\nstdout:\n%s", k.output())
	}
	if k.waitErr != nil {
		t.Fatalf("demo after SIGINT: %v (want exit 0) after %s\nstderr:\n%s", k.waitErr, time.Since(start), k.stderr.String())
	}
	t.Logf("exited 0 %s after SIGINT", time.Since(start).Round(time.Millisecond))
}

// `demo --keep-running` keeps everything up after the report: the URLs it
// prints answer (the admin API with the printed token, and only with it;
// the overview with the demo's post-mortem, the late one overdue and the
// median to Reviewed; each simulator's state with its credentials), and
// Ctrl-C (SIGINT) makes it exit 0 within seconds, leaving nothing
// listening on those addresses.
func TestDemoBinaryKeepRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	k := keepDemo(t)
	admin, page, pmAPI, pd, jira := k.matches[keepAdminLine], k.matches[keepPageLine], k.matches[keepPMAPILine], k.matches[keepPDLine], k.matches[keepJiraLine]
	epic := k.matches[keepEpicLine][1]

	// The admin API: the incident the demo processed, with the token only.
	adminURL := admin[2] + admin[3]
	if code, body := demoGet(t, adminURL, "Bearer "+admin[1], nil); code != http.StatusOK || !strings.Contains(body, "Q1CHECKOUT502") {
		t.Errorf("GET %s with the printed token: %d %s", adminURL, code, body)
	}
	if code, body := demoGet(t, adminURL, "Bearer wrong", nil); code != http.StatusUnauthorized {
		t.Errorf("GET %s with a wrong token: %d %s", adminURL, code, body)
	}
	// The managers' overview shows the demo's post-mortem: the page with
	// the printed token (without it, the login page and no data), with the
	// late one's row overdue by 3 days and the median to Reviewed of the
	// Reviewed one; and the API with its epic and the follow-ups the
	// workflow registered.
	if code, body := demoGet(t, page[1], "", nil); code != http.StatusOK || !strings.Contains(body, `action="/postmortems/login"`) || strings.Contains(body, epic) {
		t.Errorf("GET %s without the token: %d %s", page[1], code, body)
	}
	code, body := demoGet(t, page[1], "Bearer "+page[2], nil)
	for _, want := range []string{`data-incident="Q1CHECKOUT502"`, "/browse/" + epic, `<tr class="overdue" data-incident="Q5EMAILDELAY">`,
		`overdue 3 days`, `<strong>1</strong> overdue`, `median <strong>3.0 days</strong> to Reviewed`} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s with the token: %d, lacks %q:\n%s", page[1], code, want, body)
		}
	}
	code, body = demoGet(t, pmAPI[2], "Bearer "+pmAPI[1], nil)
	var overview struct {
		Postmortems []struct {
			Incident  string   `json:"incident"`
			EpicKey   string   `json:"epic_key"`
			Status    string   `json:"status"`
			Followups []string `json:"followups"`
		} `json:"postmortems"`
	}
	err := json.Unmarshal([]byte(body), &overview)
	i := slices.IndexFunc(overview.Postmortems, func(p struct {
		Incident  string   `json:"incident"`
		EpicKey   string   `json:"epic_key"`
		Status    string   `json:"status"`
		Followups []string `json:"followups"`
	}) bool {
		return p.Incident == "Q1CHECKOUT502"
	})
	if code != http.StatusOK || err != nil || len(overview.Postmortems) != 3 || i < 0 || overview.Postmortems[i].EpicKey != epic || len(overview.Postmortems[i].Followups) == 0 {
		t.Errorf("GET %s: %d %v %s", pmAPI[2], code, err, body)
	}
	// The simulators' state: the primary's notes, among them aftermath's
	// link to the epic, and the epic in the project's issues.
	if code, body := demoGet(t, pd[2]+pd[3], pd[1], nil); code != http.StatusOK || !strings.Contains(body, "/browse/"+epic) {
		t.Errorf("GET %s%s: %d %s", pd[2], pd[3], code, body)
	}
	if code, body := demoGet(t, jira[3]+jira[4], "", url.UserPassword(jira[1], jira[2])); code != http.StatusOK || !strings.Contains(body, `"key":"`+epic+`"`) {
		t.Errorf("GET %s%s: %d %s", jira[3], jira[4], code, body)
	}

	k.interrupt(t)
	for name, base := range map[string]string{"aftermath": admin[2], "PagerDuty simulator": pd[2], "Jira simulator": jira[3]} {
		host := strings.TrimPrefix(base, "http://")
		if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
			c.Close()
			t.Errorf("%s (%s) still listens after the demo exited", name, host)
		}
	}
}

// The lifecycle, seen: the two `demo advance` commands a kept demo prints
// move its epic in the Jira simulator to In Review (aftermath comments on
// the page's language: the blame-shaped phrase in a note) and to Reviewed
// (the Reviewed message goes by email to the owner and the stakeholders
// and to Slack, kept in the printed messages folder; the reminders stop);
// the overview shows it Reviewed. Once the demo exits, advance says no
// demo runs there.
func TestDemoAdvance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	k := keepDemo(t)
	epic, msgDir, pmAPI := k.matches[keepEpicLine][1], k.matches[keepMessageLine][1], k.matches[keepPMAPILine]
	advance := func(words []string, extra ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, words[0], append(words[1:], extra...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := advance(k.advance["in-review"])
	if err != nil {
		t.Fatalf("%v: %v\n%s", k.advance["in-review"], err, out)
	}
	for _, want := range []string{"Moved " + epic + " from To Do to In Review in the Jira simulator.", `aftermath answered "updated"`,
		"aftermath's language review on " + epic, `* "forgot to": `} {
		if !strings.Contains(out, want) {
			t.Errorf("advance --to in-review lacks %q:\n%s", want, out)
		}
	}

	before, _ := os.ReadDir(msgDir)
	out, err = advance(k.advance["reviewed"])
	if err != nil {
		t.Fatalf("%v: %v\n%s", k.advance["reviewed"], err, out)
	}
	for _, want := range []string{"Moved " + epic + " from In Review to Reviewed", "The Reviewed message went out (3):",
		"  email to <alice@shop.example>: Reviewed: post-mortem " + epic, "  email to <incident-stakeholders@shop.example>: Reviewed: post-mortem " + epic,
		"  slack to the webhook in SLACK_WEBHOOK_URL: Post-mortem " + epic + " is Reviewed",
		"Reminders stop: " + epic + " is Reviewed; before the move the review reminder due ", "none is now."} {
		if !strings.Contains(out, want) {
			t.Errorf("advance --to reviewed lacks %q:\n%s", want, out)
		}
	}
	// What it printed is what the sink and the receiver kept.
	after, _ := os.ReadDir(msgDir)
	reviewed := 0
	for _, e := range after {
		if slices.ContainsFunc(before, func(b os.DirEntry) bool { return b.Name() == e.Name() }) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(msgDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "Subject: Reviewed: post-mortem "+epic) || strings.Contains(string(b), "Post-mortem "+epic+" is Reviewed") {
			reviewed++
		}
	}
	if reviewed != 3 || len(after)-len(before) != 3 {
		t.Errorf("%d new messages in %s, %d of them the Reviewed message; want 3", len(after)-len(before), msgDir, reviewed)
	}
	if code, body := demoGet(t, pmAPI[2]+"?status=Reviewed", "Bearer "+pmAPI[1], nil); code != http.StatusOK || !strings.Contains(body, `"epic_key":"`+epic+`"`) {
		t.Errorf("GET %s?status=Reviewed: %d %s", pmAPI[2], code, body)
	}
	if out, err := advance(k.advance["reviewed"]); err != nil || !strings.Contains(out, epic+" is Reviewed already") {
		t.Errorf("advance to where the epic is: %v\n%s", err, out)
	}

	k.interrupt(t)
	out, err = advance(k.advance["reviewed"])
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "no demo keeps running there") {
		t.Errorf("advance after the demo exited: %v\n%s", err, out)
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
