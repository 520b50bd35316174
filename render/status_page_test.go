package render

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStatusPageCommentsGolden(t *testing.T) {
	msg, _ := ExternalMessage("h3. External\nBetween 14:00 and 15:12 UTC some checkouts failed.\nNo order was lost.\nh3. Internal\n")
	goldenCases(t, "status-page-comment.jira", [][2]string{
		{"posted", StatusPagePostedComment("Checkout errors", "https://status.acme.example/posts/details/PPOST1", "aftermath-ref-statuspage-Q1")},
		{"posted, no address for the post", StatusPagePostedComment("Checkout errors", "", "aftermath-ref-statuspage-Q1")},
		{"posted, markup in the title and a bad address", StatusPagePostedComment(hostile, "javascript:alert(1)", "aftermath-ref-statuspage-Q1")},
		{"no linked post", StatusPageNoPostComment("Acme status", 4211, msg, "aftermath-ref-statuspage-unposted-Q1")},
		{"no linked post, markup in the page's name and message", StatusPageNoPostComment(hostile, 4211, hostile, "aftermath-ref-statuspage-unposted-Q1")},
		{"another postmortem", StatusPageTakenComment("Checkout errors", "https://status.acme.example/posts/details/PPOST1", msg, "aftermath-ref-statuspage-unposted-Q1")},
		{"too long", StatusPageTooLongComment(10412, StatusPageLimit, "aftermath-ref-statuspage-unposted-Q1")},
	})
}

// The status page's message: one paragraph a line, the prompt and blank
// lines left out, HTML escaped, the wiki escapes people typed undone; a
// page without a message has none; one over the limit says it does not
// fit and is not cut.
func TestStatusPageMessage(t *testing.T) {
	for _, tc := range []struct {
		name, page, want string
		ok, fits         bool
	}{
		{"written", "h3. External\n_Write the external message._\nSome checkouts failed <b>for 38%</b> & were retried.\n\nNo order was lost\\!\nh3. Internal\nnot this\n",
			"<p>Some checkouts failed &lt;b&gt;for 38%&lt;/b&gt; &amp; were retried.</p><p>No order was lost!</p>", true, true},
		{"only the prompt", "h3. External\n_Write the external message._\nh3. Internal\n", "", false, true},
		{"no External heading", "h2. Overview\nx\n", "", false, true},
		{"a script", "h3. External\n<script>alert(1)</script>\"quoted\"\n", "<p>&lt;script&gt;alert(1)&lt;/script&gt;&#34;quoted&#34;</p>", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, fits := StatusPageMessage(tc.page)
			if got != tc.want || ok != tc.ok || fits != tc.fits {
				t.Fatalf("StatusPageMessage = %q %v %v, want %q %v %v", got, ok, fits, tc.want, tc.ok, tc.fits)
			}
		})
	}
	long := "h3. External\n" + strings.Repeat("é", StatusPageLimit) + "\n"
	got, ok, fits := StatusPageMessage(long)
	if !ok || fits || utf8.RuneCountInString(got) != StatusPageLimit+7 {
		t.Fatalf("a message over the limit: ok %v fits %v, %d characters (want it whole, not cut)", ok, fits, utf8.RuneCountInString(got))
	}
	if _, _, fits := StatusPageMessage("h3. External\n" + strings.Repeat("é", StatusPageLimit-7) + "\n"); !fits {
		t.Fatal("a message of exactly the limit does not fit")
	}
}
