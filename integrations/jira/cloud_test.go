package jira_test

import (
	"net/http"
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
