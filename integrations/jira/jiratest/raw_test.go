package jiratest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/simkit"
)

// rawResp is an answer read by send.
type rawResp struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// messages is errorMessages of a Jira error body.
func (r rawResp) messages() []string {
	var out []string
	list, _ := r.body["errorMessages"].([]any)
	for _, m := range list {
		s, _ := m.(string)
		out = append(out, s)
	}
	return out
}

// fieldError is errors[field] of a Jira error body.
func (r rawResp) fieldError(field string) string {
	errs, _ := r.body["errors"].(map[string]any)
	s, _ := errs[field].(string)
	return s
}

func decodeJSON(t *testing.T, r io.ReadCloser, into any) {
	t.Helper()
	defer r.Close()
	if err := json.NewDecoder(r).Decode(into); err != nil {
		t.Fatalf("decode: %v", err)
	}
}

// send makes a request with the mode's credentials; hdr may replace a
// header or remove it by mapping it to "-".
func send(t *testing.T, s *Server, method, target, body string, hdr map[string]string) rawResp {
	t.Helper()
	return sendCtx(context.Background(), t, s, method, target, body, hdr)
}

func sendCtx(ctx context.Context, t *testing.T, s *Server, method, target, body string, hdr map[string]string) rawResp {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode() == Cloud {
		req.SetBasicAuth(s.Email(), s.APIToken())
	} else {
		req.Header.Set("Authorization", "Bearer "+s.PAT())
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, raw, err := simkit.Exchange(req, hdr)
	if err != nil {
		if ctx.Err() != nil {
			return rawResp{}
		}
		t.Fatal(err)
	}
	out := rawResp{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s answered bad JSON %q", method, target, raw)
		}
	}
	return out
}

// plain is a seeded simulator without spec validation, for requests the
// spec itself would reject.
func plain(t *testing.T, mode Mode) *Server {
	t.Helper()
	s := NewServer(Options{Mode: mode})
	t.Cleanup(s.Close)
	seed(s)
	return s
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

func TestAuthentication(t *testing.T) {
	cloud, dc := plain(t, Cloud), plain(t, DataCenter)
	cases := []struct {
		name string
		s    *Server
		auth string
	}{
		{"cloud without credentials", cloud, "-"},
		{"cloud wrong token", cloud, basic(cloud.Email(), "wrong")},
		{"cloud wrong email", cloud, basic("eve@example.com", cloud.APIToken())},
		{"cloud bearer", cloud, "Bearer " + cloud.APIToken()},
		{"datacenter without credentials", dc, "-"},
		{"datacenter wrong PAT", dc, "Bearer wrong"},
		{"datacenter basic", dc, basic(dc.Email(), dc.PAT())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.s, "POST", "/rest/api/2/issue", `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"x"}}`, map[string]string{"Authorization": tc.auth})
			if r.status != http.StatusUnauthorized || r.header.Get("X-Seraph-LoginReason") != "AUTHENTICATED_FAILED" {
				t.Fatalf("got %d %v", r.status, r.header)
			}
			if tc.s.Mode() == Cloud && r.raw != "Client must be authenticated to access this resource." ||
				tc.s.Mode() == DataCenter && !strings.Contains(strings.Join(r.messages(), ""), "not authenticated") {
				t.Fatalf("body %q", r.raw)
			}
			if strings.Contains(r.raw, tc.s.APIToken()) || strings.Contains(r.raw, tc.s.PAT()) {
				t.Fatalf("the answer repeats a secret: %q", r.raw)
			}
		})
	}
	if len(cloud.Issues())+len(dc.Issues()) != 0 {
		t.Fatal("an unauthenticated request created an issue")
	}
	if r := send(t, cloud, "GET", "/rest/api/2/myself", "", nil); r.status != 200 {
		t.Fatalf("authenticated: %d", r.status)
	}
}

