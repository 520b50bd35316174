package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/app"
	"github.com/aftermath-dev/aftermath/e2e/e2ekit"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/internal/testspecs"
	"github.com/aftermath-dev/aftermath/internal/testutil"
)

// TestMain lets a test start this binary as the real command: with
// AFTERMATH_TEST_MAIN set, the test binary runs main's run() instead of tests.
func TestMain(m *testing.M) {
	if args := os.Getenv("AFTERMATH_TEST_MAIN"); args != "" {
		os.Exit(run(strings.Fields(args), environ(), os.Stdout, os.Stderr))
	}
	code := m.Run()
	e2ekit.RemoveBinary() // built by the demo tests
	os.Exit(code)
}

// serve names every bad setting at once, serve's own requirements (the
// webhook secrets) beside the rest, not one round at a time.
func TestServeNamesEveryBadSettingAtOnce(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{"AFTERMATH_ADMIN_TOKEN": "short", "REDIS_MODE": "bogus"}
	if code := run([]string{"serve"}, env, &stdout, &stderr); code != 2 {
		t.Fatalf("exit code %d, want 2 (stderr %q)", code, stderr.String())
	}
	for _, v := range []string{"REDIS_MODE", "AFTERMATH_ADMIN_TOKEN", "PAGERDUTY_WEBHOOK_SECRETS"} {
		if !strings.Contains(stderr.String(), "aftermath: "+v+": ") {
			t.Errorf("stderr does not name %s:\n%s", v, stderr.String())
		}
	}
}

// serve --help says what it reads from the environment, the required
// secret first: an operator with the image has no README at hand.
func TestServeHelpNamesTheEnvironment(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"serve", "--help"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, v := range []string{"PAGERDUTY_WEBHOOK_SECRETS     required", "PAGERDUTY_API_TOKEN", "JIRA_BASE_URL", "REDIS_URL", "AFTERMATH_ADMIN_TOKEN"} {
		if !strings.Contains(stdout.String(), v) {
			t.Errorf("serve --help does not name %s:\n%s", v, stdout.String())
		}
	}
}

func TestConfigErrorsExit2WithOneLine(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no secrets", map[string]string{}, "aftermath: PAGERDUTY_WEBHOOK_SECRETS: required by serve"},
		{"bad listen address", map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "AFTERMATH_LISTEN_ADDR": "nope"}, "aftermath: AFTERMATH_LISTEN_ADDR: \"nope\" is not host:port"},
		{"bad redis url with password", map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "REDIS_URL": "redis://:hunter2@[oops"}, "aftermath: REDIS_URL: not a valid"},
		{"bad dry run", map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "AFTERMATH_DRY_RUN": "sometimes"}, "aftermath: AFTERMATH_DRY_RUN: \"sometimes\" is not true or false"},
		{"cluster without url", map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "REDIS_MODE": "cluster"}, "aftermath: REDIS_MODE: cluster needs REDIS_URL"},
		{"sentinel without master", map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "REDIS_MODE": "sentinel", "REDIS_URL": "redis://:hunter2@s1:26379"}, "aftermath: REDIS_SENTINEL_MASTER: required when REDIS_MODE=sentinel"},
		{"bad cluster url with password", map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "REDIS_MODE": "cluster", "REDIS_URL": "redis://:hunter2@n1:6379?addr=hunter2"}, "aftermath: REDIS_URL: not a valid Redis Cluster URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"serve"}, tc.env, &stdout, &stderr); code != 2 {
				t.Fatalf("exit code %d, want 2 (stderr %q)", code, stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
				t.Fatalf("stderr = %q, want one line starting %q", stderr.String(), tc.want)
			}
			if strings.Contains(stderr.String(), "hunter2") {
				t.Fatal("the Redis password was printed")
			}
		})
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"serve", "--roles", "cook"}, {"serve", "--workers", "0"}, {"serve", "--log-level", "loud"}, {"serve", "--nope"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s"}, &stdout, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, stderr.String())
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, nil, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "aftermath ") || strings.Contains(stdout.String(), "Usage:") {
			t.Fatalf("%v: %d %q", args, code, stdout.String())
		}
	}
}

