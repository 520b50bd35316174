package workflow

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
)

// A member that joins after the primary's process finished gets its note
// from its own resolution.
func TestResolutionLateMemberGetsItsNote(t *testing.T) {
	e := newPDEnv(t, testRules)
	e.incident("PEARLY", "PSVC001", "P1", t0, 30*time.Minute)
	e.mustProcess(EventResolved, "PEARLY")
	// Triggered 20 minutes after the primary resolved: inside the window,
	// unknown to the primary's process.
	e.incident("PTARDY", "PSVC002", "P2", t0.Add(50*time.Minute), 10*time.Minute)
	e.mustProcess(EventResolved, "PTARDY")
	if e.postmortems() != 1 {
		t.Fatalf("%d post-mortems, want 1", e.postmortems())
	}
	e.wantNotes("PTARDY", 1)
	if st := e.step("PTARDY", StepGroup); !strings.Contains(st.Detail, "attached to its post-mortem") {
		t.Fatalf("group step = %+v", st)
	}
}

// A member that resolves after the post-mortem was made is added to the
// epic (label and comment), not given its own.
func TestJiraLateMemberJoinsTheEpic(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.incident("PEARLY", "PSVC001", "P1", t0, 30*time.Minute)
	e.mustProcess(EventResolved, "PEARLY")
	e.incident("PTARDY", "PSVC002", "P2", t0.Add(50*time.Minute), 10*time.Minute)
	e.mustProcess(EventResolved, "PTARDY")
	e.mustProcess(EventResolved, "PTARDY")
	epic := e.wantOneEpic()
	if !slices.Contains(epic.Labels, "pagerduty-PTARDY") {
		t.Fatalf("labels = %v", epic.Labels)
	}
	n := 0
	for _, c := range epic.Comments {
		if strings.Contains(c.Body, "joined this post-mortem") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d join comments, want 1: %+v", n, epic.Comments)
	}
	e.wantNotes("PTARDY", 1)
}