func TestCreateValidation(t *testing.T) {
	const (
		base  = `"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"ok"`
		epicB = `"project":{"key":"OPS"},"issuetype":{"name":"Epic"},"summary":"epic"`
	)
	cases := []struct {
		name   string
		mode   Mode
		fields string
		field  string // the errors key
		want   string // its message
	}{
		{"missing summary", Cloud, `"project":{"key":"OPS"},"issuetype":{"name":"Task"}`, "summary", "You must specify a summary of the issue."},
		{"blank summary", DataCenter, `"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"  "`, "summary", "You must specify a summary of the issue."},
		{"summary too long", Cloud, `"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"` + strings.Repeat("x", 256) + `"`, "summary", "Summary must be less than 255 characters."},
		{"summary not a string", Cloud, `"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":7`, "summary", "Operation value must be a string"},
		{"unknown project cloud", Cloud, `"project":{"key":"NOPE"},"issuetype":{"name":"Task"},"summary":"x"`, "project", "Specify a valid project ID or key"},
		{"unknown project dc", DataCenter, `"project":{"key":"NOPE"},"issuetype":{"name":"Task"},"summary":"x"`, "project", "valid project is required"},
		{"missing issue type dc", DataCenter, `"project":{"key":"OPS"},"summary":"x"`, "issuetype", "issue type is required"},
		{"wrong issue type cloud", Cloud, `"project":{"key":"OPS"},"issuetype":{"name":"Incident"},"summary":"x"`, "issuetype", "Specify a valid issue type"},
		{"wrong issue type dc", DataCenter, `"project":{"key":"OPS"},"issuetype":{"name":"Incident"},"summary":"x"`, "issuetype", "valid issue type is required"},
		{"label with a space", Cloud, base + `,"labels":["post mortem"]`, "labels", "The label 'post mortem' contains spaces which is invalid."},
		{"unknown field", Cloud, base + `,"customfield_99999":"x"`, "customfield_99999", "Field 'customfield_99999' cannot be set. It is not on the appropriate screen, or unknown."},
		{"unknown assignee cloud", Cloud, base + `,"assignee":{"accountId":"nobody"}`, "assignee", "User with accountId 'nobody' does not exist"},
		{"assignee by name on cloud", Cloud, base + `,"assignee":{"name":"alice"}`, "assignee", "Specify a valid value for assignee: users are referenced by accountId"},
		{"unknown assignee dc", DataCenter, base + `,"assignee":{"name":"nobody"}`, "assignee", "User 'nobody' does not exist."},
		{"inactive assignee", DataCenter, base + `,"assignee":{"name":"gone"}`, "assignee", "User 'Gone Example' cannot be assigned issues."},
		{"unknown priority", Cloud, base + `,"priority":{"name":"Urgent"}`, "priority", "Priority name 'Urgent' is not valid"},
		{"bad due date", DataCenter, base + `,"duedate":"31/01/2030"`, "duedate", "Error parsing date string: 31/01/2030"},
		{"dc epic without epic name", DataCenter, epicB, EpicNameField, "Epic Name is required."},
		{"dc epic name on a task", DataCenter, base + `,"` + EpicNameField + `":"x"`, EpicNameField, "Field 'customfield_10011' cannot be set. It is not on the appropriate screen, or unknown."},
		{"dc epic link to a missing issue", DataCenter, base + `,"` + EpicLinkField + `":"OPS-99"`, EpicLinkField, "The issue 'OPS-99' does not exist."},
		{"dc epic link to a task", DataCenter, base + `,"` + EpicLinkField + `":"OPS-1"`, EpicLinkField, "Issue 'OPS-1' is not an Epic."},
		{"dc parent", DataCenter, base + `,"parent":{"key":"OPS-1"}`, "parent", "Field 'parent' cannot be set. It is not on the appropriate screen, or unknown."},
		{"cloud epic link field", Cloud, base + `,"` + EpicLinkField + `":"OPS-1"`, EpicLinkField, "Field 'customfield_10014' cannot be set. It is not on the appropriate screen, or unknown."},
		{"cloud parent is a task", Cloud, base + `,"parent":{"key":"OPS-1"}`, "parent", "Given parent work item does not belong to appropriate hierarchy."},
		{"cloud parent missing", Cloud, base + `,"parent":{"key":"OPS-99"}`, "parent", "Could not find issue by id or key."},
		{"cloud epic with a parent", Cloud, epicB + `,"parent":{"key":"OPS-1"}`, "parent", "Given parent work item does not belong to appropriate hierarchy."},
	}
	servers := map[Mode]*Server{Cloud: New(t, Cloud), DataCenter: New(t, DataCenter)}
	for _, s := range servers {
		seed(s)
		if r := send(t, s, "POST", "/rest/api/2/issue", `{"fields":{`+base+`}}`, nil); r.status != http.StatusCreated {
			t.Fatalf("seed OPS-1: %d %s", r.status, r.raw)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := servers[tc.mode]
			r := send(t, s, "POST", "/rest/api/2/issue", `{"fields":{`+tc.fields+`}}`, nil)
			if r.status != http.StatusBadRequest || r.fieldError(tc.field) != tc.want || len(r.messages()) != 0 {
				t.Fatalf("got %d %s, want errors.%s = %q", r.status, r.raw, tc.field, tc.want)
			}
		})
	}
	for mode, s := range servers {
		if n := len(s.Issues()); n != 1 {
			t.Fatalf("%s: %d issues after rejected creates", mode, n)
		}
	}
	// Every problem is reported at once.
	r := send(t, servers[Cloud], "POST", "/rest/api/2/issue", `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"labels":["a b"],"priority":{"name":"P0"}}}`, nil)
	if r.status != 400 || r.fieldError("summary") == "" || r.fieldError("labels") == "" || r.fieldError("priority") == "" {
		t.Fatalf("several problems: %s", r.raw)
	}
}

