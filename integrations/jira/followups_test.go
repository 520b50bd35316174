package jira_test

import (
	"fmt"
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
