package render

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// BlamePhrases are the built-in blame-shaped phrases the language review
// looks for (the rules' page.blame_phrases add to them). Each one points at
// a person rather than at what made the mistake possible; the seeds ask
// post-mortems to stay blameless.
var BlamePhrases = []string{
	"should have", "should've", "failed to", "forgot to", "didn't bother",
	"human error", "operator error", "careless", "negligent", "at fault", "whose fault", "to blame", "blamed",
}

// LanguageFinding is one use of a word or phrase, with the sentence it is in.
type LanguageFinding struct {
	Phrase   string
	Sentence string // plain text, as written on the page (escapes removed)
}

// LanguageReview is what the review of a page found.
type LanguageReview struct {
	Outage []LanguageFinding // "outage" in the External section
	Blame  []LanguageFinding // blame-shaped phrases anywhere on the page
}

// Empty reports whether nothing was found.
func (r LanguageReview) Empty() bool { return len(r.Outage) == 0 && len(r.Blame) == 0 }

var outageRe = phraseRe("outage", "outages")

// phraseRe matches any of the phrases as whole words, in any case.
func phraseRe(phrases ...string) *regexp.Regexp {
	q := make([]string, 0, len(phrases))
	for _, p := range phrases {
		q = append(q, regexp.QuoteMeta(strings.ToLower(strings.TrimSpace(p))))
	}
	// Longest first, so that "should have" wins over a shorter phrase in it.
	slices.SortFunc(q, func(a, b string) int { return len(b) - len(a) })
	return regexp.MustCompile(`(?i)(?:^|[^\pL\pN])(` + strings.Join(q, "|") + `)(?:$|[^\pL\pN])`)
}

// ReviewLanguage reads a post-mortem page as people left it: uses of
// "outage" in its external message, and the blame phrases (BlamePhrases
// and extra) anywhere in it. The template's prompts (lines in italics) are
// not read.
func ReviewLanguage(page string, extra []string) LanguageReview {
	var r LanguageReview
	if msg, ok := ExternalMessage(page); ok {
		r.Outage = find(msg, outageRe)
	}
	r.Blame = find(page, phraseRe(append(slices.Clone(BlamePhrases), extra...)...))
	return r
}

// find returns each sentence of text that re matches, with the phrase;
// a sentence is reported once, for its first match.
func find(text string, re *regexp.Regexp) []LanguageFinding {
	var out []LanguageFinding
	for line := range strings.SplitSeq(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || len(t) > 1 && strings.HasPrefix(t, "_") && strings.HasSuffix(t, "_") {
			continue
		}
		for _, s := range sentences(t) {
			if m := re.FindStringSubmatch(s); m != nil {
				out = append(out, LanguageFinding{Phrase: strings.ToLower(m[1]), Sentence: s})
			}
		}
	}
	return out
}

var (
	sentenceEnd = regexp.MustCompile(`[.!?]\s+`)
	cellSep     = regexp.MustCompile(`(^|[^\\])\|+`)
	unescape    = regexp.MustCompile(`\\([*_\-+^~?{}\[\]|!#])`)
)

// sentences splits one line of wiki markup into plain sentences: a table
// row into its cells, each cell at the ends of sentences.
func sentences(line string) []string {
	var out []string
	for _, cell := range strings.Split(cellSep.ReplaceAllString(line, "$1\x00"), "\x00") {
		rest := cell
		for rest != "" {
			end := len(rest)
			if loc := sentenceEnd.FindStringIndex(rest); loc != nil {
				end = loc[0] + 1
			}
			s := strings.TrimSpace(unescape.ReplaceAllString(rest[:end], "$1"))
			if s != "" {
				out = append(out, Line(s, 300))
			}
			rest = rest[min(len(rest), end):]
		}
	}
	return out
}

// LanguageComment is the review's comment on the epic, in wiki markup (the
// sentences escaped), without aftermath's marker. It stays under Jira's
// limit for a comment: findings past it are counted, not listed.
func LanguageComment(r LanguageReview) string {
	const budget = PageLimit - 500 // the marker, and the line counting the rest
	var b strings.Builder
	used, left := 0, 0
	add := func(line string) bool {
		if n := Units(line) + 1; used+n <= budget {
			b.WriteString(line + "\n")
			used += n
			return true
		}
		return false
	}
	add("Language review, as this post-mortem goes to In Review: please look at these again. aftermath did not change the page.")
	if len(r.Outage) > 0 {
		add("*\"Outage\" in the External message*: say \"incident\" or \"service degradation\" unless it was a full outage.")
		for _, f := range r.Outage {
			if !add("* " + Cell(f.Sentence)) {
				left++
			}
		}
	}
	if len(r.Blame) > 0 {
		if !add("*Blame-shaped phrases*: say what happened and what made it possible, not who is at fault.") {
			left += len(r.Blame)
		} else {
			for _, f := range r.Blame {
				if !add("* \"" + Cell(f.Phrase) + "\": " + Cell(f.Sentence)) {
					left++
				}
			}
		}
	}
	if left > 0 {
		b.WriteString(fmt.Sprintf("_%d more not listed here, to fit in Jira: read the page again with these in mind._\n", left))
	}
	return b.String()
}