func TestEditValidation(t *testing.T) {
	s := New(t, Cloud)
	seed(s)
	if r := send(t, s, "POST", "/rest/api/2/issue", `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"x","labels":["a"]}}`, nil); r.status != 201 {
		t.Fatal(r.raw)
	}
	before, _ := s.Issue("OPS-1")
	cases := []struct{ body, field, want string }{
		{`{"fields":{"status":{"name":"Done"}}}`, "status", "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."},
		{`{"update":{"labels":[{"add":"b c"}]}}`, "labels", "The label 'b c' contains spaces which is invalid."},
		{`{"update":{"summary":[{"add":"x"}]}}`, "summary", "Field 'summary' does not support operation 'add'. Supported operation(s) are: 'set'"},
		{`{"fields":{"labels":["x"]},"update":{"labels":[{"add":"y"}]}}`, "labels", "Field 'labels' cannot be set in both 'fields' and 'update'."},
		{`{"fields":{"summary":""}}`, "summary", "You must specify a summary of the issue."},
		{`{"update":{"labels":[{"add":"ok"}]},"fields":{"issuetype":{"name":"Bug"}}}`, "issuetype", "Field 'issuetype' cannot be set. It is not on the appropriate screen, or unknown."},
	}
	for _, tc := range cases {
		r := send(t, s, "PUT", "/rest/api/2/issue/OPS-1", tc.body, nil)
		if r.status != 400 || r.fieldError(tc.field) != tc.want {
			t.Fatalf("%s: %d %s, want %q", tc.body, r.status, r.raw, tc.want)
		}
	}
	if after, _ := s.Issue("OPS-1"); !after.Updated.Equal(before.Updated) || strings.Join(after.Labels, ",") != "a" {
		t.Fatalf("rejected edits changed the issue: %+v", after)
	}
	// A no-op edit records no change; returnIssue answers the issue.
	if r := send(t, s, "PUT", "/rest/api/2/issue/OPS-1?returnIssue=true", `{"update":{"labels":[{"add":"a"}]}}`, nil); r.status != 200 || r.body["key"] != "OPS-1" {
		t.Fatalf("returnIssue: %d %s", r.status, r.raw)
	}
	if after, _ := s.Issue("OPS-1"); !after.Updated.Equal(before.Updated) {
		t.Fatal("a no-op edit bumped updated")
	}
	if r := send(t, s, "PUT", "/rest/api/2/issue/OPS-9", `{"fields":{"summary":"x"}}`, nil); r.status != 404 {
		t.Fatalf("edit missing issue: %d", r.status)
	}
	if r := send(t, s, "POST", "/rest/api/2/issue/OPS-1/comment", `{"body":"  "}`, nil); r.status != 400 || r.fieldError("comment") != "Comment body can not be empty!" {
		t.Fatalf("empty comment: %d %s", r.status, r.raw)
	}
	if r := send(t, s, "POST", "/rest/api/2/issue/OPS-1/transitions", `{"transition":{"id":"99"}}`, nil); r.status != 400 || r.messages()[0] != "Transition id '99' is not valid for this issue." {
		t.Fatalf("unknown transition: %d %s", r.status, r.raw)
	}
	if r := send(t, s, "POST", "/rest/api/2/issue/OPS-1/transitions", `{"transition":{"id":"51"},"fields":{"resolution":{"name":"Done"}}}`, nil); r.status != 400 || r.fieldError("resolution") == "" {
		t.Fatalf("transition with fields: %d %s", r.status, r.raw)
	}
}

