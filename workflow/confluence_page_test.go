package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/confluence"
	"github.com/aftermath-dev/aftermath/integrations/confluence/confluencetest"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// The post-mortem page in Confluence (rules page.target: confluence), made
// by the real client against the Confluence simulator, which checks every
// Cloud request and answer against Atlassian's spec and fails the test on
// a violation.

// confluenceRulesYAML puts the page in Confluence space PM, under the
// space's home page named by its title.
const confluenceRulesYAML = `
page:
  target: confluence
confluence:
  space: PM
  parent: Post-mortems Home
`

var cfPerson = confluencetest.User{AccountID: "5b10ac8d82e05b22cc7d4ef5", Username: "dana", UserKey: "8a7f808a7b5c0001017b5c00da7a0000", DisplayName: "Dana Example"}

// confluenceEnv is a workflow whose page lives in Confluence.
type confluenceEnv struct {
	*jiraEnv
	csim *confluencetest.Server
	cc   *confluence.Client
	mode confluencetest.Mode
}

// newConfluenceEnv is a Jira Cloud workflow with the page in a Confluence
// of mode; now, when set, is the Confluence simulator's clock.
func newConfluenceEnv(t *testing.T, mode confluencetest.Mode, now func() time.Time) *confluenceEnv {
	t.Helper()
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.rulesText += confluenceRulesYAML
	rl, err := rules.Load("test-rules.yaml", []byte(e.rulesText))
	if err != nil {
		t.Fatal(err)
	}
	e.rules = rl
	csim := confluencetest.NewWithOptions(t, confluencetest.Options{Mode: mode, Now: now})
	csim.AddSpace(confluencetest.Space{Key: "PM", Name: "Post-mortems"})
	csim.AddUser(cfPerson)
	cc := newConfluenceClient(t, csim, now)
	e.res.Confluence = cc
	return &confluenceEnv{jiraEnv: e, csim: csim, cc: cc, mode: mode}
}

