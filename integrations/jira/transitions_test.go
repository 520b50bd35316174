package jira_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
)

// The transitions Jira offers are listed with the status each leads to;
// moving through one changes the status; the same move again is refused as
// Jira refuses it, and an issue that does not exist is a 404.
func TestTransitions(t *testing.T) {
	forModes(t, func(t *testing.T, mode jiratest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		key := e.create(t, task("to move"))
		ts, err := e.c.Transitions(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var to []string
		var done jira.Transition
		for _, tr := range ts {
			to = append(to, tr.To)
			if tr.ID == "" || tr.Name == "" {
				t.Errorf("transition without ID or name: %+v", tr)
			}
			if tr.To == jiratest.StatusDone {
				done = tr
			}
		}
		if slices.Contains(to, jiratest.StatusToDo) || !slices.Contains(to, jiratest.StatusDone) || !slices.Contains(to, jiratest.StatusReviewed) {
			t.Fatalf("transitions from To Do lead to %q", to)
		}
		if err := e.c.DoTransition(ctx, key, done); err != nil {
			t.Fatal(err)
		}
		if st, err := e.c.Status(ctx, key); err != nil || st != jiratest.StatusDone {
			t.Fatalf("status after the move: %q, %v", st, err)
		}
		jiraError(t, e.c.DoTransition(ctx, key, done), http.StatusBadRequest, false, "not valid for the current state")
		if n := e.sim.Count("POST /rest/api/2/issue/{issueIdOrKey}/transitions"); n != 2 {
			t.Fatalf("%d transition requests, want 2 (a refusal is not retried)", n)
		}
		if _, err := e.c.Transitions(ctx, "OPS-999"); statusOf(err) != http.StatusNotFound {
			t.Fatalf("Transitions of a missing issue: %v", err)
		}
	})
}
