package rules

import "testing"

// ConfluencePage sends a routed service's page to its route's space and
// parent, any other to confluence.space; with the page in the epic there
// is none.
func TestConfluencePage(t *testing.T) {
	r, err := LoadFile("testdata/valid/confluence.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ service, space, parent string }{
		{"PSVC002", "OPS", "123456"},
		{"PSVC001", "PM", "Post-mortems"},
	} {
		space, parent, ok := r.ConfluencePage(tc.service)
		if !ok || space != tc.space || parent != tc.parent {
			t.Errorf("%s: %q %q %v, want %q %q", tc.service, space, parent, ok, tc.space, tc.parent)
		}
	}
	if b := Builtin(); b.Page.Target != TargetJira {
		t.Fatalf("built-in target %q, want jira", b.Page.Target)
	} else if _, _, ok := b.ConfluencePage("PSVC001"); ok {
		t.Fatal("a page in the epic has a Confluence space")
	}
}
