package jira_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
)

// urlRecorder is a transport that notes every URL requested.
type urlRecorder struct {
	mu   sync.Mutex
	urls []string
}

func (u *urlRecorder) transport() http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		u.mu.Lock()
		u.urls = append(u.urls, r.URL.String())
		u.mu.Unlock()
		return http.DefaultTransport.RoundTrip(r)
	})
}

func (u *urlRecorder) all() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.urls...)
}

// A scoped API token calls Atlassian's gateway, /ex/jira/{cloudId}: every
// REST call goes there, while the links people open stay on the site.
func TestAPIURL(t *testing.T) {
	const site = "https://acme.atlassian.net"
	for _, tc := range []struct {
		name, site string
		wantInfo   bool // the deployment is asked (serverInfo)
	}{
		{"site on atlassian.net", site, false},
		{"site elsewhere", "https://jira.acme.example", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &urlRecorder{}
			var e *env
			e = newEnv(t, jiratest.Cloud, func(s *setup) {
				s.base = rec.transport()
				s.sim.CloudID = "11223344-5566-4778-899a-abcdefabcdef"
				s.cfg.BaseURL = tc.site
			})
			// newEnv built the client on the site; build it on the API URL.
			e.c = newClient(t, jira.Config{BaseURL: tc.site + "/", APIURL: e.sim.APIURL() + "/", Email: e.sim.Email(), APIToken: e.sim.APIToken()}, rec.transport(), e.logs)
			ctx := t.Context()
			if u, found, err := e.c.UserByEmail(ctx, alice.Email); err != nil || !found || u.ID != alice.AccountID {
				t.Fatalf("UserByEmail = %+v, %v, %v", u, found, err)
			}
			made, err := e.c.CreateEpic(ctx, jira.Epic{Project: ops.Key, IssueType: "Epic", Summary: "Post-mortem", Incidents: []string{"P1"}})
			if err != nil {
				t.Fatal(err)
			}
			if got, found, err := e.c.FindPostmortem(ctx, "P1"); err != nil || !found || got.Key != made.Key {
				t.Fatalf("FindPostmortem = %+v, %v, %v", got, found, err)
			}
			if err := e.c.AddComment(ctx, made.Key, "hello"); err != nil {
				t.Fatal(err)
			}
			if st, err := e.c.Statuses(ctx, []string{made.Key}); err != nil || st[made.Key] != jiratest.StatusToDo {
				t.Fatalf("Statuses = %v, %v", st, err)
			}
			if got, want := e.c.BrowseURL(made.Key), tc.site+"/browse/"+made.Key; got != want {
				t.Errorf("BrowseURL = %q, want %q (the site, not the API)", got, want)
			}
			urls := rec.all()
			if len(urls) == 0 {
				t.Fatal("no requests")
			}
			for _, u := range urls {
				if !strings.HasPrefix(u, e.sim.APIURL()+"/rest/api/2/") {
					t.Errorf("request to %s, want under %s/rest/api/2/", u, e.sim.APIURL())
				}
			}
			if n := e.sim.Count("GET /rest/api/2/serverInfo"); (n == 1) != tc.wantInfo {
				t.Errorf("serverInfo asked %d times, want asked: %v", n, tc.wantInfo)
			}
		})
	}
}

// A 429's RateLimit-Reason and Retry-After (seconds or a date) reach the
// error, its message and RetryAt, once the HTTP client's retries are spent.
func TestRateLimitError(t *testing.T) {
	const route = "POST /rest/api/2/issue/{issueIdOrKey}/comment"
	clk := newClock()
	for _, tc := range []struct {
		name, retryAfter, reason string
		want                     time.Duration
		msg                      string
	}{
		{"seconds", "12", jiratest.RateLimitPerIssue, 12 * time.Second, "HTTP 429 (jira-per-issue-on-write), retry after 12s: Rate limit exceeded."},
		{"date", clk.Now().Add(90 * time.Second).Format(http.TimeFormat), jiratest.RateLimitBurst, 90 * time.Second, "HTTP 429 (jira-burst-based), retry after 1m30s"},
		{"no headers", "", "", 0, "HTTP 429: Rate limit exceeded."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, jiratest.Cloud, withConfig(func(c *jira.Config) { c.Now = clk.Now }))
			key := e.create(t, task("busy issue"))
			// The outbound client tries 5 times (MaxRetries 4).
			e.sim.Inject(route, jiratest.Fault{Status: http.StatusTooManyRequests, Times: 5, RetryAfter: tc.retryAfter, RateLimitReason: tc.reason})
			err := e.c.AddComment(t.Context(), key, "hello")
			je := jiraError(t, err, http.StatusTooManyRequests, true, tc.msg)
			if !je.Unapplied() || je.RateLimitReason != tc.reason || je.RetryAfter != tc.want {
				t.Fatalf("error %+v: want unapplied, reason %q, retry after %s", je, tc.reason, tc.want)
			}
			wantAt := time.Time{}
			if tc.want > 0 {
				wantAt = clk.Now().Add(tc.want)
			}
			if !je.RetryAt().Equal(wantAt) {
				t.Fatalf("RetryAt = %s, want %s", je.RetryAt(), wantAt)
			}
			if n := e.sim.Count(route); n != 5 {
				t.Fatalf("%d attempts, want 5", n)
			}
			if tc.reason != "" && !strings.Contains(e.logs.String(), `"reason":"`+tc.reason+`"`) {
				t.Fatalf("the reason is not logged: %s", e.logs)
			}
		})
	}
}

