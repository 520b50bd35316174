package jira_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/internal/testutil"
)

// These tests drive the real client against the simulator, which checks
// every request against Atlassian's spec and fails the test on a violation.

// Distinctive credentials: finding one in a log line or an error cannot be a
// coincidence.
const (
	botEmail   = "aftermath-bot@example.com"
	apiToken   = "ATATT3x-api-token-7f3a9c1e"
	pat        = "NjM4-personal-access-token-9c2e51"
	wrongToken = "ATATT3x-wrong-token-51d0b7"
	wrongPAT   = "NjM4-wrong-pat-0be4a2"
)

var (
	ops = jiratest.Project{Key: "OPS", Name: "Operations"}
	// lookalike is found by a prefix search for alice's email, and first.
	lookalike = jiratest.User{AccountID: "5b10ac8d82e05b22cc7d4e01", Name: "alice-au", Email: "alice@example.com.au", DisplayName: "Alice Lookalike", Active: true}
	alice     = jiratest.User{AccountID: "5b10ac8d82e05b22cc7d4ef5", Name: "alice", Email: "alice@example.com", DisplayName: "Alice Example", Active: true}
	gone      = jiratest.User{AccountID: "5b10ac8d82e05b22cc7d4ef6", Name: "gone", Email: "gone@example.com", DisplayName: "Gone Example", Active: false}
	plus      = jiratest.User{AccountID: "5b10ac8d82e05b22cc7d4ef7", Name: "oncall", Email: "dev+oncall@example.com", DisplayName: "Dev On-call", Active: true}
)

var modes = []jiratest.Mode{jiratest.Cloud, jiratest.DataCenter}

// fast is the outbound client's configuration for tests: no pacing to
// speak of and backoffs in milliseconds.
var fast = outbound.Config{RequestsPerMinute: 600000, Burst: 1000, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// clock is an injectable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// setup is what a test changes of the defaults.
type setup struct {
	sim  jiratest.Options  // Mode and credentials are filled in
	cfg  jira.Config       // BaseURL and the mode's credentials unless set
	base http.RoundTripper // under the outbound client; nil for a real transport
}

// env is a seeded simulator and a client of it.
type env struct {
	sim  *jiratest.Server
	c    *jira.Client
	logs *testutil.Buffer
}

// newEnv starts a seeded simulator of mode and a client for it that logs
// JSON at debug level into env.logs.
func newEnv(t *testing.T, mode jiratest.Mode, opts ...func(*setup)) *env {
	t.Helper()
	s := setup{sim: jiratest.Options{Email: botEmail, APIToken: apiToken, PAT: pat}}
	for _, o := range opts {
		o(&s)
	}
	s.sim.Mode = mode
	sim := jiratest.NewWithOptions(t, s.sim)
	sim.AddProject(ops)
	for _, u := range []jiratest.User{lookalike, alice, gone, plus} {
		sim.AddUser(u)
	}
	cfg := s.cfg
	if cfg.BaseURL == "" {
		cfg.BaseURL = sim.URL()
	}
	if cfg.Email == "" && cfg.APIToken == "" && cfg.PAT == "" {
		if mode == jiratest.Cloud {
			cfg.Email, cfg.APIToken = sim.Email(), sim.APIToken()
		} else {
			cfg.PAT = sim.PAT()
		}
	}
	logs := &testutil.Buffer{}
	return &env{sim: sim, c: newClient(t, cfg, s.base, logs), logs: logs}
}

func newClient(t *testing.T, cfg jira.Config, base http.RoundTripper, logs *testutil.Buffer) *jira.Client {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := jira.New(cfg, log, jira.NewHTTPClient(fast, base, log))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func withConfig(f func(*jira.Config)) func(*setup) { return func(s *setup) { f(&s.cfg) } }

// forModes runs f as a subtest per mode.
func forModes(t *testing.T, f func(t *testing.T, mode jiratest.Mode)) {
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			f(t, m)
		})
	}
}

// userID is how the mode identifies a user: what an assignee takes.
func userID(mode jiratest.Mode, u jiratest.User) string {
	if mode == jiratest.Cloud {
		return u.AccountID
	}
	return u.Name
}

// searchRoute is the search the mode's client must use.
func searchRoute(mode jiratest.Mode) string {
	if mode == jiratest.Cloud {
		return "GET /rest/api/2/search/jql"
	}
	return "GET /rest/api/2/search"
}

func task(summary string, labels ...string) jira.IssueSpec {
	return jira.IssueSpec{Project: ops.Key, IssueType: "Task", Summary: summary, Labels: labels}
}

func epic(summary string, labels ...string) jira.IssueSpec {
	return jira.IssueSpec{Project: ops.Key, IssueType: "Epic", Summary: summary, EpicName: "Name of " + summary, Labels: labels}
}

func (e *env) create(t *testing.T, spec jira.IssueSpec) string {
	t.Helper()
	key, err := e.c.CreateIssue(t.Context(), spec)
	if err != nil {
		t.Fatalf("create %q: %v", spec.Summary, err)
	}
	return key
}

func (e *env) issue(t *testing.T, key string) jiratest.Issue {
	t.Helper()
	x, ok := e.sim.Issue(key)
	if !ok {
		t.Fatalf("no issue %s in the simulator", key)
	}
	return x
}

// lastBody decodes the body of the last call to route.
func (e *env) lastBody(t *testing.T, route string) map[string]any {
	t.Helper()
	var last *jiratest.Call
	for _, c := range e.sim.Calls() {
		if c.Route == route {
			last = &c
		}
	}
	if last == nil {
		t.Fatalf("no call to %s", route)
	}
	var m map[string]any
	if err := json.Unmarshal(last.Body, &m); err != nil {
		t.Fatalf("%s body %s: %v", route, last.Body, err)
	}
	return m
}

// jiraError asserts that err is a *jira.Error with this status and
// retryability, saying msg.
func jiraError(t *testing.T, err error, status int, wantRetry bool, msg string) *jira.Error {
	t.Helper()
	var je *jira.Error
	if !errors.As(err, &je) {
		t.Fatalf("error %v (%T), want *jira.Error", err, err)
	}
	if je.Status != status || je.Retryable() != wantRetry || retryable(err) != wantRetry || statusOf(err) != status {
		t.Fatalf("error %q: status %d retryable %v, want %d %v", err, je.Status, je.Retryable(), status, wantRetry)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q does not say %q", err, msg)
	}
	return je
}

