package jiratest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jira "github.com/andygrunwald/go-jira"
	"github.com/trivago/tgo/tcontainer"
)

// These tests drive the simulator with the real go-jira client under New,
// so every request they send is also checked against the official spec.

var (
	ops   = Project{Key: "OPS", Name: "Operations"}
	alice = User{AccountID: "5b10ac8d82e05b22cc7d4ef5", Name: "alice", Email: "alice@example.com", DisplayName: "Alice Example", Active: true}
	gone  = User{AccountID: "5b10ac8d82e05b22cc7d4ef6", Name: "gone", Email: "gone@example.com", DisplayName: "Gone Example", Active: false}
)

var modes = []Mode{Cloud, DataCenter}

// client returns a go-jira client authenticated as the mode requires.
func client(t *testing.T, s *Server) *jira.Client {
	t.Helper()
	var hc *http.Client
	if s.Mode() == Cloud {
		hc = (&jira.BasicAuthTransport{Username: s.Email(), Password: s.APIToken()}).Client()
	} else {
		hc = (&jira.PATAuthTransport{Token: s.PAT()}).Client()
	}
	c, err := jira.NewClient(hc, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seed(s *Server) {
	s.AddProject(ops)
	s.AddUser(alice)
	s.AddUser(gone)
}

func seeded(t *testing.T, mode Mode) (*Server, *jira.Client) {
	t.Helper()
	s := New(t, mode)
	seed(s)
	return s, client(t, s)
}

// forModes runs f as a subtest per mode.
func forModes(t *testing.T, f func(t *testing.T, mode Mode)) {
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) { f(t, m) })
	}
}

// userRef is how the mode names a user in a request.
func userRef(mode Mode, u User) *jira.User {
	if mode == Cloud {
		return &jira.User{AccountID: u.AccountID}
	}
	return &jira.User{Name: u.Name}
}

func userID(mode Mode, u User) string {
	if mode == Cloud {
		return u.AccountID
	}
	return u.Name
}

// code is the HTTP status of a go-jira call's response, 0 without one.
func code(resp *jira.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}

// create makes an issue through go-jira, failing the test on error.
func create(t *testing.T, c *jira.Client, f *jira.IssueFields) *jira.Issue {
	t.Helper()
	x, resp, err := c.Issue.Create(&jira.Issue{Fields: f})
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("create %q: %v %s", f.Summary, err, body)
	}
	return x
}

func task(summary string, labels ...string) *jira.IssueFields {
	return &jira.IssueFields{Project: jira.Project{Key: ops.Key}, Type: jira.IssueType{Name: "Task"}, Summary: summary, Labels: labels}
}

// epicFields is an epic as the mode creates one: Data Center requires the
// Epic Name field.
func epicFields(mode Mode, summary string) *jira.IssueFields {
	f := &jira.IssueFields{Project: jira.Project{Key: ops.Key}, Type: jira.IssueType{Name: "Epic"}, Summary: summary}
	if mode == DataCenter {
		f.Unknowns = tcontainer.MarshalMap{EpicNameField: summary}
	}
	return f
}

// childOf links f to an epic as the mode does: parent on Cloud, Epic Link
// on Data Center.
func childOf(mode Mode, f *jira.IssueFields, epic string) *jira.IssueFields {
	if mode == Cloud {
		f.Parent = &jira.Parent{Key: epic}
	} else {
		f.Unknowns = tcontainer.MarshalMap{EpicLinkField: epic}
	}
	return f
}

