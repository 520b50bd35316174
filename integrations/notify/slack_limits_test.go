package notify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifytest"
)

// slackBudget is what a message's blocks may hold in all: Slack refuses
// blocks adding up to about 13,000 characters (msg_blocks_too_long) well
// before its documented 50 blocks of 3,000.
const slackBudget = 12000

// hostile are facts at the edge of what the outside systems send: a long
// title full of what Slack escapes, many invitees with long names.
func hostile() notify.Facts {
	f := sample()
	f.Title = strings.Repeat("Checkout <5xx> & timeouts 🔥 ", 60) // ~1,700 characters, more once escaped
	for i := range 120 {
		f.Invitees = append(f.Invitees, notify.Invitee{Name: fmt.Sprintf("Responder %d %s", i, strings.Repeat("&", 40)),
			Email: fmt.Sprintf("responder-%d@example.com", i), Why: "responder"})
	}
	return f
}

// A long external message (Jira allows 32,767 characters in a
// description), with a paragraph too long for one section and a line with
// no space to break at.
func longResults() string {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "Paragraph %d: between 14:00 and 15:35 UTC some checkouts failed & retried <twice>. %s\n\n", i, strings.Repeat("More detail follows. ", 20))
	}
	b.WriteString(strings.Repeat("x", 4000) + "\n\nThe end.")
	return b.String()
}

// allText is every text of m's blocks, one a line.
func allText(m notify.SlackMessage) string {
	var out []string
	for _, b := range m.Blocks {
		if b.Text != nil {
			out = append(out, b.Text.Text)
		}
		for _, t := range append(append([]notify.TextObject(nil), b.Fields...), b.Elements...) {
			out = append(out, t.Text)
		}
	}
	return strings.Join(out, "\n")
}

func blockChars(m notify.SlackMessage) int {
	n := 0
	for _, b := range m.Blocks {
		if b.Text != nil {
			n += notifytest.SlackLen(b.Text.Text)
		}
		for _, t := range append(append([]notify.TextObject(nil), b.Fields...), b.Elements...) {
			n += notifytest.SlackLen(t.Text)
		}
	}
	return n
}

// Every Slack message aftermath builds is one Slack accepts, however long
// the title, the invitee list or the Reviewed message's results: the
// receiver refuses what Slack refuses, and a refusal is a 4xx that drops
// the message for good.
func TestSlackMessagesFitSlacksLimits(t *testing.T) {
	rcv := notifytest.NewSlack(t)
	c := notify.New(notify.Config{Getenv: func(string) (string, bool) { return rcv.URL, true }}, nil, nil)
	f := hostile()
	msgs := map[string]notify.Message{
		"created":                             notify.Created(f),
		"review":                              notify.Review(f),
		"overdue":                             notify.Overdue(f, strings.Repeat("In Review ", 300), 3, true),
		"reviewed":                            notify.Reviewed(f, longResults()),
		"reviewed, plain facts, long results": notify.Reviewed(sample(), longResults()),
		"reviewed, short":                     notify.Reviewed(sample(), "Some checkouts failed."),
	}
	for name, m := range msgs {
		t.Run(name, func(t *testing.T) {
			before := len(rcv.Refused())
			if err := c.Slack(context.Background(), "SLACK_SRE", m.Slack); err != nil {
				t.Fatalf("Slack refused it: %v\n%s", err, strings.Join(rcv.Refused()[before:], "\n"))
			}
			if n := blockChars(m.Slack); n > slackBudget {
				t.Errorf("the blocks hold %d characters, over %d", n, slackBudget)
			}
			if !strings.Contains(allText(m.Slack), "<"+f.EpicURL+"|") {
				t.Error("no link to the post-mortem")
			}
			if name == "created" && !strings.Contains(allText(m.Slack), "more: the post-mortem page lists everyone.") {
				t.Error("the invitees that do not fit are not counted")
			}
		})
	}
}