func newConfluenceClient(t testing.TB, csim *confluencetest.Server, now func() time.Time) *confluence.Client {
	t.Helper()
	cfg := confluence.Config{BaseURL: csim.BaseURL(), Now: now}
	if csim.Mode() == confluencetest.Cloud {
		cfg.Email, cfg.APIToken = csim.Email(), csim.APIToken()
	} else {
		cfg.PAT = csim.PAT()
	}
	log := slog.New(slog.DiscardHandler)
	cc, err := confluence.New(cfg, log, confluence.NewHTTPClient(outbound.Config{RequestsPerMinute: 60000, Burst: 100,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, nil, log))
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

// person is cfPerson's ID in the simulator's mode.
func (c *confluenceEnv) person() string {
	if c.mode == confluencetest.Cloud {
		return cfPerson.AccountID
	}
	return cfPerson.UserKey
}

// onePage checks Confluence holds exactly one post-mortem page, the
// incident's, linked both ways with the epic, and returns it.
func (c *confluenceEnv) onePage(incident string) confluencetest.Page {
	c.t.Helper()
	pages := c.csim.Pages()
	if len(pages) != 1 {
		c.t.Fatalf("%d Confluence pages, want 1: %+v", len(pages), pages)
	}
	p := pages[0]
	if p.Properties[confluence.PropertyKey] != `{"incident":"`+incident+`"}` {
		c.t.Fatalf("page not marked for %s: %v", incident, p.Properties)
	}
	epic := c.wantOneEpic()
	if p.Title != epic.Summary || p.ParentID != c.csim.HomePageID("PM") {
		c.t.Fatalf("page %q under %q; want the epic's summary %q under the home page %q", p.Title, p.ParentID, epic.Summary, c.csim.HomePageID("PM"))
	}
	url := c.cc.PageURL("PM", p.ID)
	for _, want := range []string{epic.Key, "Checkout API returning 502", "<h2>Timeline</h2>", "<h2>Action Items</h2>"} {
		if !strings.Contains(p.Versions[0].Body, want) {
			c.t.Fatalf("the page lacks %q:\n%s", want, p.Versions[0].Body)
		}
	}
	// The follow-ups are listed with their keys.
	for _, f := range c.children(epic.Key) {
		if !strings.Contains(p.Versions[0].Body, f.Key) {
			c.t.Fatalf("the page does not list the follow-up %s", f.Key)
		}
	}
	if !strings.Contains(epic.Description, "The post-mortem page is in Confluence:") || !strings.Contains(epic.Description, url) {
		c.t.Fatalf("the epic's description does not link to %s:\n%s", url, epic.Description)
	}
	if strings.Contains(epic.Description, "h2. Timeline") {
		c.t.Fatalf("the epic still holds the whole page:\n%s", epic.Description)
	}
	links := c.jsim.RemoteLinks(epic.Key)
	if len(links) != 1 || links[0].URL != url || links[0].Title != p.Title {
		c.t.Fatalf("remote links %+v, want one to %s", links, url)
	}
	return p
}

// The page is made once under three replicas working the same incident
// (each with its own delivery of the webhook), in both deployments, while
// the first create's answer is lost after Confluence made the page.
func TestConfluencePageOnceUnderReplicas(t *testing.T) {
	for _, mode := range []confluencetest.Mode{confluencetest.Cloud, confluencetest.DataCenter} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			c := newConfluenceEnv(t, mode, nil)
			realisticSEV1(c.pdEnv)
			create := map[confluencetest.Mode]string{confluencetest.Cloud: "POST /wiki/api/v2/pages", confluencetest.DataCenter: "POST /rest/api/content"}[mode]
			c.csim.Inject(create, confluencetest.Fault{Status: http.StatusBadGateway, AfterApply: true, Times: 1})
			c.res.SearchLag = 300 * time.Millisecond
			w := &env{t: t, r: c.r, store: c.store}
			for i := range 3 {
				cfg := fast(fmt.Sprint("replica-", i))
				cfg.Rules = func() *rules.Rules { return c.rules }
				w.start(cfg, c.res)
			}
			for i := range 3 {
				w.enqueue(resolved(fmt.Sprint("EV-", i), "PCHK1"))
			}
			eventually(t, "the three deliveries processed", func() bool {
				st := w.stats()
				return st.Length == 0 && st.Pending == 0 && len(c.csim.Pages()) > 0 && c.step("PCHK1", StepConfluenceLink).Status == store.StepDone
			})
			if st := w.stats(); st.Dead != 0 {
				dl, _ := c.store.DeadLetters(context.Background(), 5)
				t.Fatalf("dead-lettered: %+v", dl)
			}
			p := c.onePage("PCHK1")
			if n := c.csim.Count(create); n != 1 {
				t.Fatalf("%d creates, want 1 (the lost answer's page was found, not made again)", n)
			}
			if p.Version != 1 {
				t.Fatalf("the page was written %d times", p.Version)
			}
			e := c.wantOneEpic()
			if n := len(c.children(e.Key)); n != 4 {
				t.Fatalf("%d follow-ups, want 4", n)
			}
			c.wantNotes("PCHK1", 1)
		})
	}
}

// Confluence is down for 20 seconds (simulated: the simulator's clock):
// the post-mortem is made all the same, the epic first, saying its page is
// being made; the page step fails with Confluence's Retry-After and is
// retried until Confluence is back; then one page, and the epic links to
// it. Never a second page, whatever is retried after.
func TestConfluenceDownTwentySeconds(t *testing.T) {
	clock := testutil.NewClock(time.Now())
	c := newConfluenceEnv(t, confluencetest.Cloud, clock.Now)
	realisticSEV1(c.pdEnv)
	c.csim.Down(20 * time.Second)

	err := c.process(EventResolved, "PCHK1")
	if err == nil || IsPermanent(err) {
		t.Fatalf("with Confluence down: %v, want a retryable error", err)
	}
	var ra interface{ RetryAt() time.Time }
	if !errors.As(err, &ra) || ra.RetryAt().Sub(clock.Now()) < 20*time.Second || ra.RetryAt().Sub(clock.Now()) > 21*time.Second {
		t.Fatalf("retry at %v, want when Confluence said: 20s from now, rounded up to the second (%v)", ra, err)
	}
	epic := c.wantOneEpic()
	if !strings.Contains(epic.Description, "The post-mortem page is being made in Confluence") {
		t.Fatalf("the epic made while Confluence is down:\n%s", epic.Description)
	}
	if n := len(c.children(epic.Key)); n != 4 {
		t.Fatalf("%d follow-ups, want 4", n)
	}
	c.wantNotes("PCHK1", 1) // the link-back: the process went on
	if st := c.step("PCHK1", StepConfluencePage); st.Status != store.StepFailed || st.Refused {
		t.Fatalf("page step %+v, want failed and retryable", st)
	}

	for _, step := range []time.Duration{10 * time.Second, 5 * time.Second} {
		clock.Add(step)
		if err := c.process(EventResolved, "PCHK1"); err == nil || IsPermanent(err) {
			t.Fatalf("still down: %v", err)
		}
		if n := len(c.csim.Pages()); n != 0 {
			t.Fatalf("%d pages while Confluence is down", n)
		}
	}
	clock.Add(6 * time.Second)
	c.mustProcess(EventResolved, "PCHK1")
	p := c.onePage("PCHK1")
	// Replays change nothing.
	c.mustProcess(EventResolved, "PCHK1")
	c.mustProcess(EventResolved, "PCHK1")
	if q := c.onePage("PCHK1"); q.ID != p.ID || q.Version != 1 {
		t.Fatalf("a replay wrote the page again: %+v", q)
	}
	if n := len(c.epics()); n != 1 {
		t.Fatalf("%d epics", n)
	}
}