func TestServerInfoMyselfAndFields(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		s, c := seeded(t, mode)
		req, err := c.NewRequest("GET", "rest/api/2/serverInfo", nil)
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			BaseURL        string `json:"baseUrl"`
			DeploymentType string `json:"deploymentType"`
			VersionNumbers []int  `json:"versionNumbers"`
		}
		if _, err := c.Do(req, &info); err != nil {
			t.Fatal(err)
		}
		want := map[Mode]string{Cloud: "Cloud", DataCenter: "DataCenter"}[mode]
		if info.DeploymentType != want || info.BaseURL != s.URL() || len(info.VersionNumbers) != 3 {
			t.Fatalf("serverInfo %+v", info)
		}

		me, _, err := c.User.GetSelf()
		if err != nil {
			t.Fatal(err)
		}
		if me.EmailAddress != s.Email() || me.DisplayName != BotDisplayName || !me.Active {
			t.Fatalf("myself %+v", me)
		}
		if mode == Cloud && (me.AccountID != BotAccountID || me.Name != "") || mode == DataCenter && (me.Name != BotName || me.Key != BotKey || me.AccountID != "") {
			t.Fatalf("%s myself identity %+v", mode, me)
		}

		prios, _, err := c.Priority.GetList()
		if err != nil || len(prios) != 5 || prios[0].Name != "Highest" || prios[2].Name != "Medium" {
			t.Fatalf("priorities %+v %v", prios, err)
		}
		p, _, err := c.Project.Get(ops.Key)
		if err != nil || p.Name != ops.Name || len(p.IssueTypes) != 4 || p.IssueTypes[0].Name != "Epic" {
			t.Fatalf("project %+v %v", p, err)
		}

		fields, _, err := c.Field.GetList()
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]jira.Field{}
		for _, f := range fields {
			byName[f.Name] = f
		}
		for _, n := range []string{"Summary", "Labels", "Assignee", "Due date", "Priority", "Parent"} {
			if _, ok := byName[n]; !ok {
				t.Errorf("no field %q", n)
			}
		}
		link, hasLink := byName["Epic Link"]
		name, hasName := byName["Epic Name"]
		if mode == Cloud {
			if hasLink || hasName {
				t.Fatalf("Cloud lists the Data Center epic fields")
			}
			return
		}
		if !hasLink || link.ID != EpicLinkField || link.Schema.Custom != "com.pyxis.greenhopper.jira:gh-epic-link" || link.Schema.CustomID != 10014 || !link.Custom {
			t.Fatalf("Epic Link %+v", link)
		}
		if !hasName || name.ID != EpicNameField || name.Schema.Custom != "com.pyxis.greenhopper.jira:gh-epic-label" {
			t.Fatalf("Epic Name %+v", name)
		}
	})
}

func TestUserSearch(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		_, c := seeded(t, mode)
		find := func(term string) []jira.User {
			t.Helper()
			var users []jira.User
			var err error
			if mode == Cloud {
				users, _, err = c.User.Find(term)
			} else {
				users, _, err = c.User.Find("", jira.WithUsername(term))
			}
			if err != nil {
				t.Fatalf("find %q: %v", term, err)
			}
			return users
		}
		for _, term := range []string{"alice@example.com", "Alice", "example"} {
			users := find(term)
			if len(users) != 1 {
				t.Fatalf("find %q: %d users %+v", term, len(users), users)
			}
			u := users[0]
			if u.EmailAddress != alice.Email || u.DisplayName != alice.DisplayName || !u.Active {
				t.Fatalf("find %q: %+v", term, u)
			}
			if mode == Cloud && (u.AccountID != alice.AccountID || u.Name != "") || mode == DataCenter && (u.Name != alice.Name || u.Key == "" || u.AccountID != "") {
				t.Fatalf("%s user identity %+v", mode, u)
			}
		}
		if users := find("gone@example.com"); len(users) != 0 {
			t.Fatalf("inactive user found: %+v", users)
		}
		if users := find("nobody"); len(users) != 0 {
			t.Fatalf("found %+v", users)
		}
	})
}