// every command of the table, groups and the top level included, by the
// words that call it.
func everyCommand() [][]string {
	var out [][]string
	var walk func(c *command, path []string)
	walk = func(c *command, path []string) {
		out = append(out, path)
		for _, s := range c.subs {
			walk(s, strings.Fields(s.name))
		}
	}
	walk(commandTable(), nil)
	return out
}

// helpBlock checks that out is one usage block of the command called by
// path: one Usage: line naming it, and each of its flags.
func helpBlock(t *testing.T, path []string, out string) {
	t.Helper()
	c := find(commandTable(), path)
	if n := strings.Count(out, "Usage:"); n != 1 {
		t.Errorf("%d Usage: lines, want 1:\n%s", n, out)
	}
	if !strings.HasPrefix(out, "Usage:\n  "+strings.TrimSpace("aftermath "+strings.Join(path, " "))) {
		t.Errorf("the block does not start with the command's usage:\n%s", out)
	}
	if !strings.Contains(out, sentence(c.about)) {
		t.Errorf("the block lacks the description %q:\n%s", c.about, out)
	}
	if fs, _ := c.flagSet(); fs != nil {
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(out, "  --"+f.Name) || !strings.Contains(out, f.Usage) {
				t.Errorf("flag --%s is not in the block:\n%s", f.Name, out)
			}
		})
	}
}

// -h and --help after any command, anywhere after it, and `aftermath help
// COMMAND` print that command's one usage block on stdout and exit 0;
// nothing runs.
func TestHelpForEveryCommand(t *testing.T) {
	cmds := everyCommand()
	if len(cmds) < 10 {
		t.Fatalf("only %d commands in the table: %v", len(cmds), cmds)
	}
	for _, path := range cmds {
		for _, args := range [][]string{
			append(slices.Clone(path), "--help"),
			append(slices.Clone(path), "-h"),
			append([]string{"help"}, path...),
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				// An environment that would make serve start, were it run.
				env := map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "AFTERMATH_LISTEN_ADDR": "127.0.0.1:0"}
				if code := run(args, env, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
					t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, stderr.String())
				}
				helpBlock(t, path, stdout.String())
			})
		}
	}
	// Anywhere after the command, even after its arguments or a bad flag.
	for _, args := range [][]string{
		{"rules", "check", "missing.yaml", "--help"},
		{"plan", "--incident", "Q1ABCDEF", "-h"},
		{"replay", "--since", "72h", "--yes", "--help"},
		{"serve", "--nope", "--help"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, nil, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
			continue
		}
		helpBlock(t, args[:firstFlag(args)], stdout.String())
	}
	var stdout bytes.Buffer
	run([]string{"version", "--help"}, nil, &stdout, io.Discard)
	if strings.Contains(stdout.String(), "aftermath "+app.Version+" (") {
		t.Errorf("version --help printed the version:\n%s", stdout.String())
	}
}

// firstFlag is the index of the first argument that is a flag or a file:
// the words before it name the command.
func firstFlag(args []string) int {
	c := commandTable()
	for i, a := range args {
		if c = c.sub(a); c == nil {
			return i
		}
	}
	return len(args)
}

// The real process exits with the codes run returns.
func TestHelpAndUsageExitCodesOfTheProcess(t *testing.T) {
	for args, want := range map[string]int{"rules --help": 0, "rules check --help": 0, "serve --nope": 2, "plan": 2} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "AFTERMATH_TEST_MAIN="+args)
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want || strings.Count(string(out), "Usage:") != 1 {
			t.Errorf("aftermath %s: exit %d, want %d; output:\n%s", args, code, want, out)
		}
	}
}