func TestNewWithoutCredentials(t *testing.T) {
	c, err := jira.New(jira.Config{BaseURL: "https://jira.example.com"}, nil, nil)
	if err == nil || c != nil {
		t.Fatalf("New without credentials: %v, %v", c, err)
	}
	for _, want := range []string{"JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_PAT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestDeployment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		mode       jiratest.Mode
		deployment string // Config.Deployment
		want       string
		asks       int // serverInfo requests
	}{
		{"cloud from config", jiratest.Cloud, "cloud", jira.Cloud, 0},
		{"datacenter from config", jiratest.DataCenter, "datacenter", jira.DataCenter, 0},
		{"server from config", jiratest.DataCenter, "Server", jira.DataCenter, 0},
		{"cloud detected", jiratest.Cloud, "", jira.Cloud, 1},
		{"datacenter detected", jiratest.DataCenter, "auto", jira.DataCenter, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.mode, withConfig(func(c *jira.Config) { c.Deployment = tc.deployment }))
			for range 2 {
				d, err := e.c.Deployment(t.Context())
				if err != nil || d != tc.want {
					t.Fatalf("Deployment() = %q, %v; want %q", d, err, tc.want)
				}
			}
			if n := e.sim.Count("GET /rest/api/2/serverInfo"); n != tc.asks {
				t.Fatalf("%d serverInfo requests, want %d", n, tc.asks)
			}
			if n := e.sim.Count(""); n != tc.asks {
				t.Fatalf("%d requests, want %d", n, tc.asks)
			}
		})
	}

	t.Run("atlassian.net is cloud without asking", func(t *testing.T) {
		t.Parallel()
		refuse := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			t.Errorf("request sent: %s %s", r.Method, r.URL)
			return nil, errors.New("no network in this test")
		})
		c := newClient(t, jira.Config{BaseURL: "https://aftermath-test.atlassian.net/", Email: botEmail, APIToken: apiToken}, refuse, &testutil.Buffer{})
		if d, err := c.Deployment(t.Context()); err != nil || d != jira.Cloud {
			t.Fatalf("Deployment() = %q, %v", d, err)
		}
		if got := c.BrowseURL("OPS-7"); got != "https://aftermath-test.atlassian.net/browse/OPS-7" {
			t.Fatalf("BrowseURL = %s", got)
		}
	})

	t.Run("a failed detection is asked again", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, jiratest.DataCenter)
		e.sim.Inject("GET /rest/api/2/serverInfo", jiratest.Fault{Status: http.StatusInternalServerError, Times: 5})
		_, err := e.c.Deployment(t.Context())
		jiraError(t, err, http.StatusInternalServerError, true, "Internal server error")
		if d, err := e.c.Deployment(t.Context()); err != nil || d != jira.DataCenter {
			t.Fatalf("Deployment() after the fault = %q, %v", d, err)
		}
		if n := e.sim.Count("GET /rest/api/2/serverInfo"); n != 6 {
			t.Fatalf("%d serverInfo requests, want 5 refused and 1 answered", n)
		}
	})
}

func TestUserByEmail(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		e := newEnv(t, mode, withConfig(func(c *jira.Config) { c.Deployment = string(mode) }))
		for _, tc := range []struct {
			name  string
			email string
			want  *jiratest.User // nil: not found
			query string         // the search term Jira must receive
		}{
			// Jira also returns the lookalike, whose email starts with alice's, first.
			{"found", "alice@example.com", &alice, "alice@example.com"},
			{"not found", "nobody@example.com", nil, "nobody@example.com"},
			{"inactive", "gone@example.com", nil, "gone@example.com"},
			{"plus sign", "dev+oncall@example.com", &plus, "dev+oncall@example.com"},
			{"case-insensitive", "ALICE@Example.COM", &alice, "ALICE@Example.COM"},
			{"surrounding spaces", "  Dev+OnCall@example.com\t", &plus, "Dev+OnCall@example.com"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// A fresh client each time: the cache must not answer.
				cfg := jira.Config{BaseURL: e.sim.URL(), Email: botEmail, APIToken: apiToken, Deployment: string(mode)}
				if mode == jiratest.DataCenter {
					cfg.PAT = pat
				}
				c := newClient(t, cfg, nil, &testutil.Buffer{})
				e.sim.ResetCalls()
				u, found, err := c.UserByEmail(t.Context(), tc.email)
				if err != nil {
					t.Fatal(err)
				}
				var want jira.User
				if tc.want != nil {
					want = jira.User{ID: userID(mode, *tc.want), DisplayName: tc.want.DisplayName, Email: tc.want.Email}
				}
				if found != (tc.want != nil) || u != want {
					t.Fatalf("UserByEmail(%q) = %+v, %v; want %+v", tc.email, u, found, want)
				}
				calls := e.sim.Calls()
				if len(calls) != 1 || calls[0].Route != "GET /rest/api/2/user/search" {
					t.Fatalf("calls %+v", calls)
				}
				param := map[jiratest.Mode]string{jiratest.Cloud: "query", jiratest.DataCenter: "username"}[mode]
				if got := calls[0].Query.Get(param); got != tc.query {
					t.Fatalf("Jira was asked %s=%q, want %q", param, got, tc.query)
				}
			})
		}
	})
}

