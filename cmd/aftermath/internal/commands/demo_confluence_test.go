package commands

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// demo --page confluence makes the primary's page in the Confluence
// simulator, once, and reports its address and first lines; the epic
// points at it.
func TestDemoPageInConfluence(t *testing.T) {
	out, _ := runDemo(t, DemoOptions{JSON: true, Page: DemoPageConfluence})
	var rep demoReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c := rep.Confluence
	if c == nil || !strings.HasPrefix(c.URL, rep.URLs["confluence"]+"/spaces/PM/pages/") || c.Title != rep.Epic.Summary {
		t.Fatalf("confluence %+v, epic %q", c, rep.Epic.Summary)
	}
	if len(c.Head) < 5 || !strings.HasPrefix(c.Head[0], "Jira epic: "+rep.Epic.Key) {
		t.Fatalf("the page begins %q", c.Head)
	}
	body, err := os.ReadFile(c.File)
	if err != nil || !strings.Contains(string(body), "<h2>Timeline</h2>") {
		t.Fatalf("page file: %v", err)
	}
	page, _ := os.ReadFile(rep.PageFile)
	if !strings.Contains(string(page), "The post-mortem page is in Confluence:") || !strings.Contains(string(page), c.URL) {
		t.Fatalf("the epic does not link to the page:\n%s", page)
	}
	if len(rep.Violations) != 0 {
		t.Fatalf("violations: %v", rep.Violations)
	}
	// The calls are counted like the other simulators'.
	if n := rep.Calls["confluence"]["total"]; n == 0 {
		t.Fatalf("no Confluence calls: %v", rep.Calls)
	}
}

func TestDemoRefusesAnUnknownPage(t *testing.T) {
	if err := (&demoEnv{}).startConfluence("wiki"); err == nil || !strings.Contains(err.Error(), "use jira") {
		t.Fatalf("--page wiki: %v", err)
	}
}
