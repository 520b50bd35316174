package jira_test

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
)

// Follow-ups created with a due date carry it in Jira (duedate YYYY-MM-DD,
// in the bulk request); the status sync's reading finds every ticket under
// each epic, aftermath's and people's, with status, due date, assignee and
// created, in one paged query per 50 epics, 50 issues a page; a deleted
// ticket is missing; a ticket's due date is read from the ticket and set
// with one edit.
func TestTickets(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		due := time.Date(2026, 12, 21, 0, 0, 0, 0, time.UTC)
		var epics []string
		for i := range 3 {
			epics = append(epics, e.create(t, epic(fmt.Sprintf("Post-mortem %d", i), jira.IncidentLabel(fmt.Sprintf("P%d", i)))))
		}
		// 60 tickets under the first epic (two pages with the epics), one
		// under the second.
		var fus []jira.Followup
		for i := range 60 {
			fus = append(fus, jira.Followup{Project: ops.Key, IssueType: "Task", Summary: fmt.Sprintf("Fix %d", i), Due: due})
		}
		res, err := e.c.CreateFollowups(ctx, epics[0], "P0", fus)
		if err != nil || len(res) != 60 || res[59].Err != nil {
			t.Fatalf("create: %v %v", res, err)
		}
		if x := e.issue(t, res[0].Key); x.DueDate != "2026-12-21" || x.Parent != epics[0] {
			t.Fatalf("created follow-up: due %q under %q", x.DueDate, x.Parent)
		}
		person := e.sim.AddChild(epics[1], "Task", "Added by a person", userID(mode, alice), userID(mode, alice), "")
		e.sim.SetStatus(res[1].Key, jiratest.StatusDone)
		e.sim.SetStatus(epics[1], jiratest.StatusInReview)
		e.sim.DeleteIssue(res[2].Key)
		e.sim.ResetCalls()
		r, err := e.c.Tickets(ctx, epics)
		if err != nil {
			t.Fatal(err)
		}
		searches := e.sim.Count("POST /rest/api/2/search/jql") + e.sim.Count(searchRoute(mode)) + e.sim.Count("POST /rest/api/2/search")
		if searches != 2 {
			t.Fatalf("%d searches for 3 epics and 60 tickets, want 2 (50 a page)", searches)
		}
		if len(r.Statuses) != 3 || r.Statuses[epics[1]] != jiratest.StatusInReview || r.Statuses[epics[0]] != jiratest.StatusToDo {
			t.Fatalf("epic statuses = %v", r.Statuses)
		}
		if n := len(r.Tickets[epics[0]]); n != 59 {
			t.Fatalf("%d tickets under %s, want 59 (one deleted)", n, epics[0])
		}
		for _, tk := range r.Tickets[epics[0]] {
			if tk.Key == res[2].Key {
				t.Fatalf("deleted %s read", tk.Key)
			}
			if !tk.Due.Equal(due) || tk.Created.IsZero() || tk.Epic != epics[0] {
				t.Fatalf("ticket %+v", tk)
			}
			if tk.Key == res[1].Key && tk.Status != jiratest.StatusDone {
				t.Fatalf("%s status %q, want Done", tk.Key, tk.Status)
			}
		}
		got := r.Tickets[epics[1]]
		if len(got) != 1 || got[0].Key != person.Key || got[0].Summary != "Added by a person" || !got[0].Due.IsZero() ||
			got[0].Assignee.Email != alice.Email || got[0].Assignee.DisplayName != alice.DisplayName || got[0].Assignee.ID != userID(mode, alice) {
			t.Fatalf("person's ticket = %+v", got)
		}
		if _, found, err := e.c.DueDate(ctx, person.Key); err != nil || found {
			t.Fatalf("due date of a ticket without one: %v %v", found, err)
		}
		if err := e.c.SetDueDate(ctx, person.Key, due); err != nil {
			t.Fatal(err)
		}
		if d, found, err := e.c.DueDate(ctx, person.Key); err != nil || !found || !d.Equal(due) {
			t.Fatalf("due date after the edit: %v %v %v", d, found, err)
		}
		if x := e.issue(t, person.Key); x.DueDate != "2026-12-21" {
			t.Fatalf("due date in Jira %q", x.DueDate)
		}
		if body := e.lastBody(t, "PUT /rest/api/2/issue/{issueIdOrKey}"); fmt.Sprint(body) != "map[fields:map[duedate:2026-12-21]]" {
			t.Fatalf("edit body %v", body)
		}
	})
}