func TestCreateEpicWithChildAndGet(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		s, c := seeded(t, mode)
		epic := create(t, c, epicFields(mode, "INC-42 database outage"))
		if epic.Key != "OPS-1" || epic.ID == "" || !strings.HasSuffix(epic.Self, "/rest/api/2/issue/"+epic.ID) {
			t.Fatalf("epic %+v", epic)
		}
		f := task("Add a replica lag alert", "aftermath", "inc-42")
		f.Description = "From the post-mortem of INC-42."
		f.Assignee = userRef(mode, alice)
		f.Priority = &jira.Priority{Name: "High"}
		f.Duedate = jira.Date(time.Date(2030, 5, 17, 0, 0, 0, 0, time.UTC))
		child := create(t, c, childOf(mode, f, epic.Key))
		if child.Key != "OPS-2" {
			t.Fatalf("child key %s", child.Key)
		}

		got, _, err := c.Issue.Get(child.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := got.Fields
		if g.Summary != f.Summary || g.Description != f.Description || !slices.Equal(g.Labels, []string{"aftermath", "inc-42"}) ||
			g.Type.Name != "Task" || g.Project.Key != ops.Key || g.Priority.Name != "High" ||
			time.Time(g.Duedate).Format(time.DateOnly) != "2030-05-17" || g.Status.Name != StatusToDo || g.Status.StatusCategory.Key != "new" ||
			g.Reporter == nil || g.Reporter.EmailAddress != s.Email() || time.Time(g.Created).IsZero() {
			t.Fatalf("got %+v", g)
		}
		if mode == Cloud {
			if g.Assignee == nil || g.Assignee.AccountID != alice.AccountID || g.Parent == nil || g.Parent.Key != epic.Key {
				t.Fatalf("Cloud assignee %+v parent %+v", g.Assignee, g.Parent)
			}
			if _, ok := g.Unknowns[EpicLinkField]; ok {
				t.Fatal("Cloud issue has an Epic Link field")
			}
		} else {
			if g.Assignee == nil || g.Assignee.Name != alice.Name || g.Parent != nil || g.Unknowns[EpicLinkField] != epic.Key {
				t.Fatalf("Data Center assignee %+v parent %+v epic link %v", g.Assignee, g.Parent, g.Unknowns[EpicLinkField])
			}
			e, _, err := c.Issue.Get(epic.Key, &jira.GetQueryOptions{Fields: "summary," + EpicNameField})
			if err != nil {
				t.Fatal(err)
			}
			if e.Fields.Unknowns[EpicNameField] != "INC-42 database outage" || e.Fields.Status != nil {
				t.Fatalf("epic fields %+v", e.Fields)
			}
		}

		x, ok := s.Issue(child.Key)
		want := Issue{ID: child.ID, Key: "OPS-2", Project: "OPS", IssueType: "Task", Summary: f.Summary, Description: f.Description,
			Labels: []string{"aftermath", "inc-42"}, Assignee: userID(mode, alice), Reporter: userID(mode, s.Myself()), DueDate: "2030-05-17",
			Priority: "High", Status: StatusToDo, Parent: epic.Key, Created: x.Created, Updated: x.Updated}
		if !ok || !reflect.DeepEqual(x, want) {
			t.Fatalf("snapshot\n got %+v\nwant %+v", x, want)
		}
		if all := s.Issues(); len(all) != 2 || all[0].Key != epic.Key || all[0].IssueType != "Epic" {
			t.Fatalf("issues %+v", all)
		}
		if _, resp, err := c.Issue.Get("OPS-99", nil); err == nil || code(resp) != http.StatusNotFound {
			t.Fatalf("get missing issue: %v %d", err, code(resp))
		}
	})
}

// bulkResult is POST /issue/bulk's answer.
type bulkResult struct {
	Issues []struct{ ID, Key, Self string } `json:"issues"`
	Errors []struct {
		Status        int `json:"status"`
		ElementErrors struct {
			ErrorMessages []string          `json:"errorMessages"`
			Errors        map[string]string `json:"errors"`
		} `json:"elementErrors"`
		FailedElementNumber int `json:"failedElementNumber"`
	} `json:"errors"`
}

// bulk sends POST /rest/api/2/issue/bulk the way the integration does,
// through go-jira's NewRequest and Do.
func bulk(t *testing.T, c *jira.Client, items []*jira.IssueFields) (bulkResult, int, string) {
	t.Helper()
	type update struct {
		Fields *jira.IssueFields `json:"fields"`
	}
	body := struct {
		IssueUpdates []update `json:"issueUpdates"`
	}{}
	for _, f := range items {
		body.IssueUpdates = append(body.IssueUpdates, update{f})
	}
	req, err := c.NewRequest("POST", "rest/api/2/issue/bulk", body)
	if err != nil {
		t.Fatal(err)
	}
	// Do decodes only 2xx answers, and a bulk where every element failed
	// answers the same body with 400: read it either way.
	resp, err := c.Do(req, nil)
	if resp == nil {
		t.Fatalf("bulk: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out bulkResult
	_ = json.Unmarshal(raw, &out) // a request-level error has another shape
	return out, code(resp), string(raw)
}

func TestBulkCreate(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		s, c := seeded(t, mode)
		epic := create(t, c, epicFields(mode, "INC-7"))
		s.RejectBulkItem("REJECT")
		items := []*jira.IssueFields{
			childOf(mode, task("first", "inc-7"), epic.Key),
			childOf(mode, task("second REJECT", "inc-7"), epic.Key),
			childOf(mode, task("third", "inc-7"), epic.Key),
			{Project: jira.Project{Key: ops.Key}, Type: jira.IssueType{Name: "Task"}}, // no summary
		}
		out, code, _ := bulk(t, c, items)
		if code != http.StatusCreated || len(out.Issues) != 2 || out.Issues[0].Key != "OPS-2" || out.Issues[1].Key != "OPS-3" {
			t.Fatalf("bulk: %d %+v", code, out)
		}
		if len(out.Errors) != 2 || out.Errors[0].FailedElementNumber != 1 || out.Errors[0].Status != 400 || len(out.Errors[0].ElementErrors.ErrorMessages) != 1 ||
			out.Errors[1].FailedElementNumber != 3 || out.Errors[1].ElementErrors.Errors["summary"] != "You must specify a summary of the issue." {
			t.Fatalf("bulk errors %+v", out.Errors)
		}
		for _, k := range []string{"OPS-2", "OPS-3"} {
			if x, _ := s.Issue(k); x.Parent != epic.Key {
				t.Fatalf("%s parent %q", k, x.Parent)
			}
		}

		// More than 50 elements are refused whole.
		var many []*jira.IssueFields
		for i := range 51 {
			many = append(many, task(fmt.Sprintf("item %d", i)))
		}
		if _, code, raw := bulk(t, c, many); code != http.StatusBadRequest || !strings.Contains(raw, `"errorMessages":["You can create at most 50 issues`) {
			t.Fatalf("51 elements: %d %s", code, raw)
		}
		if n := len(s.Issues()); n != 3 {
			t.Fatalf("%d issues after the refused bulk", n)
		}
		out, code, _ = bulk(t, c, many[:50])
		if code != http.StatusCreated || len(out.Issues) != 50 {
			t.Fatalf("50 elements: %d, %d created", code, len(out.Issues))
		}
	})
}

