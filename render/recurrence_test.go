package render

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

var recurredAt = time.Date(2026, 12, 21, 3, 30, 0, 0, time.UTC) // 2026-12-20 22:30 in New York

func TestRecurrenceCommentGolden(t *testing.T) {
	in := Incident{Number: 4300, Title: "checkout 502", URL: "https://acme.pagerduty.com/incidents/PNEW"}
	var many []string
	for i := range 23 {
		many = append(many, fmt.Sprintf("PM-%d", 10+i))
	}
	goldenCases(t, "recurrence-comment.jira", [][2]string{
		{"two open follow-ups, the date in the rules' zone", RecurrenceComment(in, recurredAt, newYork, []string{"PM-4", "PM-5"}, "aftermath-ref-recurred-PNEW")},
		{"one open follow-up, UTC", RecurrenceComment(in, recurredAt, time.UTC, []string{"PM-4"}, "aftermath-ref-recurred-PNEW")},
		{"many: 20 named, the rest counted", RecurrenceComment(in, recurredAt, newYork, many, "aftermath-ref-recurred-PNEW")},
		{"markup in the title is escaped", RecurrenceComment(Incident{Number: 4301, Title: hostile, URL: "javascript:alert(1)"}, recurredAt, newYork,
			[]string{"PM-4"}, "aftermath-ref-recurred-PX")},
	})
	long := RecurrenceComment(Incident{Number: 1, Title: strings.Repeat("🔥", 5000), URL: in.URL}, recurredAt, newYork, many, "m")
	if n := Units(long); n > 3000 {
		t.Fatalf("a comment with a 10,000-unit title is %d units long; the title is cut to 1,024", n)
	}
}

func TestRecurrenceNoteGolden(t *testing.T) {
	earlier := []Recurred{
		{Epic: Epic{Key: "PM-1", URL: "https://acme.atlassian.net/browse/PM-1"},
			Incident: Incident{Number: 4211, Title: `Checkout API returning 502 for 38% of "requests"`, URL: "https://acme.pagerduty.com/incidents/PCHK1"},
			Resolved: recurredAt.AddDate(0, 0, -30), Status: "In Review", Open: []string{"PM-4", "PM-5"}},
		{Epic: Epic{Key: "PAY-7", URL: "https://acme.atlassian.net/browse/PAY-7"},
			Incident: Incident{Number: 4100, Title: "Payments timeouts", URL: "https://acme.pagerduty.com/incidents/PPAY0"},
			Resolved: recurredAt.AddDate(0, 0, -60), Status: "Closed", Open: []string{"PAY-9"}},
	}
	goldenCases(t, "recurrence-note.txt", [][2]string{
		{"two earlier post-mortems", RecurrenceNote(earlier, newYork, "[aftermath:recurrence:PNEW]")},
	})
}

// An earlier post-mortem's title, summaries, keys and links cannot change
// the page's structure, and the section stays within its caps.
func TestEarlierSectionKeepsThePageShape(t *testing.T) {
	build := func(s string) Page {
		p := Sample()
		e := p.Earlier[0]
		e.Title, e.Status, e.IncidentURL = s, s, "https://x.example/"+url.PathEscape(s)
		e.Open = []Action{{Key: "PM-3", URL: "https://j.example/browse/PM-3", Summary: s}, {Key: "PM-4", URL: "https://j.example/" + url.PathEscape(s), Summary: s}}
		p.Earlier = CapEarlier([]Earlier{e, e})
		return p
	}
	benign, err := Description(nil, build("plain words"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(benign, "h2. Earlier incidents on these services\n") {
		t.Fatalf("no section:\n%s", benign)
	}
	want := shape(benign)
	for _, s := range []string{"x|y||z", "[click me|javascript:alert(1)]", "{code}\n{quote}\nh1. Owned\n----", "[~admin]", "line\n\n|| Time || Incident ||\n| 00:00 | #1 |"} {
		got, err := Description(nil, build(s))
		if err != nil {
			t.Fatal(err)
		}
		gs := shape(got)
		for k, v := range want {
			if gs[k] != v {
				t.Errorf("with %q, %s = %d, want %d:\n%s", s, k, gs[k], v, got)
			}
		}
		for k := range gs {
			if _, ok := want[k]; !ok {
				t.Errorf("with %q the page grew %q", s, k)
			}
		}
	}
	// No earlier post-mortem: no section at all.
	p := Sample()
	p.Earlier = nil
	if d, _ := Description(nil, p); strings.Contains(d, "Earlier incidents") {
		t.Fatalf("a page without a recurrence has the section:\n%s", d)
	}

	// Caps: 5 post-mortems, 5 follow-ups each (the rest counted), titles
	// and summaries cut.
	var many []Earlier
	for i := range 8 {
		e := Earlier{Key: fmt.Sprintf("PM-%d", i), Title: strings.Repeat("t", 5000)}
		for j := range 9 {
			e.Open = append(e.Open, Action{Key: fmt.Sprintf("PM-%d%d", i, j), Summary: strings.Repeat("s", 5000)})
		}
		many = append(many, e)
	}
	capped := CapEarlier(many)
	if len(capped) != EarlierShown || len(capped[0].Open) != EarlierOpenShown || capped[0].MoreOpen != 4 {
		t.Fatalf("capped to %d post-mortems, %d open (%d more)", len(capped), len(capped[0].Open), capped[0].MoreOpen)
	}
	if Units(capped[0].Title) > 200 || Units(capped[0].Open[0].Summary) > 120 || len(many[0].Open) != 9 {
		t.Fatal("titles and summaries not cut, or the input changed")
	}
	p.Earlier = capped
	d, _ := Description(nil, p)
	p.Earlier = nil
	bare, _ := Description(nil, p)
	if n := Units(d) - Units(bare); n > 8000 {
		t.Fatalf("the section at its caps is %d units", n)
	}
	if !strings.Contains(d, "; and 4 more|") {
		t.Fatalf("the follow-ups not listed are not counted:\n%s", d)
	}
}