// An epic deleted from Jira (or out of the account's sight) makes Jira
// refuse a search that names it with a 400, "An issue with key 'OPS-2' does
// not exist for field 'key'.": the other epics of the batch are still read,
// by Tickets and by Statuses, and the missing one is absent from the
// answer. When nothing is missing a batch is one search; a missing epic
// costs one more.
func TestMissingEpics(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		var epics []string
		fus := map[string][]string{}
		for i := range 3 {
			ep := e.create(t, epic(fmt.Sprintf("Post-mortem %d", i), jira.IncidentLabel(fmt.Sprintf("P%d", i))))
			epics = append(epics, ep)
			res, err := e.c.CreateFollowups(ctx, ep, fmt.Sprintf("P%d", i), []jira.Followup{
				{Project: ops.Key, IssueType: "Task", Summary: fmt.Sprintf("Fix %d a", i)},
				{Project: ops.Key, IssueType: "Task", Summary: fmt.Sprintf("Fix %d b", i)},
			})
			if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
				t.Fatalf("create follow-ups: %v %v", res, err)
			}
			fus[ep] = []string{res[0].Key, res[1].Key}
		}
		keys := slices.Concat(epics, fus[epics[0]], fus[epics[1]], fus[epics[2]])
		searches := func() int {
			return e.sim.Count("POST /rest/api/2/search/jql") + e.sim.Count("GET /rest/api/2/search/jql") +
				e.sim.Count("GET /rest/api/2/search") + e.sim.Count("POST /rest/api/2/search")
		}
		read := func(t *testing.T) (jira.EpicTickets, map[string]string, int, int) {
			t.Helper()
			e.sim.ResetCalls()
			r, err := e.c.Tickets(ctx, epics)
			if err != nil {
				t.Errorf("Tickets: %v", err)
			}
			n := searches()
			e.sim.ResetCalls()
			st, err := e.c.Statuses(ctx, keys)
			if err != nil {
				t.Fatalf("Statuses: %v", err)
			}
			return r, st, n, searches()
		}
		// Nothing missing: one search each.
		if r, st, nt, ns := read(t); nt != 1 || ns != 1 || len(r.Statuses) != 3 || len(r.Tickets) != 3 || len(st) != 9 {
			t.Fatalf("nothing missing: %d and %d searches, statuses %v, tickets %v, statuses %v", nt, ns, r.Statuses, r.Tickets, st)
		}

		e.sim.SetStatus(epics[2], jiratest.StatusInReview)
		e.sim.SetStatus(fus[epics[2]][0], jiratest.StatusDone)
		e.sim.DeleteIssue(epics[1])
		// A follow-up deleted too: Statuses names it (Tickets does not).
		deleted := fus[epics[0]][1]
		e.sim.DeleteIssue(deleted)
		fus[epics[0]] = fus[epics[0]][:1]
		r, st, nt, ns := read(t)
		if nt != 2 || ns != 2 {
			t.Errorf("%d and %d searches with one epic missing, want 2 (the refused one and the retry)", nt, ns)
		}
		want := map[string]string{epics[0]: jiratest.StatusToDo, epics[2]: jiratest.StatusInReview}
		if !maps.Equal(r.Statuses, want) {
			t.Fatalf("Tickets: epic statuses %v, want %v", r.Statuses, want)
		}
		if len(r.Tickets) != 2 || len(r.Tickets[epics[1]]) != 0 {
			t.Fatalf("Tickets: tickets by epic %v, want none under the deleted %s", r.Tickets, epics[1])
		}
		for _, ep := range []string{epics[0], epics[2]} {
			var got []string
			for _, tk := range r.Tickets[ep] {
				got = append(got, tk.Key)
			}
			if !slices.Equal(got, fus[ep]) {
				t.Fatalf("Tickets: under %s %v, want %v", ep, got, fus[ep])
			}
		}
		if r.Tickets[epics[2]][0].Status != jiratest.StatusDone {
			t.Fatalf("Tickets: %+v, want Done", r.Tickets[epics[2]][0])
		}
		_, epicRead := st[epics[1]]
		_, ticketRead := st[deleted]
		if epicRead || ticketRead || len(st) != 7 || st[epics[2]] != jiratest.StatusInReview || st[fus[epics[2]][0]] != jiratest.StatusDone {
			t.Fatalf("Statuses: %v, want all but the deleted %s and %s", st, epics[1], deleted)
		}
		if !strings.Contains(e.logs.String(), epics[1]) {
			t.Fatalf("no log names the missing %s:\n%s", epics[1], e.logs.String())
		}

		// Every epic gone: nothing read, no error.
		e.sim.DeleteIssue(epics[0])
		e.sim.DeleteIssue(epics[2])
		e.sim.ResetCalls()
		if r, err := e.c.Tickets(ctx, epics); err != nil || len(r.Statuses) != 0 || len(r.Tickets) != 0 {
			t.Fatalf("Tickets of deleted epics: %v %v", r, err)
		}
		if n := searches(); n != 1 {
			t.Fatalf("%d searches for %d deleted epics, want 1 (Jira names them all at once)", n, len(epics))
		}
		if st, err := e.c.Statuses(ctx, epics); err != nil || len(st) != 0 {
			t.Fatalf("Statuses of deleted epics: %v %v", st, err)
		}
	})
}

// A search Jira refuses with a 400 that names no key of the batch is still
// an error, after one search.
func TestSearchRefusedNamingNoKey(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		ep := e.create(t, epic("Post-mortem", jira.IncidentLabel("P1")))
		routes := []string{"POST /rest/api/2/search/jql", "GET /rest/api/2/search/jql"}
		if mode == jiratest.DataCenter {
			routes = []string{"GET /rest/api/2/search", "POST /rest/api/2/search"}
		}
		for _, route := range routes {
			e.sim.Inject(route, jiratest.Fault{Status: http.StatusBadRequest, Times: 2})
		}
		e.sim.ResetCalls()
		_, err := e.c.Tickets(ctx, []string{ep})
		if statusOf(err) != http.StatusBadRequest {
			t.Fatalf("Tickets: %v, want the 400", err)
		}
		_, err = e.c.Statuses(ctx, []string{ep})
		if statusOf(err) != http.StatusBadRequest {
			t.Fatalf("Statuses: %v, want the 400", err)
		}
		if n := e.sim.Count(routes[0]) + e.sim.Count(routes[1]); n != 2 {
			t.Fatalf("%d searches, want 2 (one each)", n)
		}
	})
}