func TestJQLErrors(t *testing.T) {
	cloud, dc := New(t, Cloud), New(t, DataCenter)
	seed(cloud)
	seed(dc)
	cases := []struct {
		s    *Server
		jql  string
		want string // prefix of the one error message
	}{
		{cloud, `labels = a OR (labels = b)`, "Error in the JQL Query: jiratest does not simulate '('"},
		{cloud, `labels = a OR`, "Error in the JQL Query: Expecting a field name"},
		{cloud, `labels = a OR ORDER BY key`, "Error in the JQL Query: Expecting a field name"},
		{cloud, `status = Done`, "Error in the JQL Query: jiratest does not simulate the field 'status'"},
		{cloud, `labels != a`, "Error in the JQL Query: jiratest does not simulate the operator '!='"},
		{cloud, `labels = `, "Error in the JQL Query: Expecting either a value, list or function but got EOF."},
		{cloud, `labels in (a, b`, "Error in the JQL Query: Expecting ',' or ')' but got EOF."},
		{cloud, `labels = "a`, "Error in the JQL Query: The quoted string"},
		{cloud, `labels a`, "Error in the JQL Query: Expecting operator but got 'a'."},
		{cloud, `labels = a ORDER BY priority`, "Error in the JQL Query: jiratest does not simulate ordering by 'priority'"},
		{cloud, `lables = a`, "Field 'lables' does not exist or you do not have permission to view it."},
		{cloud, `"Epic Link" = OPS-1`, "Field 'Epic Link' does not exist or you do not have permission to view it."},
		{cloud, `project = NOPE`, "The value 'NOPE' does not exist for the field 'project'."},
		{cloud, `key = OPS-77`, "An issue with key 'OPS-77' does not exist for field 'key'."},
		{cloud, `ORDER BY created`, "Unbounded JQL queries are not allowed here."},
		{cloud, ``, "Unbounded JQL queries are not allowed here."},
		{dc, `issuetype = Incident`, "The value 'Incident' does not exist for the field 'issuetype'."},
		{dc, `assignee = currentUser()`, "Error in the JQL Query: jiratest does not simulate the field 'assignee'"},
		{dc, `labels = currentUser()`, "Error in the JQL Query: jiratest does not simulate JQL functions."},
	}
	for _, tc := range cases {
		path := "/rest/api/2/search/jql?jql="
		if tc.s.Mode() == DataCenter {
			path = "/rest/api/2/search?jql="
		}
		r := send(t, tc.s, "GET", path+url.QueryEscape(tc.jql), "", nil)
		if r.status != 400 || len(r.messages()) != 1 || !strings.HasPrefix(r.messages()[0], tc.want) {
			t.Errorf("%s %q: %d %s, want %q", tc.s.Mode(), tc.jql, r.status, r.raw, tc.want)
		}
	}
	// Every value that names no issue has its message, clause by clause,
	// in the one 400, as Jira lists them.
	for _, s := range []*Server{cloud, dc} {
		path := "/rest/api/2/search/jql?jql="
		child := "parent"
		if s.Mode() == DataCenter {
			path, child = "/rest/api/2/search?jql=", `"Epic Link"`
		}
		jql := "key in (OPS-77, OPS-78) OR " + child + " in (OPS-77)"
		r := send(t, s, "GET", path+url.QueryEscape(jql), "", nil)
		want := []string{
			"An issue with key 'OPS-77' does not exist for field 'key'.",
			"An issue with key 'OPS-78' does not exist for field 'key'.",
			"An issue with key 'OPS-77' does not exist for field '" + strings.Trim(child, `"`) + "'.",
		}
		if r.status != 400 || !slices.Equal(r.messages(), want) {
			t.Errorf("%s %q: %d %s, want %q", s.Mode(), jql, r.status, r.raw, want)
		}
	}
	// POST search takes the same JQL.
	r := send(t, cloud, "POST", "/rest/api/2/search/jql", `{"jql":"labels = x","maxResults":10,"fields":["summary"]}`, nil)
	if r.status != 200 || r.body["isLast"] != true {
		t.Fatalf("POST search/jql: %d %s", r.status, r.raw)
	}
	if r := send(t, dc, "POST", "/rest/api/2/search", `{"jql":"labels = x","startAt":0,"maxResults":10}`, nil); r.status != 200 || r.body["total"] != float64(0) {
		t.Fatalf("POST search: %d %s", r.status, r.raw)
	}
	if r := send(t, cloud, "POST", "/rest/api/2/search", `{"jql":"labels = x"}`, nil); r.status != http.StatusGone {
		t.Fatalf("POST search on Cloud: %d", r.status)
	}
	if r := send(t, cloud, "GET", "/rest/api/2/search/jql?jql=labels%3Dx&nextPageToken=garbage", "", nil); r.status != 400 {
		t.Fatalf("bad token: %d", r.status)
	}
}