// lagging starts a Cloud simulator whose search trails every write by an
// hour on a clock that stands still, and a client of it.
func lagging(t *testing.T) (*env, *clock) {
	t.Helper()
	clk := newClock()
	e := newEnv(t, jiratest.Cloud, func(s *setup) {
		s.sim.Now, s.sim.SearchLag = clk.Now, time.Hour
		s.cfg.Now = clk.Now
	})
	return e, clk
}

// reconciled returns the ids the searches so far asked Jira to reconcile.
func reconciled(t *testing.T, e *env) [][]int64 {
	t.Helper()
	var out [][]int64
	for _, c := range e.sim.Calls() {
		if c.Route != "POST /rest/api/2/search/jql" {
			continue
		}
		var body struct {
			ReconcileIssues []int64 `json:"reconcileIssues"`
		}
		if err := json.Unmarshal(c.Body, &body); err != nil {
			t.Fatal(err)
		}
		out = append(out, body.ReconcileIssues)
	}
	return out
}

// Cloud's search is eventually consistent: the issues this client just
// wrote are found only because it names them in reconcileIssues. A second
// client (another replica) that did not write them does not find them
// yet, which shows the search lag is real.
func TestReconcileIssues(t *testing.T) {
	t.Run("post-mortem and follow-ups just created", func(t *testing.T) {
		t.Parallel()
		e, clk := lagging(t)
		other := newClient(t, jira.Config{BaseURL: e.sim.URL(), Email: e.sim.Email(), APIToken: e.sim.APIToken(), Now: clk.Now}, nil, e.logs)
		ctx := t.Context()
		made, err := e.c.CreateEpic(ctx, jira.Epic{Project: ops.Key, IssueType: "Epic", Summary: "Post-mortem", Incidents: []string{"P1"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, found, err := other.FindPostmortem(ctx, "P1"); err != nil || found {
			t.Fatalf("another client found the new epic (%v, %v): the search lag is not simulated", found, err)
		}
		if got, found, err := e.c.FindPostmortem(ctx, "P1"); err != nil || !found || got.Key != made.Key {
			t.Fatalf("FindPostmortem = %+v, %v, %v; want %s", got, found, err, made.Key)
		}
		epicID := e.issue(t, made.Key).ID
		if r := reconciled(t, e); len(r) != 1 || len(r[0]) != 1 || fmt.Sprint(r[0][0]) != epicID {
			t.Fatalf("reconciled %v, want [[%s]]", r, epicID)
		}

		res, err := e.c.CreateFollowups(ctx, made.Key, "P1", []jira.Followup{
			{Project: ops.Key, IssueType: "Task", Summary: "Add an alert"},
			{Project: ops.Key, IssueType: "Task", Summary: "Fix the runbook"},
		})
		if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
			t.Fatalf("CreateFollowups = %+v, %v", res, err)
		}
		fus, err := e.c.FindFollowups(ctx, made.Key, "P1")
		if err != nil || len(fus) != 2 || fus[0].Key != res[0].Key || fus[1].Key != res[1].Key {
			t.Fatalf("FindFollowups = %+v, %v; want %s and %s", fus, err, res[0].Key, res[1].Key)
		}
		if fus, err := other.FindFollowups(ctx, made.Key, "P1"); err != nil || len(fus) != 0 {
			t.Fatalf("another client found %+v, %v", fus, err)
		}

		// An incident that joined the group: its label is on the epic now.
		if err := e.c.AddIncidents(ctx, made.Key, []string{"P2"}); err != nil {
			t.Fatal(err)
		}
		if got, found, err := e.c.FindPostmortem(ctx, "P2"); err != nil || !found || got.Key != made.Key {
			t.Fatalf("FindPostmortem(P2) = %+v, %v, %v", got, found, err)
		}
		if _, found, _ := other.FindPostmortem(ctx, "P2"); found {
			t.Fatal("another client found the new label")
		}
	})

	t.Run("status of an epic just moved", func(t *testing.T) {
		t.Parallel()
		e, clk := lagging(t)
		other := newClient(t, jira.Config{BaseURL: e.sim.URL(), Email: e.sim.Email(), APIToken: e.sim.APIToken(), Now: clk.Now}, nil, e.logs)
		key := e.create(t, epic("Post-mortem"))
		if err := e.c.Transition(t.Context(), key, jiratest.StatusInReview); err != nil {
			t.Fatal(err)
		}
		if st, err := e.c.Statuses(t.Context(), []string{key}); err != nil || st[key] != jiratest.StatusInReview {
			t.Fatalf("Statuses = %v, %v; want %s", st, err, jiratest.StatusInReview)
		}
		if st, err := other.Statuses(t.Context(), []string{key}); err != nil || len(st) != 0 {
			t.Fatalf("another client read %v, %v", st, err)
		}
		// An hour on, the index has caught up and nothing is reconciled.
		clk.Add(reconcileAfter)
		before := len(reconciled(t, e))
		if st, err := e.c.Statuses(t.Context(), []string{key}); err != nil || st[key] != jiratest.StatusInReview {
			t.Fatalf("Statuses later = %v, %v", st, err)
		}
		if len(reconciled(t, e)) != before {
			t.Fatal("an old write is still reconciled")
		}
	})

	t.Run("at most 50 issues", func(t *testing.T) {
		t.Parallel()
		e, clk := lagging(t)
		specs := make([]jira.IssueSpec, 60)
		for i := range specs {
			specs[i] = task(fmt.Sprintf("ticket %d", i), jira.IncidentLabel("P9"))
		}
		if _, err := e.c.CreateIssues(t.Context(), specs); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second) // the last ones are the latest written
		key := e.create(t, task("newest", jira.IncidentLabel("P9")))
		found, err := e.c.FindFollowups(t.Context(), "", "P9")
		if err != nil {
			t.Fatal(err)
		}
		r := reconciled(t, e)
		if len(r) != 1 || len(r[0]) != 50 || fmt.Sprint(r[0][0]) != e.issue(t, key).ID {
			t.Fatalf("reconciled %d searches, first with %d ids; want one with 50, the newest first", len(r), len(r[0]))
		}
		if len(found) != 50 {
			t.Fatalf("found %d issues, want the 50 reconciled", len(found))
		}
	})
}

// reconcileAfter is past the client's reconcile window and the simulator's
// search lag.
const reconcileAfter = 2 * time.Hour

// Writes to one issue are spaced by IssueWriteInterval, whatever the
// goroutines sending them; writes to another issue do not wait for them.
// The spacing is read from the simulator's arrival times, with a generous
// tolerance below the interval (and none above: a loaded machine only
// spaces them more).
func TestIssueWriteSpacing(t *testing.T) {
	const interval = 150 * time.Millisecond
	e := newEnv(t, jiratest.Cloud, withConfig(func(c *jira.Config) { c.IssueWriteInterval = interval }))
	busy, other := e.create(t, task("busy")), e.create(t, task("other"))
	e.sim.ResetCalls()
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if err := e.c.AddComment(ctx, busy, fmt.Sprint("comment ", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		if err := e.c.AddLabels(ctx, busy, []string{"late"}); err != nil {
			t.Error(err)
		}
	})
	if err := e.c.AddComment(ctx, other, "not held up"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var times []time.Time
	var otherAt time.Time
	for _, c := range e.sim.Calls() {
		switch c.Path {
		case "/rest/api/2/issue/" + busy + "/comment", "/rest/api/2/issue/" + busy:
			times = append(times, c.At)
		case "/rest/api/2/issue/" + other + "/comment":
			otherAt = c.At
		}
	}
	if len(times) != 5 {
		t.Fatalf("%d writes to %s, want 5", len(times), busy)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < interval/2 {
			t.Errorf("writes %d and %d to %s came %s apart, want about %s", i-1, i, busy, gap, interval)
		}
	}
	// The other issue's write, sent while those queued, did not wait for
	// them all.
	if !otherAt.Before(times[len(times)-1]) {
		t.Errorf("the write to %s came after all of %s's", other, busy)
	}

}

// A reconciled search is a read sent as POST: it is retried on a 5xx like
// the GET search (found by review).
func TestReconciledSearchRetries5xx(t *testing.T) {
	e, _ := lagging(t)
	ctx := t.Context()
	made, err := e.c.CreateEpic(ctx, jira.Epic{Project: ops.Key, IssueType: "Epic", Summary: "Post-mortem", Incidents: []string{"P1"}})
	if err != nil {
		t.Fatal(err)
	}
	e.sim.Inject("POST /rest/api/2/search/jql", jiratest.Fault{Status: http.StatusServiceUnavailable, Times: 1})
	got, found, err := e.c.FindPostmortem(ctx, "P1")
	t.Logf("POST searches: %d", e.sim.Count("POST /rest/api/2/search/jql"))
	if err != nil || !found || got.Key != made.Key {
		t.Fatalf("FindPostmortem after one 503 = %+v, %v, %v", got, found, err)
	}
}