// Unknown flags, missing or extra arguments and unknown commands exit 2
// with what is wrong and the command's usage block on stderr; nothing on
// stdout, nothing run.
func TestUsageErrorsPrintTheUsage(t *testing.T) {
	cases := []struct {
		args  []string
		usage []string // the command whose block follows
		want  string
	}{
		{nil, nil, "aftermath: want a command"},
		{[]string{"frobnicate"}, nil, `aftermath: unknown command "frobnicate"`},
		{[]string{"rules"}, []string{"rules"}, "aftermath rules: want a command"},
		{[]string{"rules", "lint"}, []string{"rules"}, `aftermath rules: unknown command "lint"`},
		{[]string{"rules", "check", "a", "b"}, []string{"rules", "check"}, `aftermath rules check: unexpected argument "b"`},
		{[]string{"rules", "explain"}, []string{"rules", "explain"}, "aftermath rules explain: --incident-json is required"},
		{[]string{"plan"}, []string{"plan"}, "aftermath plan: --incident is required"},
		{[]string{"plan", "Q1ABCDEF"}, []string{"plan"}, `aftermath plan: unexpected argument "Q1ABCDEF"`},
		{[]string{"replay"}, []string{"replay"}, "aftermath replay: want one of --incident, --since or --dead-letters"},
		{[]string{"replay", "--incident", "Q1", "--dead-letters"}, []string{"replay"}, "aftermath replay: --incident, --since and --dead-letters do not go together"},
		{[]string{"replay", "--incident", "Q1", "--yes"}, []string{"replay"}, "aftermath replay: --yes goes with --since"},
		{[]string{"replay", "--since", "soon"}, []string{"replay"}, `aftermath replay: invalid value "soon" for flag -since`},
		{[]string{"serve", "extra"}, []string{"serve"}, `aftermath serve: unexpected argument "extra"`},
		{[]string{"version", "extra"}, []string{"version"}, `aftermath version: unexpected argument "extra"`},
		{[]string{"help", "nope"}, []string{"help"}, `aftermath help: unknown command "nope"`},
	}
	// Every command with flags refuses an unknown one.
	for _, path := range everyCommand() {
		if c := find(commandTable(), path); c.flags != nil {
			cases = append(cases, struct {
				args, usage []string
				want        string
			}{append(slices.Clone(path), "--no-such-flag"), path, c.title() + ": flag provided but not defined: -no-such-flag"})
		}
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "AFTERMATH_LISTEN_ADDR": "127.0.0.1:0"}, &stdout, &stderr); code != 2 || stdout.Len() != 0 {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing", code, stdout.String())
			}
			first, block, ok := strings.Cut(stderr.String(), "\n\n")
			if !ok || !strings.HasPrefix(first, tc.want) {
				t.Fatalf("stderr starts %q, want %q", first, tc.want)
			}
			helpBlock(t, tc.usage, block)
		})
	}
}

// samplePagerDuty is a PagerDuty simulator holding the incident of the signed
// webhook samples, resolved, at P1.
func samplePagerDuty(t *testing.T) *pagerdutytest.Server {
	t.Helper()
	sim := pagerdutytest.New(t)
	sim.SeedWebhookSample("aftermath@example.com")
	return sim
}

func freeAddr(t *testing.T) string { return e2ekit.FreeAddr(t) }

// The real process: serve, accept a webhook, then SIGTERM: it stops accepting,
// finishes, exits 0, and its log holds no secret. On each REDIS_MODE.
func TestServeProcessStopsOnSIGTERM(t *testing.T) {
	for _, mode := range redistest.Modes {
		t.Run(mode, func(t *testing.T) { serveStopsOnSIGTERM(t, redistest.ForMode(t, mode)) })
	}
}

