package confluencesim

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/internal/simkit"
)

func TestParseCQL(t *testing.T) {
	for _, tc := range []struct {
		cql  string
		want []cond
		err  string
	}{
		{`label = "aftermath-q1" AND type = page`, []cond{{"label", "aftermath-q1"}, {"type", "page"}}, ""},
		{`space = PM and title = "Say \"hi\" \\ there"`, []cond{{"space", "PM"}, {"title", `Say "hi" \ there`}}, ""},
		{`label = x OR label = y`, nil, "only AND"},
		{`creator = me`, nil, "not simulated"},
		{`label = "open`, nil, "unterminated"},
		{`label = x AND`, nil, "nothing after AND"},
		{``, nil, "empty query"},
	} {
		got, err := parseCQL(tc.cql)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseCQL(%q) = %v, %v; want an error with %q", tc.cql, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseCQL(%q) = %v, %v; want %v", tc.cql, got, err, tc.want)
		}
	}
}

func TestCheckStorage(t *testing.T) {
	for body, ok := range map[string]bool{
		`<p>a &amp; b&nbsp;c</p><ac:structured-macro ac:name="info"><ac:rich-text-body><p>x</p></ac:rich-text-body></ac:structured-macro>`: true,
		`<p>unclosed`:                   false,
		`<p>a</b>`:                      false,
		`<p>a & b</p>`:                  false,
		"<p>bell \a</p>":                false,
		`<p>&nosuchentity;</p>`:         false,
		`<table><tr><td/></tr></table>`: true,
	} {
		if err := checkStorage(body); (err == nil) != ok {
			t.Errorf("checkStorage(%q) = %v, want ok %v", body, err, ok)
		}
	}
}

// TestModesAndPersons checks that each mode answers only its own API and
// credentials, and that edits as a person are checked.
func TestModesAndPersons(t *testing.T) {
	for _, mode := range []Mode{Cloud, DataCenter} {
		t.Run(string(mode), func(t *testing.T) {
			s := NewServer(Options{Mode: mode})
			t.Cleanup(s.Close)
			s.AddSpace(Space{Key: "PM", Name: "Post-mortems"})
			s.AddUser(User{AccountID: "acc-alice", UserKey: "key-alice", Username: "alice", DisplayName: "Alice"})
			own, other := "/wiki/api/v2/spaces", "/rest/api/space/PM"
			if mode == DataCenter {
				own, other = other, own
			}
			get := func(path, auth string) int {
				req, _ := http.NewRequest("GET", s.URL()+path, nil)
				resp, _, err := simkit.Exchange(req, map[string]string{"Authorization": auth})
				if err != nil {
					t.Fatal(err)
				}
				return resp.StatusCode
			}
			good, bad := "Bearer "+s.PAT(), "Basic eDp5"
			if mode == Cloud {
				req, _ := http.NewRequest("GET", "/", nil)
				req.SetBasicAuth(s.Email(), s.APIToken())
				good, bad = req.Header.Get("Authorization"), "Bearer "+s.PAT()
			}
			if c := get(own, good); c != http.StatusOK {
				t.Fatalf("own API: %d", c)
			}
			if c := get(other, good); c != http.StatusNotFound {
				t.Fatalf("the other deployment's API: %d", c)
			}
			if c := get(own, bad); c != http.StatusUnauthorized {
				t.Fatalf("the other deployment's credentials: %d", c)
			}
			home := s.HomePageID("PM")
			alice := "acc-alice"
			if mode == DataCenter {
				alice = "key-alice"
			}
			if _, err := s.EditAsPerson(home, s.Me(), "<p>x</p>"); err == nil {
				t.Fatal("edited as aftermath's own account")
			}
			if _, err := s.EditAsPerson(home, alice, "<p>x"); err == nil {
				t.Fatal("saved malformed storage format")
			}
			if n, err := s.EditAsPerson(home, alice, "<p>x</p>"); err != nil || n != 2 {
				t.Fatalf("edit: %d %v", n, err)
			}
			if len(s.Pages()) != 0 {
				t.Fatalf("home pages listed: %+v", s.Pages())
			}
		})
	}
}
