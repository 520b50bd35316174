package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/e2e/e2ekit"
	"github.com/aftermath-dev/aftermath/integrations/confluence"
	"github.com/aftermath-dev/aftermath/integrations/confluence/confluencetest"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
)

// The Confluence variant: the real binary, three replicas with rules
// page.target: confluence on Confluence Cloud (the simulator validating
// every request and answer against Atlassian's spec), each webhook
// delivered to every replica at once, and every replica killed with
// SIGKILL while a page's create is in flight, then started again. Each
// post-mortem gets exactly one page, marked for its incident, and its epic
// links to it (description and remote link).
func TestEndToEndConfluence(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	const n = 4 // incidents, each its own post-mortem
	redis := redistest.StartServer(t, redistest.Durable...)
	sims := e2ekit.StartSims(t, 7)
	cf := e2ekit.StartConfluence(t, confluencetest.Cloud)
	sims.PD.AddUser(pagerdutytest.User{ID: "PALICE", Name: "Alice Ng", Email: "alice@example.com"})
	sims.Jira.AddUser(jiratest.User{AccountID: "acc-alice", Name: "alice", Email: "alice@example.com", DisplayName: "Alice", Active: true})
	var ids []string
	for i := range n {
		svc := fmt.Sprintf("PSVC%03d", i+1)
		id := fmt.Sprintf("QCF%d", i+1)
		sims.PD.AddService(pagerdutytest.Service{ID: svc, Name: "service-" + svc})
		sims.PD.AddIncident(pagerdutytest.NewIncident{ID: id, Title: fmt.Sprintf("Outage %d of %s", i+1, svc), ServiceID: svc, Priority: "P1",
			CreatedAt: time.Now().Add(-time.Hour)})
		sims.PD.Resolve(id, "PALICE", time.Time{})
		ids = append(ids, id)
	}
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(`version: 1
owner:
  from: [resolver]
jira:
  deployment: cloud
catch_up:
  enabled: false
page:
  target: confluence
confluence:
  space: PM
  parent: Post-mortems Home
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// The first create is slow, so that the replicas die while it is in
	// flight.
	cf.Inject("POST /wiki/api/v2/pages", confluencetest.Fault{Latency: 1500 * time.Millisecond, Times: 1})
	env := append(append(sims.Env(), e2ekit.ConfluenceEnv(cf)...), "REDIS_URL="+redis.URL, "AFTERMATH_RULES="+rulesFile, "AFTERMATH_RETRY_HORIZON=30m")
	rs := e2ekit.StartReplicas(t, 3, env, "--workers", "2")
	sender := e2ekit.NewSender(rs)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i, id := range ids {
		wh := sims.PD.IncidentWebhook(id, "incident.resolved", "PALICE", e2ekit.WebhookSecret)
		wg.Go(func() { sender.DeliverCopies(ctx, id, wh, 3, i%3) })
	}

	waitFor(t, 60*time.Second, "a page's create in flight", func() bool { return cf.Count("POST /wiki/api/v2/pages") > 0 })
	for i := range 3 {
		rs.Kill(i)
	}
	t.Logf("SIGKILL all replicas with %d create(s) sent", cf.Count("POST /wiki/api/v2/pages"))
	time.Sleep(500 * time.Millisecond)
	for i := range 3 {
		if err := rs.Start(i); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()

	epicOf := func(id string) (jiratest.Issue, bool) {
		for _, is := range sims.Jira.Issues() {
			if is.IssueType == "Epic" && strings.Contains(strings.Join(is.Labels, " "), "pagerduty-"+id) {
				return is, true
			}
		}
		return jiratest.Issue{}, false
	}
	linked := func(id string) bool {
		e, ok := epicOf(id)
		return ok && len(sims.Jira.RemoteLinks(e.Key)) > 0 && strings.Contains(e.Description, "The post-mortem page is in Confluence:")
	}
	waitFor(t, 2*time.Minute, "every epic linked to its page", func() bool {
		for _, id := range ids {
			if !linked(id) {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second) // duplicates, if any, would show now

	pages := map[string][]confluencetest.Page{}
	for _, p := range cf.Pages() {
		pages[p.Properties[confluence.PropertyKey]] = append(pages[p.Properties[confluence.PropertyKey]], p)
	}
	if len(cf.Pages()) != n {
		t.Errorf("%d pages for %d post-mortems", len(cf.Pages()), n)
	}
	for _, id := range ids {
		ps := pages[`{"incident":"`+id+`"}`]
		e, _ := epicOf(id)
		if len(ps) != 1 {
			t.Errorf("%s: %d pages, want 1", id, len(ps))
			continue
		}
		p := ps[0]
		url := cf.BaseURL() + "/spaces/PM/pages/" + p.ID
		links := sims.Jira.RemoteLinks(e.Key)
		if p.Title != e.Summary || p.ParentID != cf.HomePageID("PM") || !strings.Contains(p.Body, e.Key) {
			t.Errorf("%s: page %q under %s, epic %s %q", id, p.Title, p.ParentID, e.Key, e.Summary)
		}
		if !strings.Contains(e.Description, url) || len(links) != 1 || links[0].URL != url {
			t.Errorf("%s: the epic %s does not link to %s once: links %+v\n%s", id, e.Key, url, links, e.Description)
		}
	}
	epics := 0
	for _, is := range sims.Jira.Issues() {
		if is.IssueType == "Epic" {
			epics++
		}
	}
	if epics != n {
		t.Errorf("%d epics for %d incidents", epics, n)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: not yet %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