func serveStopsOnSIGTERM(t *testing.T, r *redistest.Mode) {
	const secret = "HvPtlQNKMPpHSSqJpCdndXfo7HnGXa1pnH6w5axpxLFn9aRBNBGh4e8/HlonK5mz"
	const admin = "admin-token-NOT-IN-LOGS-0123456789abcdef"
	addr := freeAddr(t)
	sim := samplePagerDuty(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		"AFTERMATH_TEST_MAIN=serve --stop-timeout 10s",
		"PAGERDUTY_API_URL="+sim.URL(),
		"PAGERDUTY_API_TOKEN="+sim.Token(),
		"PAGERDUTY_FROM_EMAIL=aftermath@example.com",
		"AFTERMATH_LISTEN_ADDR="+addr,
		"PAGERDUTY_WEBHOOK_SECRETS="+secret,
		"AFTERMATH_ADMIN_TOKEN="+admin,
	)
	for k, v := range r.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never became ready: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	body := testspecs.Sample(t, "webhooks/incident.resolved.json")
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/pagerduty", bytes.NewReader(body))
	req.Header.Set("X-PagerDuty-Signature", testspecs.Sign(testspecs.SampleSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
	// SIGTERM once a worker is at work on the event: a graceful stop lets
	// it finish. (Sent earlier, the entry would stay queued for the next
	// process, which is right too, but not what this test is about.)
	for deadline := time.Now().Add(10 * time.Second); sim.Count("GET /incidents/{id}") == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no worker took the event\n%s", logs.String())
		}
		time.Sleep(2 * time.Millisecond)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM\n%s", logs.String())
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still accepting connections after exit")
	}
	out := logs.String()
	for _, want := range []string{`"msg":"shutting down"`, `"msg":"stopped"`, `"msg":"event processed"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if n := sim.Count("GET /incidents/{id}"); n != 1 {
		t.Errorf("the worker read the incident %d times, want 1", n)
	}
	for _, s := range []string{secret, admin, sim.Token()} {
		if strings.Contains(out, s) {
			t.Errorf("secret leaked into the log")
		}
	}
	if n := r.Client.XLen(t.Context(), fmt.Sprintf("%s:{queue}:events", r.Prefix)).Val(); n != 0 {
		t.Errorf("%d entries left in the queue after a graceful stop", n)
	}
}

func TestServeWithBadRulesExits2(t *testing.T) {
	path := t.TempDir() + "/rules.yaml"
	if err := os.WriteFile(path, []byte("version: 1\ntimezone: Mars/Base\njira:\n  projekt: PM\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve"}, map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "AFTERMATH_RULES": path, "AFTERMATH_LISTEN_ADDR": "127.0.0.1:0"}, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{
		"aftermath: AFTERMATH_RULES: " + path + ":2:11: unknown time zone \"Mars/Base\"",
		"aftermath: AFTERMATH_RULES: " + path + ":4:3: unknown key \"projekt\" in jira",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestServeWithMissingRulesFileExits2(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve"}, map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "AFTERMATH_RULES": "/nonexistent/rules.yaml", "AFTERMATH_LISTEN_ADDR": "127.0.0.1:0"}, &stdout, &stderr)
	if code != 2 || strings.TrimSpace(stderr.String()) != "aftermath: AFTERMATH_RULES: rules file /nonexistent/rules.yaml does not exist" {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestRulesCommands(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"rules", "check", "../../config/rules.example.yaml"}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), ": OK: ") {
		t.Fatalf("check example: %d %q %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	bad := "../../rules/testdata/invalid/tabs.yaml"
	if code := run([]string{"rules", "check"}, map[string]string{"AFTERMATH_RULES": bad}, &stdout, &stderr); code != 1 || !strings.HasPrefix(stdout.String(), bad+":3:1: ") {
		t.Fatalf("check $AFTERMATH_RULES: %d %q", code, stdout.String())
	}
	for _, args := range [][]string{{"rules"}, {"rules", "lint"}, {"rules", "check", "a", "b"}, {"rules", "explain"}} {
		if code := run(args, nil, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// SIGHUP reloads the rules of a running process; a bad file keeps the old
// rules and the process keeps serving.
func TestServeProcessReloadsOnSIGHUP(t *testing.T) {
	r := redistest.New(t)
	dir := t.TempDir()
	rulesPath := dir + "/rules.yaml"
	if err := os.WriteFile(rulesPath, []byte("jira:\n  project: AAA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		"AFTERMATH_TEST_MAIN=serve",
		"AFTERMATH_LISTEN_ADDR="+addr,
		"REDIS_URL="+r.URL,
		"AFTERMATH_REDIS_PREFIX="+r.Prefix,
		"AFTERMATH_RULES="+rulesPath,
		"PAGERDUTY_WEBHOOK_SECRETS=s",
	)
	logs := &testutil.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testutil.Eventually(t, "ready", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	os.WriteFile(rulesPath, []byte("jira:\n  project: BBB\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	testutil.Eventually(t, "reload logged", func() bool { return strings.Contains(logs.String(), `"msg":"rules reloaded"`) })

	os.WriteFile(rulesPath, []byte("jira:\n  project: bad key\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	testutil.Eventually(t, "failed reload logged", func() bool {
		return strings.Contains(logs.String(), rulesPath+`:2:12: \"bad key\" is not a Jira project key`)
	})
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "aftermath_rules_last_reload_success 0") {
		t.Fatal("the reload gauge should show the failed reload")
	}
	if resp, err := http.Get("http://" + addr + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("still ready on the previous rules: %v", err)
	}
}

