package render

import (
	"strings"
	"testing"
)

func TestConfluenceDescription(t *testing.T) {
	p := Sample()
	golden(t, "confluence-epic.jira", ConfluenceDescription(p, ConfluencePage{Space: "PM", Title: "[SEV-1] Post-mortem: x | y", URL: "https://acme.atlassian.net/wiki/spaces/PM/pages/65601"}))
	golden(t, "confluence-epic-pending.jira", ConfluenceDescription(p, ConfluencePage{Space: "PM"}))
}

func TestStorageBackLinksEscapes(t *testing.T) {
	p := Sample()
	p.Title = `<script>alert(1)</script> & "quotes"`
	p.URL = "javascript:alert(1)"
	got := StorageBackLinks("PM-7", "https://jira.example.com/browse/PM-7", p)
	for _, bad := range []string{"<script>", "javascript:"} {
		if strings.Contains(got, bad) {
			t.Fatalf("%q in %s", bad, got)
		}
	}
	if !strings.Contains(got, `<a href="https://jira.example.com/browse/PM-7">PM-7</a>`) || !strings.Contains(got, "&lt;script&gt;") {
		t.Fatalf("back links: %s", got)
	}
	if _, err := storageShape(got); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, got)
	}
	news := ConfluenceNews(p, "PM-7", "https://jira.example.com/browse/PM-7", "[aftermath:news:P1]")
	if _, err := storageShape(news); err != nil || !strings.Contains(news, "[aftermath:news:P1]") {
		t.Fatalf("news: %v\n%s", err, news)
	}
}

// TestStorageTextReadsLikeJira: the language review reads the Confluence
// page as it reads the Jira one: the template's prompts are skipped, the
// External section is found, and so is a phrase anywhere.
func TestStorageTextReadsLikeJira(t *testing.T) {
	page, err := Storage(Sample())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ExternalMessage(StorageText(page)); ok {
		t.Fatalf("the untouched page has an external message:\n%s", StorageText(page))
	}
	if r := ReviewLanguage(StorageText(page), nil); !r.Empty() {
		t.Fatalf("the untouched page has findings: %+v", r)
	}
	edited := strings.Replace(page, `<h3>External</h3>`, `<h3>External</h3><p>We are sorry for the <strong>outage</strong> of checkout &amp; payments.</p>`, 1)
	edited = strings.Replace(edited, `<h2>What Happened</h2>`, `<h2>What Happened</h2><p>The on-call engineer forgot to check the canary.</p>`, 1)
	text := StorageText(edited)
	msg, ok := ExternalMessage(text)
	if !ok || msg != "We are sorry for the outage of checkout & payments." {
		t.Fatalf("external message %q %v from:\n%s", msg, ok, text)
	}
	r := ReviewLanguage(text, nil)
	if len(r.Outage) != 1 || len(r.Blame) != 1 || r.Blame[0].Phrase != "forgot to" {
		t.Fatalf("review: %+v", r)
	}
	// The same edits in the Jira page give the same review.
	jira, _ := Description(nil, Sample())
	jira = strings.Replace(jira, "h3. External\n", "h3. External\nWe are sorry for the *outage* of checkout & payments.\n", 1)
	jira = strings.Replace(jira, "h2. What Happened\n", "h2. What Happened\nThe on-call engineer forgot to check the canary.\n", 1)
	if rj := ReviewLanguage(jira, nil); len(rj.Outage) != len(r.Outage) || len(rj.Blame) != len(r.Blame) {
		t.Fatalf("Jira review %+v, Confluence review %+v", rj, r)
	}
}
