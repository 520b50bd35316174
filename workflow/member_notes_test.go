package workflow

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/store"
)

// The member's own processing holds its lock while the primary's process
// wants to write its note: the primary waits, and the note is written once.
func TestResolutionMemberNoteWaitsForMemberLock(t *testing.T) {
	e := newPDEnv(t, testRules)
	groupScenario(e)
	lock, err := e.store.LockIncident(context.Background(), "PMDONE", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(400 * time.Millisecond)
		released <- time.Now()
		_ = lock.Release(context.Background())
	}()
	e.mustProcess(EventResolved, "PPRIM")
	at := <-released
	var noteAt time.Time
	for _, c := range e.sim.Calls() {
		if c.Route == "POST /incidents/{id}/notes" && c.Path == "/incidents/PMDONE/notes" {
			noteAt = c.At
		}
	}
	if noteAt.Before(at) {
		t.Fatalf("the member's note was written at %s, before its lock was released at %s", noteAt, at)
	}
	e.wantNotes("PMDONE", 1)

	// A lock that is never released: the attempt fails, retryably.
	e2 := newPDEnv(t, testRules)
	groupScenario(e2)
	e2.res.MemberLockWait = 300 * time.Millisecond
	if _, err := e2.store.LockIncident(context.Background(), "PMDONE", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	err = e2.process(EventResolved, "PPRIM")
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "stays locked") {
		t.Fatalf("err = %v, want a retryable lock error", err)
	}
	e2.wantNotes("PMDONE", 0)
}

// hookSteps runs hook once, when a given step is recorded.
type hookSteps struct {
	*store.Store
	once sync.Once
	id   string
	step string
	st   string
	hook func()
}

func (h *hookSteps) RecordStep(ctx context.Context, id string, st store.StepRecord) error {
	if id == h.id && st.Name == h.step && st.Status == h.st {
		h.once.Do(h.hook)
	}
	return h.Store.RecordStep(ctx, id, st)
}

// A member resolves while the primary's process runs (after the group was
// claimed, before the post-mortem is recorded): it still joins the epic,
// once.
func TestJiraMemberJoinsWhilePrimaryRuns(t *testing.T) {
	e := newJiraEnv(t, jiratest.Cloud, 10)
	e.incident("PEARLY", "PSVC001", "P1", t0, 30*time.Minute)
	member := *e.res
	member.Store = e.store
	e.res.Store = &hookSteps{Store: e.store, id: "PEARLY", step: StepEpic, st: store.StepStarted, hook: func() {
		e.incident("PTARDY", "PSVC002", "P2", t0.Add(50*time.Minute), 10*time.Minute)
		if err := member.Process(context.Background(), e.job(EventResolved, "PTARDY")); err != nil {
			t.Errorf("member: %v", err)
		}
	}}
	e.mustProcess(EventResolved, "PEARLY")
	e.res.Store = e.store
	e.mustProcess(EventResolved, "PEARLY") // a redelivery of the primary's event changes nothing
	epic := e.wantOneEpic()
	e.wantNotes("PTARDY", 1)
	if !slices.Contains(epic.Labels, "pagerduty-PTARDY") {
		t.Errorf("labels = %v: the member is not on the epic", epic.Labels)
	}
	n := 0
	for _, c := range epic.Comments {
		if strings.Contains(c.Body, "joined this post-mortem") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d join comments", n)
	}
}