func TestFaults(t *testing.T) {
	s := New(t, Cloud)
	seed(s)
	const create = `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"x"}}`

	s.Inject("POST /rest/api/2/issue", Fault{Status: http.StatusTooManyRequests, RetryAfter: "7", Times: 2})
	for i := range 2 {
		r := send(t, s, "POST", "/rest/api/2/issue", create, nil)
		if r.status != 429 || r.header.Get("Retry-After") != "7" || len(r.messages()) != 1 {
			t.Fatalf("attempt %d: %d %v %s", i, r.status, r.header, r.raw)
		}
	}
	if len(s.Issues()) != 0 {
		t.Fatal("a 429 created an issue")
	}
	if r := send(t, s, "POST", "/rest/api/2/issue", create, nil); r.status != 201 {
		t.Fatalf("after the faults: %d", r.status)
	}

	// AfterApply: the issue exists although the client saw a 503.
	s.Inject("POST /rest/api/2/issue/bulk", Fault{Status: http.StatusServiceUnavailable, AfterApply: true})
	r := send(t, s, "POST", "/rest/api/2/issue/bulk", `{"issueUpdates":[`+create+`,`+create+`]}`, nil)
	if r.status != 503 || len(r.messages()) != 1 || len(s.Issues()) != 3 {
		t.Fatalf("AfterApply: %d %s, %d issues", r.status, r.raw, len(s.Issues()))
	}

	// Latency: a client that gives up first gets nothing.
	s.Inject("GET /rest/api/2/search/jql", Fault{Latency: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if r := sendCtx(ctx, t, s, "GET", "/rest/api/2/search/jql?jql=project%3DOPS", "", nil); r.status != 0 || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("latency: %d", r.status)
	}
	if time.Since(start) > time.Second {
		t.Fatal("the latency fault outlived the request")
	}
	s.Inject("GET /rest/api/2/issue/{issueIdOrKey}", Fault{Status: 500})
	if r := send(t, s, "GET", "/rest/api/2/issue/OPS-1", "", nil); r.status != 500 || r.messages()[0] != "Internal server error" {
		t.Fatalf("500: %d %s", r.status, r.raw)
	}
	if n := s.Count("GET /rest/api/2/issue/{issueIdOrKey}"); n != 1 {
		t.Fatalf("count %d", n)
	}
	calls := s.Calls()
	if last := calls[len(calls)-1]; last.Status != 500 || last.Path != "/rest/api/2/issue/OPS-1" {
		t.Fatalf("last call %+v", last)
	}
	s.ResetCalls()
	if s.Count("") != 0 {
		t.Fatal("ResetCalls kept calls")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Inject accepted an unknown route")
		}
	}()
	s.Inject("POST /rest/api/2/issues", Fault{Status: 500})
}