func TestPlanCommand(t *testing.T) {
	sim := samplePagerDuty(t)
	env := map[string]string{"PAGERDUTY_API_URL": sim.URL(), "PAGERDUTY_API_TOKEN": sim.Token()}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"plan", "--incident", "Q2CKYRLH85UNN4"}, env, &stdout, &stderr); code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{
		"Plan under built-in rules (nothing was written)",
		`Incident Q2CKYRLH85UNN4 #37 "Test"`,
		"severity:  SEV-1 (priority P1 maps to SEV-1)",
		"Final severity: SEV-1 (unchanged)",
		"Timeline (3 key events):",
		"TODO items (0):",
		"postmortem       skipped",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("plan output lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, c := range sim.Calls() {
		if c.Method != "GET" {
			t.Fatalf("plan wrote to PagerDuty: %s %s", c.Method, c.Path)
		}
	}

	stdout.Reset()
	if code := run([]string{"plan", "--incident", "Q2CKYRLH85UNN4", "--json"}, env, &stdout, &stderr); code != 0 {
		t.Fatalf("plan --json: exit %d", code)
	}
	var p struct {
		Severity string `json:"severity"`
		Steps    []any  `json:"steps"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil || p.Severity != "SEV-1" || len(p.Steps) == 0 {
		t.Fatalf("plan --json = %+v %v\n%s", p, err, stdout.String())
	}

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"no token", []string{"plan", "--incident", "Q1"}, map[string]string{}, 2, "aftermath: PAGERDUTY_API_TOKEN is not set"},
		{"no incident", []string{"plan"}, env, 2, "aftermath plan: --incident is required"},
		{"unknown incident", []string{"plan", "--incident", "QNOPE"}, env, 1, "aftermath: plan incident QNOPE: severity of QNOPE: pagerduty: get incident QNOPE: HTTP 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, tc.env, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.want)
			}
			if strings.Contains(stderr.String(), sim.Token()) {
				t.Fatal("the token leaked")
			}
		})
	}
}

// A listen address another process holds is a bad setting: exit 2 and one
// line naming AFTERMATH_LISTEN_ADDR and the address, not a JSON error.
func TestServeListenAddrInUseExits2(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve"}, map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": "s", "AFTERMATH_LISTEN_ADDR": addr}, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr.String())
	}
	var plain []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var l struct{ Level string }
		if json.Unmarshal([]byte(line), &l) != nil {
			plain = append(plain, line)
		} else if l.Level == "ERROR" {
			t.Errorf("an error logged as JSON: %s", line)
		}
	}
	want := "aftermath: AFTERMATH_LISTEN_ADDR: " + addr + " is already in use"
	if len(plain) != 1 || !strings.HasPrefix(plain[0], want) {
		t.Fatalf("lines besides the log = %q, want one starting %q", plain, want)
	}
}

// A rules file that does not exist is said so, with the file's name and
// no made-up position.
func TestRulesCheckMissingFileSaysSo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"rules", "check", "missing.yaml"}, nil, &stdout, &stderr); code != 1 || stdout.String() != "rules file missing.yaml does not exist\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"rules", "explain", "--incident-json", "x.json", "--rules", "missing.yaml"}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "aftermath: rules file missing.yaml does not exist") {
		t.Fatalf("explain: exit %d, stderr %q", code, stderr.String())
	}
}

// The README's Commands section names every command of the table, so that
// a new one is documented where people look.
func TestReadmeListsEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Commands")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, path := range everyCommand() {
		if c := find(commandTable(), path); c.flags != nil && !strings.Contains(section, "| `aftermath "+c.name) {
			t.Errorf("README.md's Commands section does not list aftermath %s", c.name)
		}
	}
}
