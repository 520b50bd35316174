package workflow

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/internal/outbound"
)

// With a scoped token the client calls Atlassian's gateway (JIRA_API_URL,
// here the simulator's /ex/jira/{cloudId}) while every link people see,
// on the PagerDuty notes and the post-mortem page, points at the site
// (JIRA_BASE_URL), a host the API is not even served on.
func TestJiraAPIURLLinksUseSite(t *testing.T) {
	const site = "https://acme.atlassian.net"
	e := newJiraEnv(t, jiratest.Cloud, 10)
	log := slog.New(slog.DiscardHandler)
	jc, err := jira.New(jira.Config{BaseURL: site, APIURL: e.jsim.APIURL(), Email: e.jsim.Email(), APIToken: e.jsim.APIToken()},
		log, jira.NewHTTPClient(outbound.Config{RequestsPerMinute: 60000, Burst: 100}, nil, log))
	if err != nil {
		t.Fatal(err)
	}
	e.jc, e.res.Jira = jc, jc
	realisticSEV1(e.pdEnv)
	e.mustProcess(EventResolved, "PCHK1")

	epic := e.wantOneEpic()
	link := site + "/browse/" + epic.Key
	var linked bool
	for _, n := range e.ourNotes("PCHK1") {
		linked = linked || strings.Contains(n.Content, link)
		if strings.Contains(n.Content, e.jsim.URL()) {
			t.Errorf("a note links to the API host: %q", n.Content)
		}
	}
	if !linked {
		t.Errorf("no note links to %s", link)
	}
	kids := e.children(epic.Key)
	if len(kids) == 0 {
		t.Fatal("no follow-ups")
	}
	page := e.wantOneEpic().Description
	if !strings.Contains(page, site+"/browse/"+kids[0].Key) || strings.Contains(page, e.jsim.URL()) {
		t.Errorf("the page does not link the follow-ups on the site:\n%s", page)
	}
}
