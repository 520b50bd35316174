package jiratest

import (
	"net/url"
	"strings"
	"testing"
)

// What people do in Jira's UI, as tests play it: a ticket added under an
// epic (found by parent on Cloud, Epic Link on Data Center, and by OR
// between clauses), its due date changed (shown in search and GET, and
// validated), the ticket deleted (gone from search, and a query naming it
// refused as Jira refuses it).
func TestPeopleHelpers(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		s := New(t, mode)
		seed(s)
		epicBody := `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Epic"},"summary":"Post-mortem"}}`
		if mode == DataCenter {
			epicBody = `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Epic"},"summary":"Post-mortem","` + EpicNameField + `":"PM"}}`
		}
		r := send(t, s, "POST", "/rest/api/2/issue", epicBody, nil)
		epic, _ := r.body["key"].(string)
		if r.status != 201 || epic == "" {
			t.Fatalf("create epic: %d %s", r.status, r.raw)
		}
		aliceID := alice.AccountID
		if mode == DataCenter {
			aliceID = alice.Name
		}
		child := s.AddChild(epic, "Task", "  Canary  ", aliceID, aliceID, "2026-12-01")
		if child.Parent != epic || child.Summary != "Canary" || child.DueDate != "2026-12-01" || child.Reporter != aliceID || child.Status != StatusToDo {
			t.Fatalf("child = %+v", child)
		}
		other := s.AddChild(epic, "Bug", "Other", aliceID, "", "")
		link := "parent"
		if mode == DataCenter {
			link = `"Epic Link"`
		}
		search := func(jql string) rawResp {
			path := "/rest/api/2/search/jql?fields=duedate&jql="
			if mode == DataCenter {
				path = "/rest/api/2/search?fields=duedate&jql="
			}
			return send(t, s, "GET", path+url.QueryEscape(jql), "", nil)
		}
		keys := func(r rawResp) string {
			var out []string
			for _, is := range r.body["issues"].([]any) {
				out = append(out, is.(map[string]any)["key"].(string))
			}
			return strings.Join(out, " ")
		}
		jql := "key = " + epic + " OR " + link + " = " + epic + " ORDER BY key"
		if r := search(jql); r.status != 200 || keys(r) != epic+" "+child.Key+" "+other.Key {
			t.Fatalf("%s: %d %s", jql, r.status, r.raw)
		}
		s.SetDueDate(child.Key, "2026-12-24")
		r = send(t, s, "GET", "/rest/api/2/issue/"+child.Key+"?fields=duedate", "", nil)
		if f, _ := r.body["fields"].(map[string]any); r.status != 200 || f["duedate"] != "2026-12-24" {
			t.Fatalf("due date after the change: %d %s", r.status, r.raw)
		}
		if r := send(t, s, "PUT", "/rest/api/2/issue/"+child.Key, `{"fields":{"duedate":"24/12/2026"}}`, nil); r.status != 400 || r.fieldError("duedate") == "" {
			t.Fatalf("a bad due date: %d %s", r.status, r.raw)
		}
		s.DeleteIssue(other.Key)
		if r := search(link + " = " + epic); r.status != 200 || keys(r) != child.Key {
			t.Fatalf("after the delete: %d %s", r.status, r.raw)
		}
		if r := search("key = " + other.Key); r.status != 400 {
			t.Fatalf("a query naming a deleted issue: %d %s", r.status, r.raw)
		}
		if r := send(t, s, "GET", "/rest/api/2/issue/"+other.Key, "", nil); r.status != 404 {
			t.Fatalf("GET a deleted issue: %d", r.status)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("AddChild under a task did not panic")
				}
			}()
			s.AddChild(child.Key, "Task", "x", aliceID, "", "")
		}()
	})
}
