package jiratest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Under SearchLag a new issue is missing from /search/jql unless the
// search names its id in reconcileIssues: in the POST body, or repeated in
// the GET query as the spec declares the array. At most 50 ids.
func TestSearchReconcile(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := NewWithOptions(t, Options{Mode: Cloud, SearchLag: time.Hour, Now: func() time.Time { return now }})
	seed(s)
	r := send(t, s, "POST", "/rest/api/2/issue", `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"new","labels":["fresh"]}}`, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id, _ := r.body["id"].(string)
	count := func(r rawResp) int {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("search: %d %s", r.status, r.raw)
		}
		issues, _ := r.body["issues"].([]any)
		return len(issues)
	}
	jql := `{"jql":"labels = fresh","fields":["summary"]%s}`
	if n := count(send(t, s, "POST", "/rest/api/2/search/jql", fmt.Sprintf(jql, ""), nil)); n != 0 {
		t.Fatalf("found %d before the index caught up", n)
	}
	if n := count(send(t, s, "POST", "/rest/api/2/search/jql", fmt.Sprintf(jql, `,"reconcileIssues":[`+id+`]`), nil)); n != 1 {
		t.Fatalf("reconciled POST found %d, want 1", n)
	}
	if n := count(send(t, s, "GET", "/rest/api/2/search/jql?jql=labels%3Dfresh&reconcileIssues=1&reconcileIssues="+id, "", nil)); n != 1 {
		t.Fatalf("reconciled GET found %d, want 1", n)
	}
	// Under the gateway's prefix, validated against the same spec.
	req := "/ex/jira/" + s.CloudID() + "/rest/api/2/search/jql"
	r = send(t, s, "POST", req, fmt.Sprintf(jql, `,"reconcileIssues":[`+id+`]`), nil)
	if n := count(r); n != 1 {
		t.Fatalf("reconciled POST under the prefix found %d, want 1", n)
	}
	// Its links name the gateway, as Jira's do: not a page to browse.
	if self, _ := r.body["issues"].([]any)[0].(map[string]any)["self"].(string); self != s.APIURL()+"/rest/api/2/issue/"+id {
		t.Fatalf("self = %q, want under %s", self, s.APIURL())
	}
	ids := make([]string, 51)
	for i := range ids {
		ids[i] = fmt.Sprint(10001 + i)
	}
	r = send(t, s, "POST", "/rest/api/2/search/jql", fmt.Sprintf(jql, `,"reconcileIssues":[`+strings.Join(ids, ",")+`]`), nil)
	if r.status != http.StatusBadRequest || !strings.Contains(strings.Join(r.messages(), " "), "at most 50") {
		t.Fatalf("51 ids: %d %s", r.status, r.raw)
	}
}

// A 429 carries Retry-After and RateLimit-Reason.
func TestRateLimitHeaders(t *testing.T) {
	s := New(t, Cloud)
	seed(s)
	s.Inject("GET /rest/api/2/myself", Fault{Status: http.StatusTooManyRequests, RetryAfter: "12", RateLimitReason: RateLimitPerIssue})
	r := send(t, s, "GET", "/rest/api/2/myself", "", nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "12" || r.header.Get("RateLimit-Reason") != "jira-per-issue-on-write" {
		t.Fatalf("%d %v", r.status, r.header)
	}
}