func TestUnknownRouteIsAViolation(t *testing.T) {
	s := plain(t, DataCenter)
	r := send(t, s, "GET", "/rest/api/2/issue/OPS-1/editmeta", "", nil)
	if r.status != 404 || len(s.Violations()) != 1 || !strings.Contains(s.Violations()[0], "route not simulated") {
		t.Fatalf("%d %q", r.status, s.Violations())
	}
	// POST /issue/bulk is not an issue key.
	if route, param, ok := simkit.MatchRoute(Routes(), "GET", "/rest/api/2/issue/bulk"); !ok || route != "GET /rest/api/2/issue/{issueIdOrKey}" || param != "bulk" {
		t.Fatalf("match %q %q", route, param)
	}
	if route, _, _ := simkit.MatchRoute(Routes(), "POST", "/rest/api/2/issue/bulk"); route != "POST /rest/api/2/issue/bulk" {
		t.Fatalf("match %q", route)
	}
}

// TestConcurrentClients runs creates, edits and searches from several
// goroutines, for the race detector and the per-project numbering.
func TestConcurrentClients(t *testing.T) {
	s := New(t, Cloud)
	seed(s)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 8 {
				r := send(t, s, "POST", "/rest/api/2/issue", fmt.Sprintf(`{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"w%d-%d","labels":["w%d"]}}`, w, i, w), nil)
				if r.status != 201 {
					t.Errorf("create: %d %s", r.status, r.raw)
					return
				}
				key, _ := r.body["key"].(string)
				send(t, s, "PUT", "/rest/api/2/issue/"+key, `{"update":{"labels":[{"add":"seen"}]}}`, nil)
				send(t, s, "GET", "/rest/api/2/search/jql?fields=labels&jql="+url.QueryEscape(fmt.Sprintf("labels = w%d", w)), "", nil)
				_ = s.Issues()
				_ = s.Calls()
			}
		})
	}
	wg.Wait()
	keys := map[string]bool{}
	for _, x := range s.Issues() {
		keys[x.Key] = true
		if len(x.Labels) != 2 || x.Labels[0] != "seen" {
			t.Fatalf("%s labels %v", x.Key, x.Labels)
		}
	}
	if len(keys) != 48 || !keys["OPS-1"] || !keys["OPS-48"] {
		t.Fatalf("%d distinct keys", len(keys))
	}
}