func TestUserByEmailCache(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		clk := newClock()
		e := newEnv(t, mode, withConfig(func(c *jira.Config) { c.Now, c.UserTTL = clk.Now, time.Hour }))
		const route = "GET /rest/api/2/user/search"
		lookup := func(email string, wantFound bool, wantRequests int) {
			t.Helper()
			u, found, err := e.c.UserByEmail(t.Context(), email)
			if err != nil || found != wantFound || found && u.Email != alice.Email {
				t.Fatalf("UserByEmail(%q) = %+v, %v, %v", email, u, found, err)
			}
			if n := e.sim.Count(route); n != wantRequests {
				t.Fatalf("after UserByEmail(%q): %d user searches, want %d", email, n, wantRequests)
			}
		}
		lookup(" ", false, 0) // no one has no email: nothing to ask
		lookup("alice@example.com", true, 1)
		lookup("alice@example.com", true, 1)
		lookup(" Alice@EXAMPLE.com", true, 1)
		lookup("nobody@example.com", false, 2)
		lookup("nobody@example.com", false, 2)

		// Alice leaves, nobody joins: the cache answers until it expires.
		e.sim.AddUser(jiratest.User{AccountID: alice.AccountID, Name: alice.Name, Email: alice.Email, DisplayName: alice.DisplayName, Active: false})
		e.sim.AddUser(jiratest.User{AccountID: "5b10ac8d82e05b22cc7d4ef9", Name: "nobody", Email: "nobody@example.com", DisplayName: "No Body", Active: true})
		clk.Add(59 * time.Minute)
		lookup("alice@example.com", true, 2)
		clk.Add(2 * time.Minute)
		lookup("alice@example.com", false, 3)
		if u, found, err := e.c.UserByEmail(t.Context(), "nobody@example.com"); err != nil || !found || u.DisplayName != "No Body" {
			t.Fatalf("nobody after expiry: %+v, %v, %v", u, found, err)
		}
		if n := e.sim.Count(route); n != 4 {
			t.Fatalf("%d user searches, want 4", n)
		}

		// Errors are not cached.
		e.sim.Inject(route, jiratest.Fault{Status: http.StatusUnauthorized})
		if _, _, err := e.c.UserByEmail(t.Context(), "carol@example.com"); statusOf(err) != http.StatusUnauthorized {
			t.Fatalf("err %v, want a 401", err)
		}
		if _, found, err := e.c.UserByEmail(t.Context(), "carol@example.com"); err != nil || found {
			t.Fatalf("after the 401: %v, %v", found, err)
		}
		if n := e.sim.Count(route); n != 6 {
			t.Fatalf("%d user searches, want 6", n)
		}
	})
}

func TestCreateIssue(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		e := newEnv(t, mode)
		due := time.Date(2026, 3, 14, 23, 30, 0, 0, time.FixedZone("EST", -5*3600))

		epicSpec := epic("Post-mortem: database outage", "aftermath", "pagerduty-P1")
		epicSpec.Description = "h2. Timeline\n* 09:00 paged"
		epicSpec.Assignee = userID(mode, alice)
		epicSpec.DueDate = due
		epicSpec.Priority = "Highest"
		epicKey := e.create(t, epicSpec)
		got := e.issue(t, epicKey)
		want := jiratest.Issue{
			Key: epicKey, Project: "OPS", IssueType: "Epic", Summary: epicSpec.Summary, Description: epicSpec.Description,
			Labels: []string{"aftermath", "pagerduty-P1"}, Assignee: userID(mode, alice), DueDate: "2026-03-14", Priority: "Highest",
		}
		if mode == jiratest.DataCenter {
			want.EpicName = epicSpec.EpicName
		}
		checkIssue(t, got, want)
		body := e.lastBody(t, "POST /rest/api/2/issue")["fields"].(map[string]any)
		wantAssignee := map[jiratest.Mode]map[string]any{
			jiratest.Cloud:      {"accountId": alice.AccountID},
			jiratest.DataCenter: {"name": alice.Name},
		}[mode]
		if !reflect.DeepEqual(body["assignee"], wantAssignee) {
			t.Fatalf("assignee sent as %v, want %v", body["assignee"], wantAssignee)
		}
		if _, ok := body[jiratest.EpicNameField]; ok != (mode == jiratest.DataCenter) {
			t.Fatalf("Epic Name field sent: %v (fields %v)", ok, body)
		}

		child := task("Add a replica lag alert", "aftermath")
		child.Epic = epicKey
		childKey := e.create(t, child)
		checkIssue(t, e.issue(t, childKey), jiratest.Issue{Key: childKey, Project: "OPS", IssueType: "Task", Summary: child.Summary, Labels: []string{"aftermath"}, Priority: "Medium", Parent: epicKey})
		body = e.lastBody(t, "POST /rest/api/2/issue")["fields"].(map[string]any)
		if mode == jiratest.Cloud {
			if !reflect.DeepEqual(body["parent"], map[string]any{"key": epicKey}) || body[jiratest.EpicLinkField] != nil {
				t.Fatalf("Cloud child fields %v", body)
			}
		} else if body[jiratest.EpicLinkField] != epicKey || body["parent"] != nil {
			t.Fatalf("Data Center child fields %v", body)
		}
		for _, unset := range []string{"description", "assignee", "duedate", "priority", jiratest.EpicNameField} {
			if _, ok := body[unset]; ok {
				t.Fatalf("unset %s sent: %v", unset, body)
			}
		}

		// Jira's own validation: an unknown issue type.
		before := e.sim.Count("POST /rest/api/2/issue")
		_, err := e.c.CreateIssue(t.Context(), jira.IssueSpec{Project: "OPS", IssueType: "Saga", Summary: "x"})
		msg := map[jiratest.Mode]string{jiratest.Cloud: "issuetype: Specify a valid issue type", jiratest.DataCenter: "issuetype: valid issue type is required"}[mode]
		je := jiraError(t, err, http.StatusBadRequest, false, msg)
		if je.Op != "create Saga in OPS" || !strings.Contains(je.Message, msg) {
			t.Fatalf("Op %q, Message %q", je.Op, je.Message)
		}
		// An unknown assignee, with Jira's message for the field.
		bad := task("assigned to a stranger")
		bad.Assignee = "stranger"
		_, err = e.c.CreateIssue(t.Context(), bad)
		jiraError(t, err, http.StatusBadRequest, false, "assignee: ")
		if n := e.sim.Count("POST /rest/api/2/issue"); n != before+2 {
			t.Fatalf("%d creates after two refusals, want %d: a 400 is not retried", n, before+2)
		}
		if n := len(e.sim.Issues()); n != 2 {
			t.Fatalf("%d issues, want 2", n)
		}
	})
}

// checkIssue compares what the tests set of an issue.
func checkIssue(t *testing.T, got, want jiratest.Issue) {
	t.Helper()
	g := jiratest.Issue{
		Key: got.Key, Project: got.Project, IssueType: got.IssueType, Summary: got.Summary, Description: got.Description,
		Labels: got.Labels, Assignee: got.Assignee, DueDate: got.DueDate, Priority: got.Priority, Parent: got.Parent, EpicName: got.EpicName,
	}
	if want.Labels == nil {
		want.Labels = []string{}
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("issue\n got %+v\nwant %+v", g, want)
	}
}

