package render

import (
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestStorageGolden(t *testing.T) {
	p := Sample()
	p.Resolution.Text = "Rolled back the deploy.\nThe error rate fell within 2 minutes."
	got, err := Storage(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := storageShape(got); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, got)
	}
	golden(t, "page.storage", got)
}

// storageShape parses a storage-format page as Confluence does (XHTML,
// HTML entities known) and returns how many of each element it holds, with
// the href of every link and its whole text.
func storageShape(page string) (map[string]int, error) {
	d := xml.NewDecoder(strings.NewReader(`<root xmlns:ac="http://atlassian.com/content" xmlns:ri="http://atlassian.com/resource/identifier">` + page + `</root>`))
	d.Strict, d.Entity = true, xml.HTMLEntity
	out := map[string]int{}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			out["<"+se.Name.Local+">"]++
			for _, a := range se.Attr {
				if a.Name.Local == "href" {
					out["href "+strings.SplitN(a.Value, ":", 2)[0]]++
				}
			}
		}
	}
}

// storageText is the page's text as a reader sees it.
func storageText(t *testing.T, page string) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(`<root xmlns:ac="a" xmlns:ri="r">` + page + `</root>`))
	d.Strict, d.Entity = true, xml.HTMLEntity
	var b strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return b.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			b.Write(cd)
		}
	}
}

// Text from PagerDuty, Jira or people that tries to break out of its place
// in the XHTML changes nothing in the page's structure, and reads as it
// was written.
func TestStorageEscapesEveryText(t *testing.T) {
	evil := []string{
		`</td></tr></tbody></table><h1>owned</h1>`,
		`<ac:structured-macro ac:name="html"><ac:plain-text-body><![CDATA[<script>alert(1)</script>]]></ac:plain-text-body></ac:structured-macro>`,
		`"><img src=x onerror=alert(1)>`, `a & b &amp; &nbsp; &#0; &bogus;`, `]]> <!-- --> <?xml?>`,
		"bell\a esc\x1b[31m nul\x00 cr\r\nlf", "bad utf-8 \xff\xfe here", "<ri:user ri:account-id=\"x\"/>",
	}
	build := func(s string) Page {
		p := Sample()
		p.Title, p.Services, p.OwnerNote, p.Status = s, []string{s}, s, s
		p.Owner = Person{Name: s, Email: s}
		p.Timeline = []Event{{At: s, Incident: "#42", Actor: s, Kind: s, Summary: s, Link: "https://x.example/" + url.PathEscape(s)}}
		p.Responders = []Responder{{Name: s, Role: s, Actions: s}}
		p.Resolution = &Note{Author: s, At: "10:00", Text: s + "\n" + s, Link: "javascript:alert(1)"}
		p.Actions = []Action{{Key: s, URL: "https://j.example/browse/PM-2?x=" + url.QueryEscape(s), Summary: s}}
		p.Overflow = []string{s}
		p.Incidents = append(p.Incidents, Incident{Number: 43, Title: s, URL: "https://x.example/" + url.PathEscape(s), Role: "member"})
		p.Conference = &Conference{URL: "https://meet.example/" + url.PathEscape(s), Number: s}
		p.Response = append(p.Response, Response{Incident: s, URL: "https://x.example/q", PagedFirst: s})
		p.Overall = &Response{Incident: "All", PagedFirst: s}
		p.Links = append(p.Links, NoteLink{URL: "https://grafana.example/" + url.PathEscape(s), Kind: s, Incident: "#43", Author: s, At: "10:00", Line: s})
		p.Invitees = []string{s, s}
		p.Cut = Cut{Services: s, Timeline: s}
		return p
	}
	benign, err := Storage(build("plain words"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := storageShape(benign)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range evil {
		got, err := Storage(build(s))
		if err != nil {
			t.Fatal(err)
		}
		gs, err := storageShape(got)
		if err != nil {
			t.Errorf("with %q the page is not well-formed: %v\n%s", s, err, got)
			continue
		}
		// A note's line breaks are <br/>: the only elements text may add.
		delete(gs, "<br>")
		delete(want, "<br>")
		if !reflect.DeepEqual(gs, want) {
			t.Errorf("with %q the page's shape changed:\n got %v\nwant %v\n%s", s, gs, want, got)
		}
		// What was written reads back, less what XML cannot carry.
		if text, clean := storageText(t, got), strings.ReplaceAll(xmlText(s), "\n", ""); !strings.Contains(strings.ReplaceAll(text, "\n", ""), clean) {
			t.Errorf("with %q the text %q is not in the page:\n%s", s, clean, text)
		}
	}
}

// TestStorageLeavesThePageAlone checks that making the page's texts fit
// for XML works on a copy: the caller's page, whose slices and pointers it
// shares, is unchanged.
func TestStorageLeavesThePageAlone(t *testing.T) {
	p := Sample()
	p.Timeline[0].Summary = "bell\a"
	p.Resolution.Text = "nul\x00"
	if _, err := Storage(p); err != nil {
		t.Fatal(err)
	}
	if p.Timeline[0].Summary != "bell\a" || p.Resolution.Text != "nul\x00" {
		t.Fatalf("Storage changed the caller's page: %q %q", p.Timeline[0].Summary, p.Resolution.Text)
	}
}

// FuzzStorage checks that no text makes the page ill-formed XHTML, which
// Confluence would refuse whole.
func FuzzStorage(f *testing.F) {
	for _, s := range []string{"plain", "</p><h1>x", "a & b", "\x00\x1b\xff", "]]>", "line\r\nbreak"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Sample()
		p.Title, p.Resolution.Text, p.Timeline[0].Summary, p.Owner.Name = s, s, s, s
		p.Links[0].URL = s
		got, err := Storage(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := storageShape(got); err != nil {
			t.Fatalf("with %q: %v", s, err)
		}
	})
}