// A page a person has edited is never written again: when a later run has
// news for it (here, a note added to the incident changes the timeline),
// aftermath comments once on the page instead. A page only aftermath has
// saved is brought up to date.
func TestConfluenceEditedPageNeverOverwritten(t *testing.T) {
	for _, edited := range []bool{true, false} {
		t.Run(fmt.Sprint("edited=", edited), func(t *testing.T) {
			c := newConfluenceEnv(t, confluencetest.DataCenter, nil)
			realisticSEV1(c.pdEnv)
			c.mustProcess(EventResolved, "PCHK1")
			p := c.onePage("PCHK1")
			mine := p.Body
			if edited {
				mine = strings.Replace(p.Body, "<h2>What Happened</h2>", "<h2>What Happened</h2><p>Written by Dana.</p>", 1)
				if _, err := c.csim.EditAsPerson(p.ID, c.person(), mine); err != nil {
					t.Fatal(err)
				}
			}
			c.sim.Annotate("PCHK1", "PUSER03", "Late finding: the pool limit was set in 2019.", t0.Add(50*time.Minute))
			c.mustProcess(EventResolved, "PCHK1")
			c.mustProcess(EventResolved, "PCHK1") // a replay: nothing more

			got, _ := c.csim.Page(p.ID)
			switch {
			case edited:
				if got.Body != mine || got.Version != 2 {
					t.Fatalf("the person's page was overwritten: version %d", got.Version)
				}
				if len(got.Comments) != 1 || !strings.Contains(got.Comments[0].Body, "People have edited this page") || got.Comments[0].Author != c.csim.Me() {
					t.Fatalf("comments %+v, want aftermath's one", got.Comments)
				}
			default:
				if got.Version != 2 || got.Versions[1].Author != c.csim.Me() || !strings.Contains(got.Body, "pool limit was set in 2019") {
					t.Fatalf("the untouched page was not brought up to date: version %d\n%s", got.Version, got.Body)
				}
				if len(got.Comments) != 0 {
					t.Fatalf("comments on an untouched page: %+v", got.Comments)
				}
			}
			if n := len(c.csim.Pages()); n != 1 {
				t.Fatalf("%d pages", n)
			}
		})
	}
}

// aftermath's update of the page takes, but its answer is lost (a 502
// after the write), and the retry must know it took: exactly one new
// version, and no comment, also when a person saved the page after
// aftermath's update and before the retry (the page's body is then the
// person's, not aftermath's). In both deployments.
func TestConfluenceUpdateAnswerLost(t *testing.T) {
	for _, mode := range []confluencetest.Mode{confluencetest.Cloud, confluencetest.DataCenter} {
		for _, edited := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/edited=%v", mode, edited), func(t *testing.T) {
				t.Parallel()
				c := newConfluenceEnv(t, mode, nil)
				realisticSEV1(c.pdEnv)
				c.mustProcess(EventResolved, "PCHK1")
				p := c.onePage("PCHK1")
				c.sim.Annotate("PCHK1", "PUSER03", "Late finding: the pool limit was set in 2019.", t0.Add(50*time.Minute))
				put := map[confluencetest.Mode]string{confluencetest.Cloud: "PUT /wiki/api/v2/pages/{id}", confluencetest.DataCenter: "PUT /rest/api/content/{id}"}[mode]
				c.csim.Inject(put, confluencetest.Fault{Status: http.StatusBadGateway, AfterApply: true, Times: 1})
				if err := c.process(EventResolved, "PCHK1"); err == nil || IsPermanent(err) {
					t.Fatalf("the update's answer lost: %v, want a retryable error", err)
				}
				got, _ := c.csim.Page(p.ID)
				if got.Version != 2 || !strings.Contains(got.Body, "pool limit was set in 2019") {
					t.Fatalf("the lost answer's update did not take: version %d", got.Version)
				}
				want := got.Body
				if edited {
					want = strings.Replace(got.Body, "<h2>What Happened</h2>", "<h2>What Happened</h2><p>Written by Dana.</p>", 1)
					if _, err := c.csim.EditAsPerson(p.ID, c.person(), want); err != nil {
						t.Fatal(err)
					}
				}
				c.mustProcess(EventResolved, "PCHK1")
				c.mustProcess(EventResolved, "PCHK1") // a replay: nothing more

				got, _ = c.csim.Page(p.ID)
				wantVersion := map[bool]int{false: 2, true: 3}[edited]
				if got.Version != wantVersion || got.Body != want || got.Versions[1].Author != c.csim.Me() {
					t.Fatalf("version %d, want %d: the update was written again or the person's save overwritten", got.Version, wantVersion)
				}
				if n := c.csim.Count(put); n != 1 {
					t.Fatalf("%d updates sent, want 1", n)
				}
				if len(got.Comments) != 0 {
					t.Fatalf("comments %+v: the page has the news already", got.Comments)
				}
				if st := c.step("PCHK1", StepConfluencePage); st.Status != store.StepDone {
					t.Fatalf("page step %+v", st)
				}
			})
		}
	}
}

