package app

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/catchup"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/store"
)

// Three replicas serve with a 1s sweep; an incident resolves and its
// webhook never comes. The sweep finds it and it is processed once; the
// webhook that finally arrives is processed as a repeat that writes
// nothing to PagerDuty.
func TestSweepProcessesAMissedResolutionOnceAcrossReplicas(t *testing.T) {
	r := redistest.New(t)
	sim, pdEnv := pagerDuty(t)
	now := time.Now().UTC().Truncate(time.Second)
	sim.AddIncident(pagerdutytest.NewIncident{ID: "QLOST", Title: "Lost webhook", ServiceID: "PNE3JZM", Priority: "P1", CreatedAt: now.Add(-9 * 24 * time.Hour)})
	sim.Resolve("QLOST", "PBEN", now.Add(-time.Minute))
	// With Jira, processing writes: the epic, and the link-back note.
	js := jiratest.New(t, jiratest.Cloud)
	js.AddProject(jiratest.Project{Key: "PM", Name: "Post-mortems"})
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte("catch_up:\n  every: 1s\n  look_back: 1h\njira:\n  deployment: cloud\n  project: PM\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := with(pdEnv, serveEnv(r), map[string]string{"AFTERMATH_RULES": path,
		"JIRA_BASE_URL": js.URL(), "JIRA_EMAIL": js.Email(), "JIRA_API_TOKEN": js.APIToken()})
	var apps []*App
	for range 3 {
		a, _ := startAppWith(t, env, Options{Ingest: true, Worker: true, CatchUp: catchup.Config{Settle: -1}})
		apps = append(apps, a)
	}
	base := "http://" + apps[0].Addr()
	rec := waitRecord(t, base, "QLOST", func(rec store.IncidentRecord) bool {
		return len(rec.Attempts) > 0 && rec.Attempts[0].Outcome == store.OutcomeDone
	})
	if len(rec.Events) != 1 || rec.Events[0].EventID != store.MissedEventID("QLOST") {
		t.Fatalf("events %+v, want the sweep's one", rec.Events)
	}
	before := writes(sim)
	if before == 0 || len(js.Issues()) != 1 {
		t.Fatalf("processing wrote %d times to PagerDuty and made %d Jira issues; want the link-back and one epic", before, len(js.Issues()))
	}
	// Let several more sweeps run on every replica: nothing is queued again.
	time.Sleep(3 * time.Second)
	rec = waitRecord(t, base, "QLOST", func(store.IncidentRecord) bool { return true })
	if len(rec.Attempts) != 1 || len(rec.Events) != 1 {
		t.Fatalf("after more sweeps: %d attempts, %d events; want 1 each", len(rec.Attempts), len(rec.Events))
	}
	_, metrics := get(t, base+"/metrics", "")
	missed := 0
	for _, a := range apps {
		_, m := get(t, "http://"+a.Addr()+"/metrics", "")
		if strings.Contains(m, "aftermath_catchup_missed_total 1") {
			missed++
		}
	}
	if missed != 1 || !strings.Contains(metrics, "aftermath_catchup_cursor_age_seconds") {
		t.Fatalf("%d replicas counted the missed resolution, want 1", missed)
	}
	// The webhook arrives late: queued, processed, and no write repeated.
	wh := sim.IncidentWebhook("QLOST", store.EventResolved, "PBEN", sampleSecret)
	if code, out := post(t, base+"/webhooks/pagerduty", wh.Body, wh.Headers); code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("late webhook: %d %s", code, out)
	}
	waitRecord(t, base, "QLOST", func(rec store.IncidentRecord) bool {
		return len(rec.Attempts) == 2 && rec.Attempts[1].Outcome == store.OutcomeDone
	})
	if after := writes(sim); after != before || len(js.Issues()) != 1 {
		t.Fatalf("the late webhook wrote again: %d PagerDuty writes before, %d after; %d Jira issues", before, after, len(js.Issues()))
	}
}

// writes counts the requests that could change PagerDuty.
func writes(sim *pagerdutytest.Server) int {
	n := 0
	for _, c := range sim.Calls() {
		if c.Method != http.MethodGet {
			n++
		}
	}
	return n
}