// Jira refuses a description, environment or comment over 32,767
// characters, and a summary over 255, counting UTF-16 units as Java does
// (an emoji is two), on create, bulk create, edit, comment and transition,
// with its error collection naming the field; nothing is stored.
func TestTextLimits(t *testing.T) {
	const base = `"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"ok"`
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	at := strings.Repeat("x", 32767)
	over := at + "x"
	emojiOver := strings.Repeat("🔥", 16384) // 16,384 runes, 32,768 units
	forModes(t, func(t *testing.T, mode Mode) {
		s := New(t, mode)
		seed(s)
		msg := map[Mode]string{
			Cloud:      "The entered text is too long. It exceeds the allowed limit of 32,767 characters.",
			DataCenter: "The entered text is too long. It exceeds the allowed limit of 32767 characters.",
		}[mode]
		if r := send(t, s, "POST", "/rest/api/2/issue", `{"fields":{`+base+`,"description":`+q(at)+`}}`, nil); r.status != http.StatusCreated {
			t.Fatalf("a description of exactly 32,767 characters: %d %s", r.status, r.raw)
		}
		refusals := []struct {
			name, method, path, body, field string
		}{
			{"description on create", "POST", "/rest/api/2/issue", `{"fields":{` + base + `,"description":` + q(over) + `}}`, "description"},
			{"emoji description on create", "POST", "/rest/api/2/issue", `{"fields":{` + base + `,"description":` + q(emojiOver) + `}}`, "description"},
			{"environment on create", "POST", "/rest/api/2/issue", `{"fields":{` + base + `,"environment":` + q(over) + `}}`, "environment"},
			{"description on edit", "PUT", "/rest/api/2/issue/OPS-1", `{"fields":{"description":` + q(over) + `}}`, "description"},
			{"description set on edit", "PUT", "/rest/api/2/issue/OPS-1", `{"update":{"description":[{"set":` + q(emojiOver) + `}]}}`, "description"},
			{"comment", "POST", "/rest/api/2/issue/OPS-1/comment", `{"body":` + q(over) + `}`, "comment"},
			{"emoji comment", "POST", "/rest/api/2/issue/OPS-1/comment", `{"body":` + q(emojiOver) + `}`, "comment"},
			{"comment on edit", "PUT", "/rest/api/2/issue/OPS-1", `{"update":{"comment":[{"add":{"body":` + q(over) + `}}]}}`, "comment"},
			{"comment on transition", "POST", "/rest/api/2/issue/OPS-1/transitions", `{"transition":{"id":"21"},"update":{"comment":[{"add":{"body":` + q(over) + `}}]}}`, "comment"},
		}
		for _, tc := range refusals {
			r := send(t, s, tc.method, tc.path, tc.body, nil)
			if r.status != http.StatusBadRequest || r.fieldError(tc.field) != msg || len(r.messages()) != 0 {
				t.Errorf("%s: %d %.300s, want 400 with errors.%s = %q", tc.name, r.status, r.raw, tc.field, msg)
			}
		}
		// 128 emoji are 256 units: one over the summary's limit.
		if r := send(t, s, "POST", "/rest/api/2/issue", `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":`+q(strings.Repeat("🔥", 128))+`}}`, nil); r.status != 400 || r.fieldError("summary") != "Summary must be less than 255 characters." {
			t.Errorf("emoji summary: %d %s", r.status, r.raw)
		}
		if r := send(t, s, "PUT", "/rest/api/2/issue/OPS-1", `{"fields":{"summary":`+q(strings.Repeat("y", 256))+`}}`, nil); r.status != 400 || r.fieldError("summary") == "" {
			t.Errorf("summary on edit: %d %s", r.status, r.raw)
		}
		// A bulk create refuses the element, and creates the others.
		r := send(t, s, "POST", "/rest/api/2/issue/bulk", `{"issueUpdates":[{"fields":{`+base+`,"description":`+q(over)+`}},{"fields":{`+base+`}}]}`, nil)
		errs, _ := r.body["errors"].([]any)
		issues, _ := r.body["issues"].([]any)
		if r.status != http.StatusCreated || len(errs) != 1 || len(issues) != 1 || !strings.Contains(r.raw, msg) {
			t.Errorf("bulk: %d %.500s", r.status, r.raw)
		}
		x, _ := s.Issue("OPS-1")
		if x.Description != at || len(x.Comments) != 0 || x.Status != StatusToDo || x.Summary != "ok" {
			t.Errorf("a refused write changed OPS-1: %d bytes of description, %d comments, %s", len(x.Description), len(x.Comments), x.Status)
		}
		if n := len(s.Issues()); n != 2 {
			t.Errorf("%d issues, want 2", n)
		}
		// An administrator may lower the limit; Jira's message says the
		// new one.
		s.SetTextLimit(1000)
		low := map[Mode]string{Cloud: "1,000", DataCenter: "1000"}[mode]
		if r := send(t, s, "POST", "/rest/api/2/issue/OPS-1/comment", `{"body":`+q(strings.Repeat("z", 1001))+`}`, nil); r.status != 400 || !strings.Contains(r.fieldError("comment"), "limit of "+low+" characters") {
			t.Errorf("comment over a lowered limit: %d %s", r.status, r.raw)
		}
		s.SetTextLimit(0)
		if r := send(t, s, "POST", "/rest/api/2/issue/OPS-1/comment", `{"body":`+q(strings.Repeat("z", 1001))+`}`, nil); r.status != 201 {
			t.Errorf("comment after the default limit is back: %d %.300s", r.status, r.raw)
		}
	})
}

