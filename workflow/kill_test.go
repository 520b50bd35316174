package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/queue"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// runResolutionChild is the child half of TestResolutionSurvivesSIGKILL: a
// worker process running the real resolution workflow against the parent's
// simulators, until it is killed.
func runResolutionChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	opts, err := redis.ParseURL(os.Getenv("AFTERMATH_TEST_REDIS_URL"))
	if err != nil {
		fail(err)
	}
	st := store.New(redis.NewClient(opts), os.Getenv("AFTERMATH_TEST_PREFIX"))
	rl, err := rules.LoadFile(os.Getenv("AFTERMATH_TEST_RULES"))
	if err != nil {
		fail(err)
	}
	log := slog.New(slog.DiscardHandler)
	pd := pagerduty.New(pagerduty.Config{APIURL: os.Getenv("AFTERMATH_TEST_PD_URL"), Token: os.Getenv("AFTERMATH_TEST_PD_TOKEN"), From: fromEmail}, log, nil)
	jc, err := jira.New(jira.Config{BaseURL: os.Getenv("AFTERMATH_TEST_JIRA_URL"), Email: os.Getenv("AFTERMATH_TEST_JIRA_EMAIL"),
		APIToken: os.Getenv("AFTERMATH_TEST_JIRA_TOKEN"), Deployment: jira.Cloud}, log, nil)
	if err != nil {
		fail(err)
	}
	cfg := fast("doomed")
	cfg.Rules = func() *rules.Rules { return rl }
	w := queue.NewWorker(cfg, st, &Resolution{PagerDuty: pd, Jira: jc, Store: st, Log: log, Confluence: childConfluence}, log, nil)
	_ = w.Run(context.Background())
}

// A real worker process is killed with SIGKILL in the middle of the
// workflow, while a write is in flight; another worker reclaims the entry
// and finishes. Whatever the killed write did, the result is one epic, its
// four tickets, and each note once.
func TestResolutionSurvivesSIGKILL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		slow  func(e *jiraEnv) // makes a write slow enough to be killed in
		began func(e *jiraEnv) bool
	}{
		{"during the bulk create", func(e *jiraEnv) {
			e.jsim.Inject("POST /rest/api/2/issue/bulk", jiratest.Fault{Latency: 2 * time.Second})
		}, func(e *jiraEnv) bool { return e.jsim.Count("POST /rest/api/2/issue/bulk") > 0 }},
		// The first note is a member's, written under the member's lock:
		// the killed child still holds it until it expires.
		{"during a note", func(e *jiraEnv) {
			e.sim.Inject("POST /incidents/{id}/notes", pagerdutytest.Fault{Latency: 2 * time.Second, Times: 3})
		}, func(e *jiraEnv) bool { return e.sim.Count("POST /incidents/{id}/notes") > 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newJiraEnv(t, jiratest.Cloud, 10)
			realisticSEV1(e.pdEnv)
			tc.slow(e)
			rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
			if err := os.WriteFile(rulesPath, []byte(e.rulesText), 0o644); err != nil {
				t.Fatal(err)
			}
			w := &env{t: t, r: e.r, store: e.store}
			w.enqueue(resolved("EKILL", "PCHK1"))

			child := exec.Command(os.Args[0], "-test.run=^$")
			child.Env = append(os.Environ(),
				"AFTERMATH_TEST_CHILD=resolution-worker",
				"AFTERMATH_TEST_REDIS_URL="+e.r.URL, "AFTERMATH_TEST_PREFIX="+e.r.Prefix, "AFTERMATH_TEST_RULES="+rulesPath,
				"AFTERMATH_TEST_PD_URL="+e.sim.URL(), "AFTERMATH_TEST_PD_TOKEN="+e.sim.Token(),
				"AFTERMATH_TEST_JIRA_URL="+e.jsim.URL(), "AFTERMATH_TEST_JIRA_EMAIL="+e.jsim.Email(), "AFTERMATH_TEST_JIRA_TOKEN="+e.jsim.APIToken())
			child.Stderr = os.Stderr
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
			eventually(t, "the child's write is in flight", func() bool { return tc.began(e) })
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = child.Wait()

			cfg := fast("survivor")
			cfg.Rules = func() *rules.Rules { return e.pdEnv.rules }
			w.start(cfg, e.res)
			e.res.SearchLag = 500 * time.Millisecond // the killed write ended long enough ago
			deadline := time.Now().Add(45 * time.Second)
			for st := w.stats(); st.Length != 0 || st.Pending != 0; st = w.stats() {
				if time.Now().After(deadline) {
					t.Fatalf("the survivor did not finish: %+v", st)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if st := w.stats(); st.Dead != 0 {
				t.Fatalf("dead-lettered: %+v", st)
			}
			epic := e.wantOneEpic()
			if n := len(e.children(epic.Key)); n != 4 {
				t.Fatalf("%d follow-ups, want 4", n)
			}
			if n := len(e.jsim.Issues()); n != 5 {
				t.Fatalf("%d issues, want 5", n)
			}
			e.wantNotes("PCHK1", 1)
			e.wantNotes("PPAY1", 1)
			if !strings.Contains(e.ourNotes("PCHK1")[0].Content, epic.Key) {
				t.Fatal("the link-back does not name the epic")
			}
		})
	}
}