// A person saves the page between aftermath's read and its write: the
// update is refused (the version moved), nothing is overwritten, and
// aftermath comments instead.
func TestConfluenceVersionMovedMeanwhile(t *testing.T) {
	c := newConfluenceEnv(t, confluencetest.Cloud, nil)
	realisticSEV1(c.pdEnv)
	c.mustProcess(EventResolved, "PCHK1")
	p := c.onePage("PCHK1")
	c.sim.Annotate("PCHK1", "PUSER03", "Late finding: the pool limit was set in 2019.", t0.Add(50*time.Minute))
	// The person's save lands while aftermath's update is on its way.
	var once sync.Once
	edit := strings.Replace(p.Body, "<h2>Impact</h2>", "<h2>Impact</h2><p>Dana's numbers.</p>", 1)
	c.res.Confluence = racingEdit{Confluence: c.cc, before: func() {
		once.Do(func() {
			if _, err := c.csim.EditAsPerson(p.ID, c.person(), edit); err != nil {
				t.Error(err)
			}
		})
	}}
	c.mustProcess(EventResolved, "PCHK1")
	got, _ := c.csim.Page(p.ID)
	if got.Body != edit || got.Version != 2 || len(got.Comments) != 1 {
		t.Fatalf("version %d, %d comments; the person's save must stand, with one comment", got.Version, len(got.Comments))
	}
}

// The rules' title need not name the incident, so two incidents may have
// the same one. Incident A's create took effect but its answer was lost
// (so A never marked the page); B, processed meanwhile, must not take A's
// page: it makes its own, once, under the title with its ID. A's retry
// then takes its own page. In both deployments.
func TestConfluenceSharedTitleAfterACrash(t *testing.T) {
	for _, mode := range []confluencetest.Mode{confluencetest.Cloud, confluencetest.DataCenter} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			c := newConfluenceEnv(t, mode, nil)
			rl, err := rules.Load("test-rules.yaml", []byte(c.rulesText+"templates:\n  epic_summary: \"[{{ .Severity }}] Search post-mortem\"\n"))
			if err != nil {
				t.Fatal(err)
			}
			c.rules = rl
			c.incident("PSRCHA", "PSVC009", "P1", t0, 30*time.Minute)
			c.incident("PSRCHB", "PSVC009", "P1", t0.Add(6*time.Hour), 30*time.Minute)
			create := map[confluencetest.Mode]string{confluencetest.Cloud: "POST /wiki/api/v2/pages", confluencetest.DataCenter: "POST /rest/api/content"}[mode]
			c.csim.Inject(create, confluencetest.Fault{Status: http.StatusBadGateway, AfterApply: true, Times: 1})
			if err := c.process(EventResolved, "PSRCHA"); err == nil || IsPermanent(err) {
				t.Fatalf("A with its create's answer lost: %v, want a retryable error", err)
			}
			c.mustProcess(EventResolved, "PSRCHB")
			c.mustProcess(EventResolved, "PSRCHB") // a replay: nothing more
			c.mustProcess(EventResolved, "PSRCHA")

			const title = "[SEV-1] Search post-mortem"
			pages := c.csim.Pages()
			if len(pages) != 2 {
				t.Fatalf("%d pages, want A's and B's: %+v", len(pages), pages)
			}
			for i, want := range []struct{ incident, title string }{{"PSRCHA", title}, {"PSRCHB", title + " (PSRCHB)"}} {
				p := pages[i]
				if p.Properties[confluence.PropertyKey] != `{"incident":"`+want.incident+`"}` || p.Title != want.title || p.Version != 1 {
					t.Errorf("page %d: %q marked %v, version %d; want %q marked for %s", i, p.Title, p.Properties, p.Version, want.title, want.incident)
				}
				if !strings.Contains(p.Body, "/incidents/"+want.incident+`"`) {
					t.Errorf("page %d (%s's) does not link to its incident:\n%s", i, want.incident, p.Body)
				}
			}
			for _, id := range []string{"PSRCHA", "PSRCHB"} {
				if st := c.step(id, StepConfluencePage); st.Status != store.StepDone {
					t.Errorf("%s's page step: %+v", id, st)
				}
			}
		})
	}
}