func TestEpicFields(t *testing.T) {
	t.Parallel()
	createFamily := func(t *testing.T, e *env) {
		t.Helper()
		k := e.create(t, epic("an epic"))
		for i := range 2 {
			child := task(fmt.Sprintf("child %d", i))
			child.Epic = k
			if p := e.issue(t, e.create(t, child)).Parent; p != k {
				t.Fatalf("child's epic %q, want %s", p, k)
			}
		}
		if _, err := e.c.Search(t.Context(), "project = OPS", 10); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("data center looks them up once", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, jiratest.DataCenter)
		createFamily(t, e)
		if n := e.sim.Count("GET /rest/api/2/field"); n != 1 {
			t.Fatalf("%d field lists, want 1", n)
		}
	})
	t.Run("data center takes them from the config", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, jiratest.DataCenter, withConfig(func(c *jira.Config) {
			c.EpicLinkField, c.EpicNameField = jiratest.EpicLinkField, jiratest.EpicNameField
		}))
		createFamily(t, e)
		if n := e.sim.Count("GET /rest/api/2/field"); n != 0 {
			t.Fatalf("%d field lists, want none", n)
		}
	})
	t.Run("cloud has none", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, jiratest.Cloud)
		createFamily(t, e)
		if n := e.sim.Count("GET /rest/api/2/field"); n != 0 {
			t.Fatalf("%d field lists, want none", n)
		}
	})

	// A Data Center Jira without Jira Software has no epic fields (the
	// simulator always has them, so a small server stands in).
	t.Run("data center without epic fields", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var seen []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Method+" "+r.URL.Path+" "+r.URL.Query().Get("jql"))
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			switch r.Method + " " + r.URL.Path {
			case "GET /rest/api/2/field":
				_, _ = w.Write([]byte(`[{"id":"summary","name":"Summary","schema":{"type":"string","system":"summary"}},{"id":"parent","name":"Parent"}]`))
			case "GET /rest/api/2/search":
				// A sub-task: its parent is not an epic.
				_, _ = w.Write([]byte(`{"startAt":0,"maxResults":50,"total":1,"issues":[{"id":"10002","key":"OPS-2","fields":{"summary":"a sub-task","issuetype":{"name":"Sub-task"},"status":{"name":"To Do"},"labels":["x"],"parent":{"id":"10001","key":"OPS-1"}}}]}`))
			default:
				w.WriteHeader(http.StatusInternalServerError)
			}
		}))
		t.Cleanup(srv.Close)
		c := newClient(t, jira.Config{BaseURL: srv.URL, PAT: pat, Deployment: "datacenter"}, nil, &testutil.Buffer{})
		child := task("child")
		child.Epic = "OPS-1"
		_, err := c.CreateIssue(t.Context(), child)
		jiraError(t, err, 0, false, "jira.epic_link_field")
		_, err = c.CreateIssue(t.Context(), epic("an epic"))
		jiraError(t, err, 0, false, "jira.epic_name_field")

		// Search still works, without epics.
		issues, err := c.Search(t.Context(), "labels = x", 10)
		want := []jira.Issue{{ID: "10002", Key: "OPS-2", Summary: "a sub-task", IssueType: "Sub-task", Status: "To Do", Labels: []string{"x"}}}
		if err != nil || !reflect.DeepEqual(issues, want) {
			t.Fatalf("Search = %+v, %v; want %+v", issues, err, want)
		}
		// The status sync's reading: the epics' statuses, no tickets
		// under them (there is no Epic Link to find them by).
		r, err := c.Tickets(t.Context(), []string{"OPS-1"})
		if err != nil || len(r.Tickets) != 0 {
			t.Fatalf("Tickets = %+v, %v", r, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if last := seen[len(seen)-1]; last != "GET /rest/api/2/search key in (OPS-1) ORDER BY key ASC" {
			t.Fatalf("the reading's search: %q", last)
		}
		for _, s := range seen {
			if strings.HasPrefix(s, "POST ") {
				t.Fatalf("sent %s without the epic fields", s)
			}
		}
	})

	t.Run("data center search fails when the field list does", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, jiratest.DataCenter, withConfig(func(c *jira.Config) { c.Deployment = "datacenter" }))
		e.sim.Inject("GET /rest/api/2/field", jiratest.Fault{Status: http.StatusServiceUnavailable, Times: 5})
		_, err := e.c.Search(t.Context(), "project = OPS", 10)
		jiraError(t, err, http.StatusServiceUnavailable, true, "Service Unavailable")
		if n := e.sim.Count("GET /rest/api/2/search"); n != 0 {
			t.Fatalf("searched %d times without the Epic Link field", n)
		}
	})
}