// Comments come in pages (startAt, maxResults: the spec's default 100,
// total), each with its author: aftermath's own account for what the API
// wrote, the user for a comment written in Jira's UI.
func TestCommentPagesAndAuthors(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		s := New(t, mode)
		seed(s)
		if r := send(t, s, "POST", "/rest/api/2/issue", `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"ok"}}`, nil); r.status != 201 {
			t.Fatal(r.raw)
		}
		if r := send(t, s, "POST", "/rest/api/2/issue/OPS-1/comment", `{"body":"by the bot"}`, nil); r.status != 201 {
			t.Fatal(r.raw)
		}
		id := alice.AccountID
		if mode == DataCenter {
			id = alice.Name
		}
		for i := range 149 {
			s.AddComment("OPS-1", id, fmt.Sprintf("by alice %d", i))
		}
		type page struct {
			StartAt, MaxResults, Total int
			Comments                   []struct {
				Body   string
				Author map[string]any
			}
		}
		get := func(q string) page {
			r := send(t, s, "GET", "/rest/api/2/issue/OPS-1/comment"+q, "", nil)
			var p page
			if r.status != 200 || json.Unmarshal([]byte(r.raw), &p) != nil {
				t.Fatalf("%s: %d %s", q, r.status, r.raw)
			}
			return p
		}
		idKey := map[Mode]string{Cloud: "accountId", DataCenter: "name"}[mode]
		p := get("")
		if p.StartAt != 0 || p.MaxResults != 100 || p.Total != 150 || len(p.Comments) != 100 ||
			p.Comments[0].Body != "by the bot" || p.Comments[0].Author[idKey] != userID(mode, s.Myself()) || p.Comments[1].Author[idKey] != id {
			t.Fatalf("first page: start %d, max %d, total %d, %d comments, first %+v", p.StartAt, p.MaxResults, p.Total, len(p.Comments), p.Comments[0])
		}
		p = get("?startAt=100")
		if p.StartAt != 100 || p.Total != 150 || len(p.Comments) != 50 || p.Comments[49].Body != "by alice 148" {
			t.Fatalf("second page: start %d, total %d, %d comments", p.StartAt, p.Total, len(p.Comments))
		}
		p = get("?orderBy=-created&startAt=149&maxResults=10")
		if len(p.Comments) != 1 || p.Comments[0].Body != "by the bot" {
			t.Fatalf("newest first, last page: %+v", p.Comments)
		}
	})
}