// racingEdit runs before just before each UpdatePage.
type racingEdit struct {
	Confluence
	before func()
}

func (r racingEdit) UpdatePage(ctx context.Context, u confluence.PageUpdate) (confluence.Page, error) {
	r.before()
	return r.Confluence.UpdatePage(ctx, u)
}

// At In Review the language review reads the Confluence page, where people
// write the post-mortem: the epic holds only the summary.
func TestLanguageReviewReadsConfluence(t *testing.T) {
	d := newDeadlineEnv(t, confluenceRulesYAML, t0.Add(80*time.Minute), 1)
	d.stopWorker()
	csim := confluencetest.NewWithOptions(t, confluencetest.Options{Mode: confluencetest.Cloud})
	csim.AddSpace(confluencetest.Space{Key: "PM", Name: "Post-mortems"})
	csim.AddUser(cfPerson)
	d.res.Confluence = newConfluenceClient(t, csim, nil)
	d.startWorker()
	realisticSEV1(d.pdEnv)
	d.resolve("PCHK1")
	epic := d.wantOneEpic()
	pages := csim.Pages()
	if len(pages) != 1 {
		t.Fatalf("%d pages", len(pages))
	}
	body := strings.Replace(pages[0].Body, "<h3>External</h3>",
		"<h3>External</h3><p>Between 14:00 and 15:12 UTC some checkouts failed. The outage is over and no order was lost.</p>", 1)
	body = strings.Replace(body, "<h2>What Happened</h2>",
		"<h2>What Happened</h2><p>A driver upgrade went out at 14:00. Bob should have load tested it first.</p>", 1)
	if _, err := csim.EditAsPerson(pages[0].ID, cfPerson.AccountID, body); err != nil {
		t.Fatal(err)
	}
	d.moveTo(epic.Key, "In Review")
	got := d.comments(epic.Key, "Language review")
	if len(got) != 1 {
		t.Fatalf("%d language review comments, want 1: %q", len(got), got)
	}
	for _, want := range []string{"* The outage is over and no order was lost.", `* "should have": Bob should have load tested it first.`} {
		if !strings.Contains(got[0], want) {
			t.Errorf("the comment lacks %q:\n%s", want, got[0])
		}
	}
	if p, _ := csim.Page(pages[0].ID); p.Body != body || len(p.Comments) != 0 {
		t.Errorf("the review changed the Confluence page")
	}
}

// runConfluenceChild is the child half of TestConfluenceSurvivesSIGKILL: a
// worker process with the page in Confluence, until it is killed.
func runConfluenceChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	cc, err := confluence.New(confluence.Config{BaseURL: os.Getenv("AFTERMATH_TEST_CONFLUENCE_URL"), PAT: os.Getenv("AFTERMATH_TEST_CONFLUENCE_PAT")}, nil, nil)
	if err != nil {
		fail(err)
	}
	childConfluence = cc
	runResolutionChild()
}

// childConfluence is the Confluence of a child worker (nil: none).
var childConfluence Confluence