func TestCreateIssues(t *testing.T) {
	const route = "POST /rest/api/2/issue/bulk"
	// check asserts one result per spec, in order, each created as asked
	// except those listed in refused.
	check := func(t *testing.T, e *env, specs []jira.IssueSpec, res []jira.BulkResult, refused ...int) {
		t.Helper()
		if len(res) != len(specs) {
			t.Fatalf("%d results for %d specs", len(res), len(specs))
		}
		keys := map[string]bool{}
		for i, r := range res {
			if r.Index != i {
				t.Fatalf("result %d has Index %d", i, r.Index)
			}
			if slices.Contains(refused, i) {
				if r.Key != "" || r.Err == nil {
					t.Fatalf("result %d: %+v, want refused", i, r)
				}
				jiraError(t, r.Err, http.StatusBadRequest, false, "workflow validator")
				if want := fmt.Sprintf("item %d:", i); !strings.Contains(r.Err.Error(), want) {
					t.Fatalf("result %d: error %q does not say %q", i, r.Err, want)
				}
				continue
			}
			if r.Err != nil || r.Key == "" || keys[r.Key] {
				t.Fatalf("result %d: %+v", i, r)
			}
			keys[r.Key] = true
			if got := e.issue(t, r.Key); got.Summary != specs[i].Summary || got.Parent != specs[i].Epic {
				t.Fatalf("result %d: %s is %q (epic %q), want %q (epic %q)", i, r.Key, got.Summary, got.Parent, specs[i].Summary, specs[i].Epic)
			}
		}
		if n := len(e.sim.Issues()) - 1; n != len(keys) { // the epic
			t.Fatalf("%d issues created, want %d", n, len(keys))
		}
	}
	specs := func(e *env, t *testing.T, n int, summary func(i int) string) []jira.IssueSpec {
		k := e.create(t, epic("the epic"))
		out := make([]jira.IssueSpec, n)
		for i := range out {
			out[i] = task(summary(i), "aftermath")
			out[i].Epic = k
		}
		return out
	}
	sizes := func(e *env) []int {
		var out []int
		for _, c := range e.sim.Calls() {
			if c.Route == route {
				var b struct{ IssueUpdates []any }
				_ = json.Unmarshal(c.Body, &b)
				out = append(out, len(b.IssueUpdates))
			}
		}
		return out
	}

	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		t.Run("one refused", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.sim.RejectBulkItem("refuse me")
			in := specs(e, t, 3, func(i int) string { return map[int]string{0: "first", 1: "refuse me", 2: "third"}[i] })
			res, err := e.c.CreateIssues(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			check(t, e, in, res, 1)
			if res[0].Key != "OPS-2" || res[2].Key != "OPS-3" {
				t.Fatalf("keys %s, %s", res[0].Key, res[2].Key)
			}
		})

		t.Run("120 in requests of at most 50", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.sim.RejectBulkItem("refuse me")
			in := specs(e, t, 120, func(i int) string {
				if i == 105 {
					return "refuse me"
				}
				return fmt.Sprintf("follow-up %03d", i)
			})
			res, err := e.c.CreateIssues(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			check(t, e, in, res, 105)
			if got := sizes(e); !slices.Equal(got, []int{50, 50, 20}) {
				t.Fatalf("bulk requests of %v, want [50 50 20]", got)
			}
		})

		t.Run("all refused", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.sim.RejectBulkItem("refuse me")
			in := specs(e, t, 2, func(i int) string { return fmt.Sprintf("refuse me %d", i) })
			res, err := e.c.CreateIssues(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			check(t, e, in, res, 0, 1)
		})

		t.Run("503 on the request", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.sim.Inject(route, jiratest.Fault{Status: http.StatusServiceUnavailable})
			in := specs(e, t, 3, func(i int) string { return fmt.Sprintf("follow-up %d", i) })
			res, err := e.c.CreateIssues(t.Context(), in)
			jiraError(t, err, http.StatusServiceUnavailable, true, "Service Unavailable")
			if len(res) != 0 || len(e.sim.Issues()) != 1 || e.sim.Count(route) != 1 {
				t.Fatalf("results %+v, %d issues, %d requests", res, len(e.sim.Issues()), e.sim.Count(route))
			}
		})

		t.Run("503 on the second request", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.sim.Inject(route, jiratest.Fault{})
			e.sim.Inject(route, jiratest.Fault{Status: http.StatusServiceUnavailable})
			in := specs(e, t, 60, func(i int) string { return fmt.Sprintf("follow-up %d", i) })
			res, err := e.c.CreateIssues(t.Context(), in)
			jiraError(t, err, http.StatusServiceUnavailable, true, "Service Unavailable")
			check(t, e, in[:50], res)
			if got := sizes(e); !slices.Equal(got, []int{50, 10}) {
				t.Fatalf("bulk requests of %v, want [50 10]", got)
			}
		})
	})

	// Jira's error collection for the whole request has an "errors" map,
	// where the bulk answer has an "errors" list: the message must keep it.
	t.Run("the whole request refused", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"errorMessages":["Nothing was created."],"errors":{"project":"valid project is required"}}`))
		}))
		t.Cleanup(srv.Close)
		c := newClient(t, jira.Config{BaseURL: srv.URL, PAT: pat, Deployment: "datacenter"}, nil, &testutil.Buffer{})
		res, err := c.CreateIssues(t.Context(), []jira.IssueSpec{task("a"), task("b")})
		jiraError(t, err, http.StatusBadRequest, false, "Nothing was created.; project: valid project is required")
		if len(res) != 0 {
			t.Fatalf("results %+v", res)
		}
	})

	t.Run("nothing to create", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, jiratest.Cloud)
		if res, err := e.c.CreateIssues(t.Context(), nil); err != nil || len(res) != 0 || e.sim.Count(route) != 0 {
			t.Fatalf("CreateIssues(nil) = %+v, %v after %d requests", res, err, e.sim.Count(route))
		}
	})
}

func TestSearch(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		clk := newClock()
		e := newEnv(t, mode, func(s *setup) { s.sim.Now = clk.Now })
		epicKey := e.create(t, epic("the epic", "pagerduty-P1", "aftermath"))
		child := task("the child", "pagerduty-P1")
		child.Epic = epicKey
		childKey := e.create(t, child)
		e.create(t, task("unrelated", "pagerduty-P2"))
		e.sim.SetStatus(childKey, jiratest.StatusInProgress)

		issues, err := e.c.Search(t.Context(), `labels = "pagerduty-P1" ORDER BY created ASC`, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []jira.Issue{
			{ID: e.issue(t, epicKey).ID, Key: epicKey, Summary: "the epic", IssueType: "Epic", Status: "To Do", Labels: []string{"aftermath", "pagerduty-P1"}},
			{ID: e.issue(t, childKey).ID, Key: childKey, Summary: "the child", IssueType: "Task", Status: "In Progress", Labels: []string{"pagerduty-P1"}, Epic: epicKey},
		}
		if !reflect.DeepEqual(issues, want) {
			t.Fatalf("Search\n got %+v\nwant %+v", issues, want)
		}
		other := map[jiratest.Mode]string{jiratest.Cloud: "GET /rest/api/2/search", jiratest.DataCenter: "GET /rest/api/2/search/jql"}[mode]
		if e.sim.Count(searchRoute(mode)) != 1 || e.sim.Count(other) != 0 {
			t.Fatalf("%d searches on %s, %d on %s", e.sim.Count(searchRoute(mode)), searchRoute(mode), e.sim.Count(other), other)
		}
		var q map[string][]string
		for _, c := range e.sim.Calls() {
			if c.Route == searchRoute(mode) {
				q = c.Query
			}
		}
		epicField := map[jiratest.Mode]string{jiratest.Cloud: "parent", jiratest.DataCenter: jiratest.EpicLinkField}[mode]
		if fields := strings.Split(strings.Join(q["fields"], ","), ","); !slices.Contains(fields, epicField) || !slices.Contains(fields, "labels") {
			t.Fatalf("fields asked for: %v", q["fields"])
		}
		if got := q["maxResults"]; !slices.Equal(got, []string{"100"}) {
			t.Fatalf("maxResults %v", got)
		}

		issues, err = e.c.Search(t.Context(), `labels = "pagerduty-P1" ORDER BY created DESC`, 1)
		if err != nil || len(issues) != 1 || issues[0].Key != childKey {
			t.Fatalf("the newest one: %+v, %v", issues, err)
		}

		// Search trails writes: an issue created now is not found until the
		// index catches up.
		clk.Add(2 * time.Hour)
		e.sim.SetSearchLag(time.Minute)
		late := e.create(t, task("created while the index lags", "pagerduty-P1"))
		keys := func() []string {
			t.Helper()
			issues, err := e.c.Search(t.Context(), `labels = "pagerduty-P1" ORDER BY created ASC`, 100)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, is := range issues {
				out = append(out, is.Key)
			}
			return out
		}
		if got := keys(); !slices.Equal(got, []string{epicKey, childKey}) {
			t.Fatalf("under search lag: %v", got)
		}
		clk.Add(time.Minute + time.Second)
		if got := keys(); !slices.Equal(got, []string{epicKey, childKey, late}) {
			t.Fatalf("after the lag: %v", got)
		}

		// Jira's JQL errors.
		_, err = e.c.Search(t.Context(), `nosuchfield = x`, 10)
		jiraError(t, err, http.StatusBadRequest, false, "Field 'nosuchfield' does not exist or you do not have permission to view it.")
		_, err = e.c.Search(t.Context(), `labels = "pagerduty-P1" AND key = OPS-999`, 10)
		jiraError(t, err, http.StatusBadRequest, false, "An issue with key 'OPS-999' does not exist")
	})
}

func TestIssueEdits(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		key := e.create(t, task("to edit", "kept"))

		const desc = "h2. What happened\n* the primary failed over\n{code}select 1{code}"
		if err := e.c.UpdateDescription(ctx, key, desc); err != nil {
			t.Fatal(err)
		}
		if got := e.issue(t, key).Description; got != desc {
			t.Fatalf("description %q", got)
		}

		if cs, err := e.c.Comments(ctx, key); err != nil || len(cs) != 0 {
			t.Fatalf("Comments of a new issue: %q, %v", cs, err)
		}
		for _, body := range []string{"first [~alice]", "second\nwith a line break"} {
			if err := e.c.AddComment(ctx, key, body); err != nil {
				t.Fatal(err)
			}
		}
		if cs, err := e.c.Comments(ctx, key); err != nil || !slices.Equal(cs, []string{"second\nwith a line break", "first [~alice]"}) {
			t.Fatalf("Comments = %q, %v", cs, err)
		}

		if err := e.c.AddLabels(ctx, key, []string{"added", "kept", "pagerduty-P9"}); err != nil {
			t.Fatal(err)
		}
		if got := e.issue(t, key).Labels; !slices.Equal(got, []string{"added", "kept", "pagerduty-P9"}) {
			t.Fatalf("labels %v", got)
		}

		status := func(want string) {
			t.Helper()
			if got, err := e.c.Status(ctx, key); err != nil || got != want {
				t.Fatalf("Status = %q, %v; want %q", got, err, want)
			}
		}
		status(jiratest.StatusToDo)
		if err := e.c.Transition(ctx, key, "in review"); err != nil {
			t.Fatal(err)
		}
		status(jiratest.StatusInReview)
		if err := e.c.Transition(ctx, key, jiratest.StatusDone); err != nil {
			t.Fatal(err)
		}
		status(jiratest.StatusDone)
		moves := e.sim.Count("POST /rest/api/2/issue/{issueIdOrKey}/transitions")
		jiraError(t, e.c.Transition(ctx, key, "Closed"), 0, false, "no transition leads there")
		if n := e.sim.Count("POST /rest/api/2/issue/{issueIdOrKey}/transitions"); n != moves {
			t.Fatalf("a transition was attempted: %d", n)
		}
		status(jiratest.StatusDone)

		// An issue that does not exist.
		for name, err := range map[string]error{
			"comment":     e.c.AddComment(ctx, "OPS-999", "x"),
			"description": e.c.UpdateDescription(ctx, "OPS-999", "x"),
			"labels":      e.c.AddLabels(ctx, "OPS-999", []string{"x"}),
			"transition":  e.c.Transition(ctx, "OPS-999", "Done"),
		} {
			t.Run(name, func(t *testing.T) {
				jiraError(t, err, http.StatusNotFound, false, "Issue does not exist")
			})
		}
		if _, err := e.c.Status(ctx, "OPS-999"); statusOf(err) != http.StatusNotFound {
			t.Fatalf("Status of a missing issue: %v", err)
		}
		if _, err := e.c.Comments(ctx, "OPS-999"); statusOf(err) != http.StatusNotFound {
			t.Fatalf("Comments of a missing issue: %v", err)
		}
		// Jira refuses a label with a space; the message says so.
		jiraError(t, e.c.AddLabels(ctx, key, []string{"two words"}), http.StatusBadRequest, false, "labels: The label 'two words' contains spaces")
	})
}

func TestTransport(t *testing.T) {
	const create = "POST /rest/api/2/issue"
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		t.Run("429 on a create is waited out", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.sim.Inject(create, jiratest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"})
			key := e.create(t, task("rate limited"))
			if n, issues := e.sim.Count(create), e.sim.Issues(); n != 2 || len(issues) != 1 || issues[0].Key != key {
				t.Fatalf("%d creates, issues %+v", n, issues)
			}
			if !strings.Contains(e.logs.String(), "retrying Jira request") {
				t.Fatalf("no retry logged: %s", e.logs)
			}
		})

		t.Run("5xx on a create is not retried", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.sim.Inject(create, jiratest.Fault{Status: http.StatusInternalServerError})
			_, err := e.c.CreateIssue(t.Context(), task("server error"))
			jiraError(t, err, http.StatusInternalServerError, true, "Internal server error")
			if n := e.sim.Count(create); n != 1 || len(e.sim.Issues()) != 0 {
				t.Fatalf("%d creates, %d issues", n, len(e.sim.Issues()))
			}
		})

		t.Run("a lost answer to a create", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.sim.Inject(create, jiratest.Fault{Status: http.StatusGatewayTimeout, AfterApply: true})
			_, err := e.c.CreateIssue(t.Context(), task("created, answer lost", "pagerduty-P1"))
			jiraError(t, err, http.StatusGatewayTimeout, true, "Gateway Timeout")
			if n := e.sim.Count(create); n != 1 || len(e.sim.Issues()) != 1 {
				t.Fatalf("%d creates, %d issues", n, len(e.sim.Issues()))
			}
			// What the workflow does next: look for it.
			issues, err := e.c.Search(t.Context(), `labels = "pagerduty-P1"`, 10)
			if err != nil || len(issues) != 1 || issues[0].Summary != "created, answer lost" {
				t.Fatalf("Search = %+v, %v", issues, err)
			}
		})

		t.Run("5xx on reads is retried", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.create(t, task("findable", "pagerduty-P1"))
			e.sim.Inject(searchRoute(mode), jiratest.Fault{Status: http.StatusServiceUnavailable, Times: 2})
			if issues, err := e.c.Search(t.Context(), `labels = "pagerduty-P1"`, 10); err != nil || len(issues) != 1 {
				t.Fatalf("Search = %+v, %v", issues, err)
			}
			e.sim.Inject("GET /rest/api/2/user/search", jiratest.Fault{Status: http.StatusBadGateway, Times: 2})
			if _, found, err := e.c.UserByEmail(t.Context(), alice.Email); err != nil || !found {
				t.Fatalf("UserByEmail = %v, %v", found, err)
			}
			if s, u := e.sim.Count(searchRoute(mode)), e.sim.Count("GET /rest/api/2/user/search"); s != 3 || u != 3 {
				t.Fatalf("%d searches, %d user searches; want 3 each", s, u)
			}
		})

		t.Run("a read gives up", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.sim.Inject(searchRoute(mode), jiratest.Fault{Status: http.StatusInternalServerError, Times: 100})
			_, err := e.c.Search(t.Context(), `labels = "pagerduty-P1"`, 10)
			jiraError(t, err, http.StatusInternalServerError, true, "Internal server error")
			if n := e.sim.Count(searchRoute(mode)); n != 5 {
				t.Fatalf("%d searches, want 1 and 4 retries", n)
			}
		})

		t.Run("no answer at all", func(t *testing.T) {
			t.Parallel()
			cfg := jira.Config{
				BaseURL: hangUp(t), Email: botEmail, APIToken: apiToken, Deployment: string(mode),
				EpicLinkField: jiratest.EpicLinkField, EpicNameField: jiratest.EpicNameField,
			}
			c := newClient(t, cfg, nil, &testutil.Buffer{})
			_, err := c.CreateIssue(t.Context(), task("into the void"))
			jiraError(t, err, 0, true, "create Task in OPS")
			_, err = c.Search(t.Context(), "project = OPS", 10)
			jiraError(t, err, 0, true, "search project = OPS")
		})

		t.Run("the caller's timeout holds", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.sim.Inject("GET /rest/api/2/serverInfo", jiratest.Fault{Latency: 5 * time.Second})
			hc := jira.NewHTTPClient(fast, nil, nil)
			hc.Timeout = 200 * time.Millisecond
			cfg := jira.Config{BaseURL: e.sim.URL(), Email: botEmail, APIToken: apiToken}
			if mode == jiratest.DataCenter {
				cfg.PAT = pat
			}
			c, err := jira.New(cfg, nil, hc)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.Deployment(t.Context())
			jiraError(t, err, 0, true, "read server info")
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("gave up after %s", d)
			}
		})

		t.Run("a cancelled context", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := e.c.CreateIssue(ctx, task("never"))
			if !errors.Is(err, context.Canceled) || !retryable(err) {
				t.Fatalf("err %v", err)
			}
			if len(e.sim.Issues()) != 0 {
				t.Fatal("created with a cancelled context")
			}
		})
	})
}

// hangUp returns the URL of a server that closes every connection it
// accepts without answering.
func hangUp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

// authRecorder notes the Authorization header of every request it passes
// on.
type authRecorder struct {
	mu   sync.Mutex
	seen []string
	base http.RoundTripper
}

func (a *authRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Header.Get("Authorization"))
	a.mu.Unlock()
	return a.base.RoundTrip(r)
}

func TestAuth(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		t.Run("scheme", func(t *testing.T) {
			rec := &authRecorder{base: http.DefaultTransport}
			e := newEnv(t, mode, func(s *setup) { s.base = rec })
			e.create(t, task("authenticated", "pagerduty-P1"))
			if _, err := e.c.Search(t.Context(), `labels = "pagerduty-P1"`, 10); err != nil {
				t.Fatal(err)
			}
			want := "Bearer " + pat
			if mode == jiratest.Cloud {
				want = "Basic " + base64.StdEncoding.EncodeToString([]byte(botEmail+":"+apiToken))
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.seen) < 3 {
				t.Fatalf("%d requests seen", len(rec.seen))
			}
			for _, got := range rec.seen {
				if got != want {
					t.Fatalf("Authorization %q, want %q", got, want)
				}
			}
			for _, c := range e.sim.Calls() {
				if c.Status >= 300 {
					t.Fatalf("%s answered %d", c.Route, c.Status)
				}
			}
		})

		t.Run("wrong credentials", func(t *testing.T) {
			e := newEnv(t, mode, withConfig(func(c *jira.Config) {
				c.Deployment = string(mode)
				if mode == jiratest.Cloud {
					c.Email, c.APIToken = botEmail, wrongToken
				} else {
					c.PAT = wrongPAT
				}
			}))
			ctx := t.Context()
			// Cloud answers a line of plain text, Data Center an error collection.
			msg := map[jiratest.Mode]string{jiratest.Cloud: "Unauthorized", jiratest.DataCenter: "You are not authenticated."}[mode]
			_, _, err := e.c.UserByEmail(ctx, alice.Email)
			jiraError(t, err, http.StatusUnauthorized, false, msg)
			_, err = e.c.CreateIssue(ctx, task("x"))
			jiraError(t, err, http.StatusUnauthorized, false, msg)
			_, err = e.c.Search(ctx, "project = OPS", 10)
			jiraError(t, err, http.StatusUnauthorized, false, msg)
			if n := e.sim.Count(""); n != 3 {
				t.Fatalf("%d requests, want 3: a 401 is not retried", n)
			}
		})
	})

	t.Run("a PAT is not sent to Cloud as basic auth", func(t *testing.T) {
		t.Parallel()
		// Cloud refuses a bearer token it did not issue.
		e := newEnv(t, jiratest.Cloud, withConfig(func(c *jira.Config) { c.PAT = pat }))
		_, _, err := e.c.UserByEmail(t.Context(), alice.Email)
		jiraError(t, err, http.StatusUnauthorized, false, "Unauthorized")
	})
}

func TestSecretsStayOut(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		var errs []error
		keep := func(err error) {
			t.Helper()
			if err == nil {
				t.Fatal("no error")
			}
			errs = append(errs, err)
		}

		// Work that succeeds after logged retries.
		e.sim.Inject("GET /rest/api/2/user/search", jiratest.Fault{Status: http.StatusServiceUnavailable, Times: 2})
		if _, _, err := e.c.UserByEmail(ctx, alice.Email); err != nil {
			t.Fatal(err)
		}
		e.sim.Inject("POST /rest/api/2/issue", jiratest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"})
		e.create(t, task("made", "pagerduty-P1"))

		// Failures: Jira's, 401s, and no answer.
		e.sim.Inject("POST /rest/api/2/issue", jiratest.Fault{Status: http.StatusInternalServerError})
		_, err := e.c.CreateIssue(ctx, task("x"))
		keep(err)
		_, err = e.c.CreateIssue(ctx, jira.IssueSpec{Project: "OPS", IssueType: "Saga", Summary: "x"})
		keep(err)
		_, err = e.c.Search(ctx, "nosuchfield = 1", 10)
		keep(err)

		logs := &testutil.Buffer{}
		for _, cfg := range []jira.Config{
			{BaseURL: e.sim.URL(), Email: botEmail, APIToken: wrongToken, Deployment: string(mode)},
			{BaseURL: e.sim.URL(), PAT: wrongPAT, Deployment: string(mode)},
			{BaseURL: hangUp(t), Email: botEmail, APIToken: apiToken, Deployment: string(mode)},
			{BaseURL: hangUp(t), PAT: pat, Deployment: string(mode)},
		} {
			c := newClient(t, cfg, nil, logs)
			_, _, err := c.UserByEmail(ctx, alice.Email)
			keep(err)
			_, err = c.CreateIssue(ctx, task("x"))
			keep(err)
			_, err = c.Search(ctx, "project = OPS", 10)
			keep(err)
			keep(c.AddComment(ctx, "OPS-1", "x"))
		}

		secrets := []string{
			apiToken, pat, wrongToken, wrongPAT,
			base64.StdEncoding.EncodeToString([]byte(botEmail + ":" + apiToken)),
			base64.StdEncoding.EncodeToString([]byte(botEmail + ":" + wrongToken)),
		}
		all := e.logs.String() + logs.String()
		if !strings.Contains(all, "retrying Jira request") {
			t.Fatalf("nothing logged, so nothing checked: %s", all)
		}
		for _, s := range secrets {
			if strings.Contains(all, s) {
				t.Errorf("a log line holds the secret %q:\n%s", s, all)
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), s) {
					t.Errorf("error %q holds the secret %q", err, s)
				}
			}
		}
	})
}

// retryable is what the workflow asks of an error: its Retryable method, and
// yes for errors without one (a cancelled context).
func retryable(err error) bool {
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	return true
}

// statusOf is the HTTP status of a Jira error, or 0.
func statusOf(err error) int {
	var e *jira.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// A comment is aftermath's only if aftermath's account wrote it: a person
// quoting the marker does not make it so. Every page of comments is read,
// oldest first, and the marker must be whole (that of P1 is not in that of
// P12). Who aftermath is is asked once, and only when a comment carries
// the marker.
func TestHasCommentIsAftermathsOwnOnEveryPage(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		key := e.create(t, task("epic"))
		aliceID := alice.AccountID
		if mode == jiratest.DataCenter {
			aliceID = alice.Name
		}
		const marker = "aftermath-ref-owner-P1"
		has := func(marker string) bool {
			t.Helper()
			found, err := e.c.HasComment(ctx, key, marker)
			if err != nil {
				t.Fatal(err)
			}
			return found
		}
		e.sim.AddComment(key, aliceID, "Done: see aftermath-ref-owner-P12")
		if has(marker) {
			t.Error("the marker of P12 passed for that of P1")
		}
		if n := e.sim.Count("GET /rest/api/2/myself"); n != 0 {
			t.Errorf("%d requests for who aftermath is, with no comment carrying the marker", n)
		}
		e.sim.AddComment(key, aliceID, "Copied from the other epic:\n"+marker)
		if has(marker) {
			t.Error("alice's comment quoting the marker passed for aftermath's")
		}
		if n := e.sim.Count("GET /rest/api/2/myself"); n != 1 {
			t.Errorf("%d requests for who aftermath is, want 1", n)
		}
		if err := e.c.AddComment(ctx, key, "No owner yet.\n"+marker); err != nil {
			t.Fatal(err)
		}
		// 1,050 comments after aftermath's: more than any one page.
		for i := range 1050 {
			e.sim.AddComment(key, aliceID, fmt.Sprintf("comment %d", i))
		}
		e.sim.ResetCalls()
		if !has(marker) {
			t.Error("aftermath's comment, older than the newest 1,000, was not found")
		}
		if has("aftermath-ref-owner-P2") {
			t.Error("a marker nobody wrote was found")
		}
		if n := e.sim.Count("GET /rest/api/2/myself"); n != 0 {
			t.Errorf("%d more requests for who aftermath is, want none (cached)", n)
		}
		// The second search read every page: 1,053 comments, 100 a page.
		if n := e.sim.Count("GET /rest/api/2/issue/{issueIdOrKey}/comment"); n != 1+11 {
			t.Errorf("%d comment pages read, want 12", n)
		}
		all, err := e.c.Comments(ctx, key)
		if err != nil || len(all) != 1053 || all[0] != "comment 1049" || all[1052] != "Done: see aftermath-ref-owner-P12" {
			t.Fatalf("Comments: %d, %v", len(all), err)
		}
	})
}

// Jira's refusal of a text for its size is told apart from its other
// refusals, with the limit it states (which administrators may lower).
func TestTextTooLong(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		key := e.create(t, task("epic"))
		long := strings.Repeat("x", 32768)
		err := e.c.UpdateDescription(ctx, key, long)
		if n, ok := jira.StatedLimit(err); !jira.TooLong(err) || !ok || n != 32767 {
			t.Fatalf("TooLong(%v) = %v, limit %d %v", err, jira.TooLong(err), n, ok)
		}
		e.sim.SetTextLimit(20000)
		err = e.c.AddComment(ctx, key, long[:20001])
		if n, ok := jira.StatedLimit(err); !jira.TooLong(err) || !ok || n != 20000 {
			t.Fatalf("comment: TooLong(%v), limit %d %v", err, n, ok)
		}
		_, err = e.c.CreateIssue(ctx, task(strings.Repeat("y", 256)))
		if err == nil || jira.TooLong(err) {
			t.Fatalf("a summary too long is not a text too long: %v", err)
		}
		if err := e.c.AddComment(ctx, "OPS-999", "x"); jira.TooLong(err) {
			t.Fatalf("a missing issue: %v", err)
		}
		if jira.TooLong(nil) || jira.TooLong(errors.New("too long")) {
			t.Fatal("TooLong of a non-Jira error")
		}
	})
}
