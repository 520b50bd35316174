package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aftermath-dev/aftermath/integrations/confluence"
	"github.com/aftermath-dev/aftermath/integrations/confluence/confluencesim"
	"github.com/aftermath-dev/aftermath/render"
)

// demo --page confluence: the Confluence simulator runs beside the others,
// the demo's rules put the post-mortem page in its space PM, and the
// report shows the page's address and its first lines.

// The demo's page targets (DemoOptions.Page).
const (
	DemoPageJira       = "jira"
	DemoPageConfluence = "confluence"
)

// demoConfluenceRules are added to the demo's rules with --page confluence.
const demoConfluenceRules = `page:
  target: confluence
confluence:
  space: PM
  parent: Post-mortems Home
`

// demoConfluence is the Confluence page in the report.
type demoConfluence struct {
	PageID string   `json:"page_id"`
	Title  string   `json:"title"`
	URL    string   `json:"url"`
	File   string   `json:"file"`
	Head   []string `json:"head"` // its first lines, as text
}

// startConfluence starts the Confluence simulator when the page goes
// there.
func (d *demoEnv) startConfluence(page string) error {
	switch page {
	case "", DemoPageJira:
		return nil
	case DemoPageConfluence:
	default:
		return fmt.Errorf("--page %q: use jira (the epic's description) or confluence", page)
	}
	d.cs = confluencesim.NewServer(confluencesim.Options{Mode: confluencesim.Cloud, Email: demoBotEmail, APIToken: randomToken(), Now: d.clock.Now})
	d.cs.AddSpace(confluencesim.Space{Key: "PM", Name: "Post-mortems"})
	return nil
}

// confluenceRules are the rules' lines for the page's target.
func (d *demoEnv) confluenceRules() string {
	if d.cs == nil {
		return ""
	}
	return demoConfluenceRules
}

// confluenceEnv adds the Confluence variables to the demo server's
// environment.
func (d *demoEnv) confluenceEnv(env map[string]string) {
	if d.cs == nil {
		return
	}
	env["CONFLUENCE_BASE_URL"] = d.cs.BaseURL()
	env["CONFLUENCE_EMAIL"] = d.cs.Email()
	env["CONFLUENCE_API_TOKEN"] = d.cs.APIToken()
}

// confluenceReport adds the primary's Confluence page to the report: where
// it is, written to the demo's directory, and how it begins.
func (d *demoEnv) confluenceReport(rep *demoReport) error {
	if d.cs == nil {
		return nil
	}
	rep.URLs["confluence"] = d.cs.BaseURL()
	rep.Calls["confluence"] = countCalls(d.cs.Calls())
	rep.Violations = append(rep.Violations, d.cs.Violations()...)
	for _, p := range d.cs.Pages() {
		if p.Properties[confluence.PropertyKey] != `{"incident":"`+demoPrimary+`"}` {
			continue
		}
		c := &demoConfluence{PageID: p.ID, Title: p.Title, URL: d.cs.BaseURL() + "/spaces/" + p.SpaceKey + "/pages/" + p.ID}
		c.File = filepath.Join(d.dir, "postmortem-"+rep.Epic.Key+".confluence.xml")
		if err := os.WriteFile(c.File, []byte(p.Body), 0o644); err != nil {
			return fmt.Errorf("write the Confluence page: %w", err)
		}
		lines := strings.Split(strings.TrimSpace(render.StorageText(p.Body)), "\n")
		c.Head = lines[:min(len(lines), 12)]
		rep.Confluence = c
		return nil
	}
	return fmt.Errorf("no Confluence page was made for %s: see the incident's record (GET /api/v1/incidents/%s)", demoPrimary, demoPrimary)
}

// writeConfluence prints the Confluence page of the report.
func (r *demoReport) writeConfluence(p func(string, ...any)) {
	c := r.Confluence
	if c == nil {
		return
	}
	p("Confluence page %q: %s", c.Title, c.URL)
	p("  written to %s; it begins:", c.File)
	for _, l := range c.Head {
		p("    | %s", l)
	}
}
