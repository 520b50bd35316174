package render

import (
	"strings"
	"testing"
)

func TestReviewLanguage(t *testing.T) {
	page, err := Description(nil, Sample())
	if err != nil {
		t.Fatal(err)
	}
	// The built-in page, prompts and all, has nothing to review.
	if r := ReviewLanguage(page, nil); !r.Empty() {
		t.Fatalf("the template itself has findings: %+v", r)
	}
	filled := strings.Replace(page, "h3. External\n", "h3. External\nOn 20 November some checkouts failed. The outage lasted 72 minutes!\n", 1)
	filled = strings.Replace(filled, "h2. What Happened\n", "h2. What Happened\nA deploy went out at 14:00. Bob should have run the load test first; it was a human error.\n", 1)
	filled = strings.Replace(filled, "h2. Resolution\n", "h2. Resolution\n|The on-call Forgot To check the \\[dashboard\\]. Then it recovered.|\nNo outage for payments (not in the External section).\n", 1)
	filled = strings.Replace(filled, "h2. Impact\n", "h2. Impact\nThe default fault tolerance held; nobody was careless.\n", 1)
	r := ReviewLanguage(filled, []string{"Cowboy deploy"})
	if len(r.Outage) != 1 || r.Outage[0].Sentence != "The outage lasted 72 minutes!" {
		t.Errorf("outage findings = %+v", r.Outage)
	}
	want := []LanguageFinding{
		{"should have", "Bob should have run the load test first; it was a human error."},
		{"forgot to", "The on-call Forgot To check the [dashboard]."},
		{"careless", "The default fault tolerance held; nobody was careless."},
	}
	if len(r.Blame) != len(want) {
		t.Fatalf("blame findings = %+v, want %+v", r.Blame, want)
	}
	for i, w := range want {
		if r.Blame[i] != w {
			t.Errorf("finding %d = %+v, want %+v", i, r.Blame[i], w)
		}
	}
	// The rules' phrases are looked for too.
	if r := ReviewLanguage("h2. X\nIt was a cowboy deploy.", []string{"cowboy deploy"}); len(r.Blame) != 1 {
		t.Errorf("extra phrase not found: %+v", r)
	}
	// The comment escapes what it quotes: a sentence cannot add markup.
	c := LanguageComment(LanguageReview{Blame: []LanguageFinding{{"blamed", "{panel}[x|javascript:y] was blamed"}}})
	if strings.Contains(c, "{panel}") || strings.Contains(c, "[x|") {
		t.Errorf("comment not escaped:\n%s", c)
	}
}