// A real worker process is killed with SIGKILL while the page's create is
// in flight in Confluence Data Center; another worker reclaims the entry
// and finishes: one page, marked, linked both ways.
func TestConfluenceSurvivesSIGKILL(t *testing.T) {
	c := newConfluenceEnv(t, confluencetest.DataCenter, nil)
	realisticSEV1(c.pdEnv)
	c.csim.Inject("POST /rest/api/content", confluencetest.Fault{Latency: 2 * time.Second, Times: 1})
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(c.rulesText), 0o644); err != nil {
		t.Fatal(err)
	}
	w := &env{t: t, r: c.r, store: c.store}
	w.enqueue(resolved("EKILL", "PCHK1"))
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(),
		"AFTERMATH_TEST_CHILD=confluence-worker",
		"AFTERMATH_TEST_REDIS_URL="+c.r.URL, "AFTERMATH_TEST_PREFIX="+c.r.Prefix, "AFTERMATH_TEST_RULES="+rulesPath,
		"AFTERMATH_TEST_PD_URL="+c.sim.URL(), "AFTERMATH_TEST_PD_TOKEN="+c.sim.Token(),
		"AFTERMATH_TEST_JIRA_URL="+c.jsim.URL(), "AFTERMATH_TEST_JIRA_EMAIL="+c.jsim.Email(), "AFTERMATH_TEST_JIRA_TOKEN="+c.jsim.APIToken(),
		"AFTERMATH_TEST_CONFLUENCE_URL="+c.csim.BaseURL(), "AFTERMATH_TEST_CONFLUENCE_PAT="+c.csim.PAT())
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	eventually(t, "the child's create is in flight", func() bool { return c.csim.Count("POST /rest/api/content") > 0 })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	cfg := fast("survivor")
	cfg.Rules = func() *rules.Rules { return c.rules }
	w.start(cfg, c.res)
	c.res.SearchLag = 500 * time.Millisecond
	deadline := time.Now().Add(45 * time.Second)
	for st := w.stats(); st.Length != 0 || st.Pending != 0; st = w.stats() {
		if time.Now().After(deadline) {
			t.Fatalf("the survivor did not finish: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := w.stats(); st.Dead != 0 {
		dl, _ := c.store.DeadLetters(context.Background(), 5)
		t.Fatalf("dead-lettered: %+v", dl)
	}
	time.Sleep(2 * time.Second) // the killed request's latency ends: a page it made would show now
	c.onePage("PCHK1")
}

// Rules reloaded to page.target: confluence on a process without
// Confluence keep the page in the epic, and the incident's record says why.
func TestConfluenceRulesWithoutConfluence(t *testing.T) {
	c := newConfluenceEnv(t, confluencetest.Cloud, nil)
	c.res.Confluence = nil
	realisticSEV1(c.pdEnv)
	c.mustProcess(EventResolved, "PCHK1")
	epic := c.wantOneEpic()
	if !strings.Contains(epic.Description, "h2. Timeline") || strings.Contains(epic.Description, "Confluence") {
		t.Fatalf("the page is not in the epic:\n%s", epic.Description)
	}
	if st := c.step("PCHK1", StepConfluencePage); st.Status != store.StepSkipped || !strings.Contains(st.Detail, "CONFLUENCE_BASE_URL") {
		t.Fatalf("step %+v", st)
	}
	if n := len(c.csim.Pages()); n != 0 {
		t.Fatalf("%d pages", n)
	}
}

// A plan (aftermath plan, a dry run) says where the Confluence page would
// go, and writes nothing; without Confluence configured it says the page
// would stay in the epic.
func TestPlanNamesTheConfluencePage(t *testing.T) {
	c := newConfluenceEnv(t, confluencetest.Cloud, nil)
	realisticSEV1(c.pdEnv)
	step := func() (PlanStep, bool) {
		t.Helper()
		plan, err := c.res.Plan(context.Background(), "PCHK1", c.rules)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range plan.Steps {
			if s.Name == StepConfluencePage {
				return s, true
			}
		}
		return PlanStep{}, false
	}
	s, ok := step()
	if !ok || s.Status != store.StepPlanned || !strings.Contains(s.Detail, `in Confluence space PM under the page "Post-mortems Home"`) {
		t.Fatalf("plan's Confluence step = %+v (found %v)", s, ok)
	}
	if n := len(c.csim.Pages()); n != 0 {
		t.Fatalf("a plan made %d pages", n)
	}
	if n := len(c.jsim.Issues()); n != 0 {
		t.Fatalf("a plan made %d issues", n)
	}
	c.res.Confluence = nil
	if s, ok := step(); !ok || s.Status != store.StepSkipped || !strings.Contains(s.Detail, "the page would stay in the epic") {
		t.Fatalf("plan's Confluence step without Confluence = %+v (found %v)", s, ok)
	}
}