func TestBulkAllFailedIs400WithElementErrors(t *testing.T) {
	s, c := seeded(t, Cloud)
	s.RejectBulkItem("x")
	req, _ := c.NewRequest("POST", "rest/api/2/issue/bulk", map[string]any{"issueUpdates": []any{
		map[string]any{"fields": map[string]any{"project": map[string]string{"key": "OPS"}, "issuetype": map[string]string{"name": "Task"}, "summary": "x"}},
		map[string]any{"fields": map[string]any{"project": map[string]string{"key": "NOPE"}, "issuetype": map[string]string{"name": "Task"}, "summary": "y"}},
	}})
	resp, err := c.Do(req, nil)
	if err == nil || code(resp) != http.StatusBadRequest {
		t.Fatalf("all failed: %v %d", err, code(resp))
	}
	var out bulkResult
	decodeJSON(t, resp.Body, &out)
	if len(out.Issues) != 0 || len(out.Errors) != 2 || out.Errors[1].ElementErrors.Errors["project"] != "Specify a valid project ID or key" {
		t.Fatalf("body %+v", out)
	}
}

func TestSearchCloud(t *testing.T) {
	s, c := seeded(t, Cloud)
	epic := create(t, c, epicFields(Cloud, "INC-9"))
	var keys []string
	for i := range 5 {
		keys = append(keys, create(t, c, childOf(Cloud, task(fmt.Sprintf("follow-up %d", i), "inc-9"), epic.Key)).Key)
	}
	create(t, c, task("unrelated", "inc-10"))

	// Pages of two, linked by nextPageToken, only the fields asked for.
	var got []string
	token := ""
	for pages := 1; ; pages++ {
		issues, resp, err := c.Issue.SearchV2JQL(`labels = "inc-9" AND project = OPS ORDER BY created ASC`, &jira.SearchOptionsV2{MaxResults: 2, NextPageToken: token, Fields: []string{"summary", "labels"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range issues {
			if x.Fields == nil || x.Fields.Summary == "" || x.Fields.Status != nil {
				t.Fatalf("fields of %s: %+v", x.Key, x.Fields)
			}
			got = append(got, x.Key)
		}
		if resp.IsLast != (resp.NextPageToken == "") || pages > 3 {
			t.Fatalf("page %d: isLast %v token %q", pages, resp.IsLast, resp.NextPageToken)
		}
		if resp.IsLast {
			break
		}
		token = resp.NextPageToken
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("search: %v, want %v", got, keys)
	}

	// Without fields only ids and keys come back; parent, issuetype, key in
	// and DESC order work.
	issues, _, err := c.Issue.SearchV2JQL(fmt.Sprintf("parent = %s AND issuetype = Task AND key in (%s, %s) order by created desc", epic.Key, keys[0], keys[3]), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(issues) != 2 || issues[0].Key != keys[3] || issues[1].Key != keys[0] || issues[0].Fields != nil {
		t.Fatalf("search: %+v", issues)
	}
	if issues, _, err := c.Issue.SearchV2JQL(`issuetype = Epic AND labels in ("inc-9", "inc-10")`, nil); err != nil || len(issues) != 0 {
		t.Fatalf("epics labelled: %v %v", issues, err)
	}

	// Cloud removed /search.
	_, resp, err := c.Issue.Search(`labels = "inc-9"`, nil)
	if code(resp) != http.StatusGone || !strings.Contains(err.Error(), "/rest/api/3/search/jql") {
		t.Fatalf("Search on Cloud: %d %v", code(resp), err)
	}
	if s.Count("GET /rest/api/2/search") != 1 || s.Count("GET /rest/api/2/search/jql") != 5 {
		t.Fatalf("counts: %d %d", s.Count("GET /rest/api/2/search"), s.Count("GET /rest/api/2/search/jql"))
	}
}

func TestSearchDataCenter(t *testing.T) {
	_, c := seeded(t, DataCenter)
	epic := create(t, c, epicFields(DataCenter, "INC-9"))
	var keys []string
	for i := range 5 {
		keys = append(keys, create(t, c, childOf(DataCenter, task(fmt.Sprintf("follow-up %d", i), "inc-9"), epic.Key)).Key)
	}
	var got []string
	for start := 0; ; {
		issues, resp, err := c.Issue.Search(`"Epic Link" = `+epic.Key+` AND labels = inc-9`, &jira.SearchOptions{StartAt: start, MaxResults: 2})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Total != 5 || resp.StartAt != start || resp.MaxResults != 2 {
			t.Fatalf("page at %d: %+v", start, resp)
		}
		for _, x := range issues {
			if x.Fields == nil || x.Fields.Unknowns[EpicLinkField] != epic.Key || x.Fields.Comments != nil {
				t.Fatalf("fields of %s: %+v", x.Key, x.Fields)
			}
			got = append(got, x.Key)
		}
		start += len(issues)
		if start >= resp.Total {
			break
		}
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("search: %v, want %v", got, keys)
	}
	// parent is the sub-task parent on Data Center: epics' children are not
	// found with it.
	if issues, _, err := c.Issue.Search("parent = "+epic.Key, nil); err != nil || len(issues) != 0 {
		t.Fatalf("parent on Data Center: %v %v", issues, err)
	}
	// Data Center has no enhanced search.
	if _, resp, err := c.Issue.SearchV2JQL(`labels = "inc-9"`, nil); err == nil || code(resp) != http.StatusNotFound {
		t.Fatalf("SearchV2JQL on Data Center: %d %v", code(resp), err)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func TestSearchLag(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		clk := &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
		s := NewWithOptions(t, Options{Mode: mode, Now: clk.Now, SearchLag: 5 * time.Second})
		seed(s)
		c := client(t, s)
		search := func(jql string) []string {
			t.Helper()
			var issues []jira.Issue
			var err error
			if mode == Cloud {
				issues, _, err = c.Issue.SearchV2JQL(jql, &jira.SearchOptionsV2{Fields: []string{"labels"}})
			} else {
				issues, _, err = c.Issue.Search(jql, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, x := range issues {
				keys = append(keys, x.Key+":"+strings.Join(x.Fields.Labels, ","))
			}
			return keys
		}
		key := create(t, c, task("lagging", "inc-1")).Key
		if got := search(`labels = inc-1`); len(got) != 0 {
			t.Fatalf("new issue searchable at once: %v", got)
		}
		if _, _, err := c.Issue.Get(key, nil); err != nil {
			t.Fatalf("get is not lagged: %v", err)
		}
		clk.Add(5 * time.Second)
		if got := search(`labels = inc-1`); !slices.Equal(got, []string{key + ":inc-1"}) {
			t.Fatalf("after the lag: %v", got)
		}
		if _, err := c.Issue.UpdateIssue(key, map[string]any{"update": map[string]any{"labels": []any{map[string]string{"add": "inc-2"}, map[string]string{"remove": "inc-1"}}}}); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
		if got, old := search(`labels = inc-2`), search(`labels = inc-1`); len(got) != 0 || !slices.Equal(old, []string{key + ":inc-1"}) {
			t.Fatalf("during the lag: new %v, old %v", got, old)
		}
		clk.Add(4 * time.Second)
		if got, old := search(`labels = inc-2`), search(`labels = inc-1`); !slices.Equal(got, []string{key + ":inc-2"}) || len(old) != 0 {
			t.Fatalf("after the lag: new %v, old %v", got, old)
		}

		// Changing the lag applies it to what changed recently.
		clk.Add(time.Second)
		s.SetSearchLag(time.Minute)
		if got := search(`labels = inc-2`); len(got) != 0 {
			t.Fatalf("lag raised to a minute: %v", got)
		}
		s.SetSearchLag(0)
		if got := search(`labels = inc-2`); len(got) != 1 {
			t.Fatalf("lag removed: %v", got)
		}
	})
}

func TestCommentsLabelsAndTransitions(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		s, c := seeded(t, mode)
		key := create(t, c, task("follow-up", "inc-1")).Key

		cm, resp, err := c.Issue.AddComment(key, &jira.Comment{Body: "Linked from the post-mortem."})
		if err != nil || code(resp) != http.StatusCreated {
			t.Fatalf("comment: %v %d", err, code(resp))
		}
		if cm.ID == "" || cm.Body != "Linked from the post-mortem." || cm.Author.EmailAddress != s.Email() || cm.Created == "" {
			t.Fatalf("comment %+v", cm)
		}

		if _, err := c.Issue.UpdateIssue(key, map[string]any{"update": map[string]any{"labels": []any{map[string]string{"add": "aftermath"}, map[string]string{"add": "inc-1"}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Issue.UpdateIssue(key, map[string]any{"fields": map[string]any{"summary": "renamed", "assignee": userRef(mode, alice), "duedate": "2030-01-31"}}); err != nil {
			t.Fatal(err)
		}

		trs, _, err := c.Issue.GetTransitions(key)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		byName := map[string]string{}
		for _, tr := range trs {
			names = append(names, tr.Name)
			byName[tr.To.Name] = tr.ID
		}
		if !slices.Equal(names, []string{StatusInProgress, StatusInReview, StatusReviewed, StatusDone}) || byName[StatusInProgress] != "21" {
			t.Fatalf("transitions from To Do: %v", trs)
		}
		if _, err := c.Issue.DoTransition(key, byName[StatusInProgress]); err != nil {
			t.Fatal(err)
		}
		// The transition is no longer available: a retry is refused.
		if resp, err := c.Issue.DoTransition(key, byName[StatusInProgress]); err == nil || code(resp) != http.StatusBadRequest || !strings.Contains(err.Error(), "not valid for the current state") {
			t.Fatalf("repeated transition: %v", err)
		}
		if _, err := c.Issue.DoTransitionWithPayload(key, map[string]any{"transition": map[string]string{"id": "51"}, "update": map[string]any{"comment": []any{map[string]any{"add": map[string]string{"body": "Done by aftermath."}}}}}); err != nil {
			t.Fatal(err)
		}

		x, _, err := c.Issue.Get(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		f := x.Fields
		if f.Summary != "renamed" || !slices.Equal(f.Labels, []string{"aftermath", "inc-1"}) || f.Status.Name != StatusDone || f.Status.StatusCategory.Key != "done" ||
			f.Resolution == nil || f.Resolution.Name != "Done" || time.Time(f.Resolutiondate).IsZero() || f.Comments == nil || len(f.Comments.Comments) != 2 || f.Comments.Comments[1].Body != "Done by aftermath." {
			t.Fatalf("issue after edits: %+v", f)
		}
		snap, _ := s.Issue(key)
		if snap.Assignee != userID(mode, alice) || snap.DueDate != "2030-01-31" || len(snap.Comments) != 2 || snap.Comments[0].Author != userID(mode, s.Myself()) {
			t.Fatalf("snapshot %+v", snap)
		}

		// Comments page.
		req, _ := c.NewRequest("GET", "rest/api/2/issue/"+key+"/comment?orderBy=-created&maxResults=1", nil)
		var page struct {
			Total    int            `json:"total"`
			Comments []jira.Comment `json:"comments"`
		}
		if _, err := c.Do(req, &page); err != nil {
			t.Fatal(err)
		}
		if page.Total != 2 || len(page.Comments) != 1 || page.Comments[0].Body != "Done by aftermath." {
			t.Fatalf("comments page %+v", page)
		}
		s.SetStatus(key, StatusReviewed)
		if x, _ := s.Issue(key); x.Status != StatusReviewed || !x.ResolutionDate.IsZero() {
			t.Fatalf("SetStatus: %+v", x)
		}
	})
}
