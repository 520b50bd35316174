package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/integrations/confluence/confluencetest"
	"github.com/aftermath-dev/aftermath/internal/redistest"
)

const confluenceRules = "page:\n  target: confluence\nconfluence:\n  space: PM\n"

// Rules that put the page in Confluence stop the start when Confluence is
// not configured, saying what to set; with it configured the app starts,
// and the token is not logged.
func TestConfluenceWiring(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(confluenceRules), 0o644); err != nil {
		t.Fatal(err)
	}
	r := redistest.New(t)
	env := serveEnv(r)
	env["AFTERMATH_RULES"] = path
	env["PAGERDUTY_API_TOKEN"] = "pd-token-for-the-wiring-test"
	_, err := New(loadConfig(t, env), Options{Ingest: true, Worker: true})
	if err == nil || !strings.Contains(err.Error(), "CONFLUENCE_BASE_URL") || !strings.Contains(err.Error(), "page.target: confluence") {
		t.Fatalf("New without Confluence: %v", err)
	}

	sim := confluencetest.New(t, confluencetest.DataCenter)
	env["CONFLUENCE_BASE_URL"], env["CONFLUENCE_PAT"] = sim.BaseURL(), sim.PAT()
	a, logs := startAppWith(t, env, Options{Ingest: true, Worker: true})
	if a.worker == nil {
		t.Fatal("no worker")
	}
	if strings.Contains(logs.String(), sim.PAT()) {
		t.Fatalf("the PAT is in the log:\n%s", logs.String())
	}
}