// A Reviewed message too long for Slack is split across sections at
// paragraph breaks, and where it has to stop it says so and links to the
// page that holds the rest; a short one is shown whole.
func TestSlackReviewedLongResultsSplitWithLink(t *testing.T) {
	f := sample()
	results := longResults()
	m := notify.Reviewed(f, results).Slack
	var body []string
	for _, b := range m.Blocks {
		if b.Type == "section" && b.Text != nil && strings.Contains(b.Text.Text, "Paragraph ") {
			body = append(body, b.Text.Text)
		}
	}
	if len(body) < 2 {
		t.Fatalf("the results are in %d sections, want them split", len(body))
	}
	if !strings.HasPrefix(body[0], "Paragraph 0: between 14:00 and 15:35 UTC some checkouts failed &amp; retried &lt;twice&gt;.") {
		t.Fatalf("the results start %q", body[0][:80])
	}
	for i, s := range body[:len(body)-1] {
		if !strings.HasSuffix(s, "More detail follows.") {
			t.Errorf("section %d is not cut at a paragraph's end: ...%q", i, s[len(s)-40:])
		}
	}
	last := body[len(body)-1]
	if !strings.Contains(last, "<"+f.EpicURL+"|") || !strings.Contains(last, "cut") {
		t.Fatalf("the cut results do not link to the page: ...%q", last[max(0, len(last)-200):])
	}
	if strings.Contains(strings.Join(body, ""), "The end.") {
		t.Fatal("the whole of it fits? the test's text is too short")
	}
	short := notify.Reviewed(f, "Some checkouts failed & retried.").Slack
	if got := allText(short); !strings.Contains(got, "Some checkouts failed &amp; retried.") || strings.Contains(got, "cut") {
		t.Fatalf("a short result is not shown whole: %s", got)
	}
}

// The receiver refuses what Slack refuses; without that, the tests above
// could not fail.
func TestSlackReceiverRefusesWhatSlackRefuses(t *testing.T) {
	ok := notify.TextObject{Type: "mrkdwn", Text: "ok"}
	long := func(n int) *notify.TextObject {
		return &notify.TextObject{Type: "mrkdwn", Text: strings.Repeat("a", n)}
	}
	many := func(n int) []notify.TextObject { return make([]notify.TextObject, n) }
	cases := map[string]notify.SlackMessage{
		"no text":                  {Blocks: []notify.Block{{Type: "section", Text: &ok}}},
		"text over 40,000":         {Text: strings.Repeat("a", 40001)},
		"51 blocks":                {Text: "t", Blocks: make([]notify.Block, 51)},
		"section text over 3,000":  {Text: "t", Blocks: []notify.Block{{Type: "section", Text: long(3001)}}},
		"emoji counted as Slack":   {Text: "t", Blocks: []notify.Block{{Type: "section", Text: &notify.TextObject{Type: "mrkdwn", Text: strings.Repeat("🔥", 1501)}}}},
		"empty section text":       {Text: "t", Blocks: []notify.Block{{Type: "section", Text: long(0)}}},
		"field over 2,000":         {Text: "t", Blocks: []notify.Block{{Type: "section", Fields: []notify.TextObject{*long(2001)}}}},
		"11 fields":                {Text: "t", Blocks: []notify.Block{{Type: "section", Fields: fill(many(11), ok)}}},
		"header over 150":          {Text: "t", Blocks: []notify.Block{{Type: "header", Text: &notify.TextObject{Type: "plain_text", Text: strings.Repeat("a", 151)}}}},
		"mrkdwn header":            {Text: "t", Blocks: []notify.Block{{Type: "header", Text: &ok}}},
		"11 context elements":      {Text: "t", Blocks: []notify.Block{{Type: "context", Elements: fill(many(11), ok)}}},
		"context element too long": {Text: "t", Blocks: []notify.Block{{Type: "context", Elements: []notify.TextObject{*long(3001)}}}},
		"unknown block":            {Text: "t", Blocks: []notify.Block{{Type: "sectoin", Text: &ok}}},
	}
	for i := range cases["51 blocks"].Blocks {
		cases["51 blocks"].Blocks[i] = notify.Block{Type: "divider"}
	}
	for name, m := range cases {
		if notifytest.CheckSlack(m) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	fine := notify.SlackMessage{Text: "t", Blocks: []notify.Block{{Type: "section", Text: long(3000), Fields: fill(many(10), ok)},
		{Type: "header", Text: &notify.TextObject{Type: "plain_text", Text: strings.Repeat("a", 150)}},
		{Type: "context", Elements: fill(many(10), ok)}, {Type: "divider"}}}
	if err := notifytest.CheckSlack(fine); err != nil {
		t.Errorf("refused a message at the limits: %v", err)
	}
}

func fill(ts []notify.TextObject, t notify.TextObject) []notify.TextObject {
	for i := range ts {
		ts[i] = t
	}
	return ts
}
