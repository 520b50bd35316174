package confluence_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/confluence"
	"github.com/aftermath-dev/aftermath/integrations/confluence/confluencetest"
	"github.com/aftermath-dev/aftermath/internal/outbound"
	"github.com/aftermath-dev/aftermath/internal/testutil"
	"github.com/aftermath-dev/aftermath/render"
)

// These tests drive the real client against the simulator, which checks
// every Cloud REST v2 request and answer against Atlassian's spec and fails
// the test on a violation.

// Distinctive credentials: finding one in a log line or an error cannot be a
// coincidence.
const (
	botEmail   = "aftermath-bot@example.com"
	apiToken   = "ATATT3x-confluence-token-5e1d7a"
	pat        = "MzQ5-confluence-pat-8b21c4"
	wrongToken = "ATATT3x-wrong-confluence-token-0c9f"
	wrongPAT   = "MzQ5-wrong-confluence-pat-77aa"
)

var (
	pm    = confluencetest.Space{Key: "PM", Name: "Post-mortems"}
	alice = confluencetest.User{AccountID: "5b10ac8d82e05b22cc7d4ef5", Username: "alice", UserKey: "8a7f808a7b5c0001017b5c00a11ce000", DisplayName: "Alice Example"}
)

var modes = []confluencetest.Mode{confluencetest.Cloud, confluencetest.DataCenter}

// fast is the outbound client's configuration for tests: no pacing to
// speak of and backoffs in milliseconds.
var fast = outbound.Config{RequestsPerMinute: 600000, Burst: 1000, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// env is a seeded simulator and a client of it.
type env struct {
	sim  *confluencetest.Server
	c    *confluence.Client
	logs *testutil.Buffer
}

// newEnv starts a simulator of mode with the space PM and the person
// alice, and a client of it logging JSON at debug level into env.logs.
func newEnv(t *testing.T, mode confluencetest.Mode, opts ...func(*confluencetest.Options)) *env {
	t.Helper()
	o := confluencetest.Options{Mode: mode, Email: botEmail, APIToken: apiToken, PAT: pat}
	for _, f := range opts {
		f(&o)
	}
	sim := confluencetest.NewWithOptions(t, o)
	sim.AddSpace(pm)
	sim.AddUser(alice)
	logs := &testutil.Buffer{}
	return &env{sim: sim, c: newClient(t, credentials(sim, mode), logs), logs: logs}
}

func credentials(sim *confluencetest.Server, mode confluencetest.Mode) confluence.Config {
	if mode == confluencetest.Cloud {
		return confluence.Config{BaseURL: sim.BaseURL(), Email: botEmail, APIToken: apiToken}
	}
	return confluence.Config{BaseURL: sim.BaseURL(), PAT: pat}
}

func newClient(t *testing.T, cfg confluence.Config, logs *testutil.Buffer) *confluence.Client {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := confluence.New(cfg, log, confluence.NewHTTPClient(fast, nil, log))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// forModes runs f as a parallel subtest per mode.
func forModes(t *testing.T, f func(t *testing.T, mode confluencetest.Mode)) {
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			f(t, m)
		})
	}
}

// who names a user as the mode does in versions and authors.
func who(mode confluencetest.Mode, u confluencetest.User) string {
	if mode == confluencetest.Cloud {
		return u.AccountID
	}
	return u.UserKey
}

const body = `<h2>Overview</h2><p>The checkout &amp; payments <em>outage</em>.</p>`

// pageBody is a page of incident as aftermath renders one: it opens with
// the line linking back to the epic and the incident (render.StorageBackLinks).
func pageBody(incident string) string {
	return render.StorageBackLinks("PM-7", "https://example.atlassian.net/browse/PM-7",
		render.Page{Number: 42, Title: "Checkout errors", URL: "https://example.pagerduty.com/incidents/" + incident}) + body
}

func spec(incident string) confluence.PageSpec {
	return confluence.PageSpec{SpaceKey: pm.Key, Title: "[SEV-1] Post-mortem: Checkout errors (#42)", Body: pageBody(incident), IncidentID: incident, Labels: []string{"postmortem", "SEV-1"}}
}

func lookup(s confluence.PageSpec) confluence.Lookup {
	return confluence.Lookup{SpaceKey: s.SpaceKey, Title: s.Title, IncidentID: s.IncidentID}
}

// onePage checks the simulator holds exactly one page besides the home
// pages, marked for incident, and returns it.
func onePage(t *testing.T, sim *confluencetest.Server, incident string) confluencetest.Page {
	t.Helper()
	pages := sim.Pages()
	if len(pages) != 1 {
		t.Fatalf("%d pages, want 1: %+v", len(pages), pages)
	}
	p := pages[0]
	if p.Properties[confluence.PropertyKey] != `{"incident":"`+incident+`"}` || !slices.Contains(p.Labels, confluence.IncidentLabel(incident)) {
		t.Fatalf("page not marked for %s: properties %v labels %v", incident, p.Properties, p.Labels)
	}
	return p
}

func TestCreateOnceThenFoundByItsProperty(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		s := spec("Q2CKYRLH85UNN4")
		if _, ok, err := e.c.FindPage(ctx, lookup(s)); err != nil || ok {
			t.Fatalf("found a page before any was made: %v %v", ok, err)
		}
		p, err := e.c.CreatePage(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		got := onePage(t, e.sim, s.IncidentID)
		if p.ID != got.ID || p.Title != s.Title || got.Body != s.Body || !p.Marked || got.Version != 1 || got.CreatedBy != e.sim.Me() {
			t.Fatalf("created %+v, simulator has %+v", p, got)
		}
		if want := []string{"aftermath-q2ckyrlh85unn4", "postmortem", "sev-1"}; !slices.Equal(got.Labels, want) {
			t.Fatalf("labels %v, want %v", got.Labels, want)
		}
		// Cloud puts a page without a parent under the space's home page.
		if mode == confluencetest.Cloud && got.ParentID != e.sim.HomePageID(pm.Key) {
			t.Fatalf("parent %q, want the home page %q", got.ParentID, e.sim.HomePageID(pm.Key))
		}
		wantURL := map[confluencetest.Mode]string{
			confluencetest.Cloud:      e.sim.BaseURL() + "/spaces/PM/pages/" + p.ID + "/%5BSEV-1%5D+Post-mortem:+Checkout+errors+%28%2342%29",
			confluencetest.DataCenter: e.sim.BaseURL() + "/pages/viewpage.action?pageId=" + p.ID,
		}[mode]
		if p.URL != wantURL {
			t.Fatalf("URL %q, want %q", p.URL, wantURL)
		}

		// The retry's look-up finds it, by its title and its property.
		found, ok, err := e.c.FindPage(ctx, lookup(s))
		if err != nil || !ok || found.ID != p.ID || !found.Marked || found.Body != s.Body || found.Version.Number != 1 || found.EditedByOthers {
			t.Fatalf("find: %+v %v %v", found, ok, err)
		}
		// Another incident's look-up does not take it.
		other := spec("PXXXXXX")
		if _, ok, err := e.c.FindPage(ctx, lookup(other)); err != nil || ok {
			t.Fatalf("another incident found the page: %v %v", ok, err)
		}
		// A retry that creates again gets the same page, not a second one.
		again, err := e.c.CreatePage(ctx, s)
		if err != nil || again.ID != p.ID {
			t.Fatalf("create again: %+v %v", again, err)
		}
		onePage(t, e.sim, s.IncidentID)
		// Another incident cannot take the title: Confluence keeps it unique.
		if _, err := e.c.CreatePage(ctx, other); !errors.Is(err, confluence.ErrTitleTaken) || retryable(err) {
			t.Fatalf("another incident's page with the title: %v", err)
		}
		onePage(t, e.sim, s.IncidentID)
	})
}

// TestLostAnswerThenRetry loses the create's answer after Confluence made
// the page (a 502 from a proxy): the create is not retried by the HTTP
// client, the retry's look-up finds the page aftermath made but did not
// mark, and marking it finishes the job; never a second page.
func TestLostAnswerThenRetry(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		route := map[confluencetest.Mode]string{confluencetest.Cloud: "POST /wiki/api/v2/pages", confluencetest.DataCenter: "POST /rest/api/content"}[mode]
		e.sim.Inject(route, confluencetest.Fault{Status: http.StatusBadGateway, AfterApply: true})
		s := spec("Q1LOST")
		_, err := e.c.CreatePage(ctx, s)
		if err == nil || !retryable(err) || unapplied(err) {
			t.Fatalf("lost answer: %v (retryable %v)", err, retryable(err))
		}
		if n := e.sim.Count(route); n != 1 {
			t.Fatalf("the create was sent %d times; a write that may have taken effect is never resent", n)
		}
		found, ok, err := e.c.FindPage(ctx, lookup(s))
		if err != nil || !ok || found.Marked {
			t.Fatalf("find the unmarked page: %+v %v %v", found, ok, err)
		}
		if err := e.c.MarkPage(ctx, found.ID, s.IncidentID, s.Labels...); err != nil {
			t.Fatal(err)
		}
		if p := onePage(t, e.sim, s.IncidentID); p.ID != found.ID {
			t.Fatalf("marked %s, simulator has %s", found.ID, p.ID)
		}
		// Marking again changes nothing; marking for another incident is
		// refused.
		if err := e.c.MarkPage(ctx, found.ID, s.IncidentID); err != nil {
			t.Fatal(err)
		}
		if err := e.c.MarkPage(ctx, found.ID, "POTHER"); err == nil || !strings.Contains(err.Error(), "post-mortem of incident Q1LOST, not POTHER") {
			t.Fatalf("mark for another incident: %v", err)
		}
		onePage(t, e.sim, s.IncidentID)
	})
}

// TestUnmarkedPageOfAnotherIncident: the rules' title need not name the
// incident, so two incidents can have the same title. Incident A's create
// took effect but its answer was lost, and A stopped before marking the
// page: B's look-up must not take A's page (its body links to A), and B's
// create finds the title taken; A's retry takes its own page.
func TestUnmarkedPageOfAnotherIncident(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		route := map[confluencetest.Mode]string{confluencetest.Cloud: "POST /wiki/api/v2/pages", confluencetest.DataCenter: "POST /rest/api/content"}[mode]
		e.sim.Inject(route, confluencetest.Fault{Status: http.StatusBadGateway, AfterApply: true})
		a, b := spec("Q1AAAAA"), spec("Q2BBBBB")
		if _, err := e.c.CreatePage(ctx, a); err == nil || !retryable(err) {
			t.Fatalf("A's lost answer: %v", err)
		}
		if _, ok, err := e.c.FindPage(ctx, lookup(b)); err != nil || ok {
			t.Fatalf("B's look-up took A's unmarked page: %v %v", ok, err)
		}
		if _, err := e.c.CreatePage(ctx, b); !errors.Is(err, confluence.ErrTitleTaken) {
			t.Fatalf("B's create with A's title: %v, want the title taken", err)
		}
		if pages := e.sim.Pages(); len(pages) != 1 || len(pages[0].Properties) != 0 || len(pages[0].Labels) != 0 {
			t.Fatalf("A's page was marked by B: %+v", pages)
		}
		found, ok, err := e.c.FindPage(ctx, lookup(a))
		if err != nil || !ok || found.Marked {
			t.Fatalf("A's retry: %+v %v %v", found, ok, err)
		}
		if err := e.c.MarkPage(ctx, found.ID, a.IncidentID, a.Labels...); err != nil {
			t.Fatal(err)
		}
		onePage(t, e.sim, a.IncidentID)
	})
}

// TestUnmarkedPageKnownByItsFirstLink: an unmarked page is the incident's
// only when the paragraph it opens with links to the incident, however
// Confluence spells the storage it keeps; a link further down (a member of
// the group, an earlier incident) proves nothing.
func TestUnmarkedPageKnownByItsFirstLink(t *testing.T) {
	const id = "Q7FIRST"
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"as rendered", pageBody(id), true},
		{"normalised by Confluence", `<p><strong>Jira epic:</strong> <a href='https://example.atlassian.net/browse/PM-7' data-x="1">PM-7</a> &middot; ` +
			`<strong>Incident:</strong> <a  href = "https://example.pagerduty.com/incidents/Q7FIRST/" >#42 Checkout &#39;errors&#39;</a> </p>` + body, true},
		{"a link macro", `<p><ac:link><ri:url ri:value="https://example.pagerduty.com/incidents/Q7FIRST" /></ac:link></p>`, true},
		{"another incident", pageBody("Q7FIRSTX"), false},
		{"an ID that only ends the same", pageBody("XQ7FIRST"), false},
		{"linked further down only", pageBody("Q8OTHER") + `<p><a href="https://example.pagerduty.com/incidents/Q7FIRST">#43</a></p>`, false},
		{"no link", body, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, confluencetest.Cloud)
			e.sim.Inject("POST /wiki/api/v2/pages", confluencetest.Fault{Status: http.StatusBadGateway, AfterApply: true})
			s := spec(id)
			s.Body = tc.body
			if _, err := e.c.CreatePage(t.Context(), s); err == nil {
				t.Fatal("the create's answer was not lost")
			}
			_, ok, err := e.c.FindPage(t.Context(), lookup(s))
			if err != nil || ok != tc.want {
				t.Fatalf("found %v (%v), want %v", ok, err, tc.want)
			}
		})
	}
}

// TestReplicasRacingMakeOnePage has several workers look up and create the
// same incident's page at once, as replicas would without their lock: one
// page, and every worker ends with it.
func TestReplicasRacingMakeOnePage(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		s := spec("Q3RACE")
		const workers = 6
		ids := make([]string, workers)
		var wg sync.WaitGroup
		for i := range workers {
			c := newClient(t, credentials(e.sim, mode), e.logs)
			wg.Go(func() {
				p, ok, err := c.FindPage(t.Context(), lookup(s))
				if err == nil && !ok {
					p, err = c.CreatePage(t.Context(), s)
				}
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
				}
				ids[i] = p.ID
			})
		}
		wg.Wait()
		p := onePage(t, e.sim, s.IncidentID)
		for i, id := range ids {
			if id != p.ID {
				t.Errorf("worker %d ended with page %q, want %q", i, id, p.ID)
			}
		}
	})
}

// TestFoundByLabelAfterARename renames the page, as a person may: the title
// no longer finds it, its label does once search has indexed it.
func TestFoundByLabelAfterARename(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		clock := testutil.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		e := newEnv(t, mode, func(o *confluencetest.Options) { o.Now, o.SearchLag = clock.Now, 30*time.Second })
		ctx := t.Context()
		s := spec("Q4MOVED")
		p, err := e.c.CreatePage(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		renamed := s
		renamed.Title = "Checkout outage, March"
		cur, err := e.c.GetPage(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.UpdatePage(ctx, confluence.PageUpdate{ID: p.ID, Version: cur.Version.Number, Title: renamed.Title, Body: body}); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := e.c.FindPage(ctx, lookup(s)); err != nil || ok {
			t.Fatalf("found before the index caught up: %v %v", ok, err)
		}
		clock.Add(31 * time.Second)
		found, ok, err := e.c.FindPage(ctx, lookup(s))
		if err != nil || !ok || found.ID != p.ID || found.Title != renamed.Title || !found.Marked {
			t.Fatalf("find by label: %+v %v %v", found, ok, err)
		}
	})
}

// TestLastOwnVersion reads back through people's edits to the version
// aftermath saved last, with the message it gave it.
func TestLastOwnVersion(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		s := spec("Q6VERS")
		p, err := e.c.CreatePage(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok, err := e.c.LastOwnVersion(ctx, p.ID); err != nil || !ok || v.Number != 1 || v.Author != e.sim.Me() {
			t.Fatalf("after the create: %+v %v %v", v, ok, err)
		}
		const msg = "aftermath: timeline (aftermath-ref-update-1)"
		if _, err := e.c.UpdatePage(ctx, confluence.PageUpdate{ID: p.ID, Version: 1, Title: s.Title, Body: s.Body + "<p>More.</p>", Message: msg}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := e.sim.EditAsPerson(p.ID, who(mode, alice), fmt.Sprintf("<p>Alice, take %d.</p>", i)); err != nil {
				t.Fatal(err)
			}
		}
		v, ok, err := e.c.LastOwnVersion(ctx, p.ID)
		if err != nil || !ok || v.Number != 2 || v.Message != msg || v.Author != e.sim.Me() {
			t.Fatalf("after alice's edits: %+v %v %v", v, ok, err)
		}
		// A person's version deleted from the history is passed over.
		if err := e.sim.DeleteVersion(p.ID, 4); err != nil {
			t.Fatal(err)
		}
		v, ok, err = e.c.LastOwnVersion(ctx, p.ID)
		if err != nil || !ok || v.Number != 2 || v.Message != msg {
			t.Fatalf("after version 4 was deleted from the history: %+v %v %v", v, ok, err)
		}
		if _, _, err := e.c.LastOwnVersion(ctx, "999999"); !errors.Is(err, confluence.ErrNotFound) {
			t.Fatalf("a missing page: %v", err)
		}
	})
}

func TestUpdateNeverOverwritesAPersonsEdit(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		s := spec("Q5EDIT")
		p, err := e.c.CreatePage(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		read, err := e.c.GetPage(ctx, p.ID)
		if err != nil || read.EditedByOthers || read.Version.Number != 1 || read.Version.Author != e.sim.Me() {
			t.Fatalf("read own page: %+v %v", read, err)
		}
		// aftermath's own update from the version it read goes through.
		v2 := body + "<p>Timeline updated.</p>"
		up, err := e.c.UpdatePage(ctx, confluence.PageUpdate{ID: p.ID, Version: 1, Title: s.Title, Body: v2, Message: "aftermath: timeline"})
		if err != nil || up.Version.Number != 2 {
			t.Fatalf("update: %+v %v", up, err)
		}

		// A person edits it.
		edited := "<p>Alice rewrote this.</p>"
		if n, err := e.sim.EditAsPerson(p.ID, who(mode, alice), edited); err != nil || n != 3 {
			t.Fatalf("edit as alice: %d %v", n, err)
		}
		read, err = e.c.GetPage(ctx, p.ID)
		if err != nil || !read.EditedByOthers || read.Version.Number != 3 || read.Version.Author != who(mode, alice) || read.Body != edited {
			t.Fatalf("read after alice's edit: %+v %v", read, err)
		}
		// An update made from version 2 is refused and writes nothing.
		_, err = e.c.UpdatePage(ctx, confluence.PageUpdate{ID: p.ID, Version: 2, Title: s.Title, Body: "<p>stale</p>"})
		if !errors.Is(err, confluence.ErrVersionMoved) || retryable(err) {
			t.Fatalf("stale update: %v", err)
		}
		if got, _ := e.sim.Page(p.ID); got.Body != edited || got.Version != 3 {
			t.Fatalf("the person's edit was overwritten: %+v", got)
		}
	})
}

func TestLabels(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		p, err := e.c.CreatePage(ctx, spec("Q6LABEL"))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.c.AddLabels(ctx, p.ID, "Reviewed", "postmortem"); err != nil {
			t.Fatal(err)
		}
		got, err := e.c.Labels(ctx, p.ID)
		slices.Sort(got)
		if want := []string{"aftermath-q6label", "postmortem", "reviewed", "sev-1"}; err != nil || !slices.Equal(got, want) {
			t.Fatalf("labels %v %v, want %v", got, err, want)
		}
		// A label Confluence would refuse is refused before any request.
		calls := e.sim.Count("")
		if err := e.c.AddLabels(ctx, p.ID, "two words"); err == nil || !strings.Contains(err.Error(), `"two words" cannot be a Confluence label`) {
			t.Fatalf("bad label: %v", err)
		}
		if n := e.sim.Count(""); n != calls {
			t.Fatalf("a bad label sent %d requests", n-calls)
		}
	})
}

func TestCommentsFoundByMarker(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		p, err := e.c.CreatePage(ctx, spec("Q7NOTE"))
		if err != nil {
			t.Fatal(err)
		}
		const marker = "[aftermath:review:Q7NOTE]"
		// A person quoting the marker does not make it aftermath's comment.
		if err := e.sim.CommentAsPerson(p.ID, who(mode, alice), "<p>Is "+marker+" done?</p>"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := e.c.FindComment(ctx, p.ID, marker); err != nil || ok {
			t.Fatalf("found before commenting: %v %v", ok, err)
		}
		added, err := e.c.AddComment(ctx, p.ID, "<p>The review is due.</p><p><sub>"+marker+"</sub></p>")
		if err != nil || added.ID == "" || added.Author != e.sim.Me() {
			t.Fatalf("comment: %+v %v", added, err)
		}
		found, ok, err := e.c.FindComment(ctx, p.ID, marker)
		if err != nil || !ok || found.ID != added.ID || !strings.Contains(found.Body, "The review is due.") {
			t.Fatalf("find: %+v %v %v", found, ok, err)
		}
		if _, ok, err := e.c.FindComment(ctx, p.ID, "[aftermath:other:Q7NOTE]"); err != nil || ok {
			t.Fatalf("another marker found: %v %v", ok, err)
		}
	})
}

// TestListingsFollowNextLinks lists more children than a page of a listing
// holds.
func TestListingsFollowNextLinks(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode, func(o *confluencetest.Options) { o.PageSize = 10 })
		ctx := t.Context()
		parent, err := e.c.CreatePage(ctx, spec("Q8PARENT"))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range 27 {
			s := spec(fmt.Sprintf("Q8CHILD%d", i))
			s.Title, s.ParentID = fmt.Sprintf("Child %02d", i), parent.ID
			p, err := e.c.CreatePage(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, p.ID)
		}
		e.sim.ResetCalls()
		kids, err := e.c.Children(ctx, parent.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range kids {
			got = append(got, k.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("children %v, want %v", got, want)
		}
		if n := e.sim.Count(map[confluencetest.Mode]string{confluencetest.Cloud: "GET /wiki/api/v2/pages/{id}/children", confluencetest.DataCenter: "GET /rest/api/content/{id}/child/page"}[mode]); n != 3 {
			t.Fatalf("children read in %d requests, want 3 of at most 10", n)
		}
		for i := range 30 {
			if _, err := e.c.AddComment(ctx, parent.ID, fmt.Sprintf("<p>comment %d</p>", i)); err != nil {
				t.Fatal(err)
			}
		}
		if c, ok, err := e.c.FindComment(ctx, parent.ID, "comment 29<"); err != nil || !ok || c.Body != "<p>comment 29</p>" {
			t.Fatalf("the last comment: %v %v", ok, err)
		}
	})
}

func TestRetriesAndRefusals(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		p, err := e.c.CreatePage(ctx, spec("Q9RETRY"))
		if err != nil {
			t.Fatal(err)
		}
		get := map[confluencetest.Mode]string{confluencetest.Cloud: "GET /wiki/api/v2/pages/{id}", confluencetest.DataCenter: "GET /rest/api/content/{id}"}[mode]
		create := map[confluencetest.Mode]string{confluencetest.Cloud: "POST /wiki/api/v2/footer-comments", confluencetest.DataCenter: "POST /rest/api/content"}[mode]
		label := map[confluencetest.Mode]string{confluencetest.Cloud: "POST /wiki/rest/api/content/{id}/label", confluencetest.DataCenter: "POST /rest/api/content/{id}/label"}[mode]

		// A read is retried through 429s and 5xx.
		e.sim.ResetCalls()
		e.sim.Inject(get, confluencetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"})
		e.sim.Inject(get, confluencetest.Fault{Status: http.StatusInternalServerError})
		e.sim.Inject(get, confluencetest.Fault{Status: http.StatusServiceUnavailable})
		if _, err := e.c.GetPage(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if n := e.sim.Count(get); n != 4 {
			t.Fatalf("read sent %d times, want 4", n)
		}
		// A write is retried through a 429 (Confluence did nothing)...
		e.sim.Inject(create, confluencetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0", Times: 2})
		if _, err := e.c.AddComment(ctx, p.ID, "<p>x</p>"); err != nil {
			t.Fatal(err)
		}
		// ...but not through a 5xx, which may follow the write.
		e.sim.ResetCalls()
		e.sim.Inject(create, confluencetest.Fault{Status: http.StatusInternalServerError})
		_, err = e.c.AddComment(ctx, p.ID, "<p>y</p>")
		if err == nil || !retryable(err) || e.sim.Count(create) != 1 {
			t.Fatalf("comment on a 500: %v, sent %d times", err, e.sim.Count(create))
		}
		// Adding a label twice changes nothing: it is retried through a 5xx.
		e.sim.Inject(label, confluencetest.Fault{Status: http.StatusBadGateway})
		if err := e.c.AddLabels(ctx, p.ID, "retried"); err != nil {
			t.Fatal(err)
		}
		// A 429 that outlasts the retries says when to come back.
		// (The first try and fast's 4 retries: 5.)
		e.sim.Inject(get, confluencetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "7", Times: 5})
		_, err = e.c.GetPage(ctx, p.ID)
		var ce *confluence.Error
		if !errors.As(err, &ce) || !ce.Retryable() || !ce.Unapplied() || ce.RetryAfter != 7*time.Second || ce.RetryAt().IsZero() {
			t.Fatalf("lasting 429: %#v", err)
		}
	})
}

func TestNotFoundIsAClearRefusal(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		_, err := e.c.GetPage(ctx, "999999")
		if !errors.Is(err, confluence.ErrNotFound) || retryable(err) || !strings.Contains(err.Error(), "read page 999999: HTTP 404") {
			t.Fatalf("missing page: %v", err)
		}
		_, err = e.c.CreatePage(ctx, confluence.PageSpec{SpaceKey: "NOPE", Title: "x", Body: body, IncidentID: "Q1"})
		if !errors.Is(err, confluence.ErrNotFound) || retryable(err) || !strings.Contains(err.Error(), "space NOPE") {
			t.Fatalf("unknown space: %v", err)
		}
		// Malformed storage format is Confluence's 400, and nothing is made.
		bad := spec("Q1BAD")
		bad.Body = "<p>unclosed"
		_, err = e.c.CreatePage(ctx, bad)
		var ce *confluence.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || retryable(err) || !strings.Contains(err.Error(), "Error parsing xhtml") {
			t.Fatalf("bad body: %v", err)
		}
		if n := len(e.sim.Pages()); n != 0 {
			t.Fatalf("%d pages made of bad input", n)
		}
	})
}

// TestDownForAWhile has the site answer 503 for 20 s: calls fail as
// retryable, saying when to retry, and succeed once it is back.
func TestDownForAWhile(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		clock := testutil.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		e := newEnv(t, mode, func(o *confluencetest.Options) { o.Now = clock.Now })
		ctx := t.Context()
		e.sim.Down(20 * time.Second)
		_, err := e.c.CreatePage(ctx, spec("Q1DOWN"))
		var ce *confluence.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable || !ce.Retryable() || ce.RetryAfter < 19*time.Second {
			t.Fatalf("while down: %#v", err)
		}
		if n := len(e.sim.Pages()); n != 0 {
			t.Fatalf("%d pages made while down", n)
		}
		clock.Add(21 * time.Second)
		if _, err := e.c.CreatePage(ctx, spec("Q1DOWN")); err != nil {
			t.Fatal(err)
		}
		onePage(t, e.sim, "Q1DOWN")
	})
}

func TestNewRefusesIncompleteSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  confluence.Config
		want string
	}{
		{"no URL", confluence.Config{Email: botEmail, APIToken: apiToken}, "CONFLUENCE_BASE_URL"},
		{"not http", confluence.Config{BaseURL: "ftp://wiki.example.com", PAT: pat}, "CONFLUENCE_BASE_URL"},
		{"Cloud without token", confluence.Config{BaseURL: "https://x.atlassian.net/wiki", Email: botEmail}, "CONFLUENCE_API_TOKEN"},
		{"Data Center without PAT", confluence.Config{BaseURL: "https://wiki.example.com", Deployment: "datacenter", Email: botEmail, APIToken: apiToken}, "CONFLUENCE_PAT"},
		{"unknown deployment", confluence.Config{BaseURL: "https://wiki.example.com", PAT: pat, Deployment: "onprem"}, "want cloud or datacenter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := confluence.New(tc.cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a message naming %s", err, tc.want)
			}
			for _, s := range []string{apiToken, pat} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error %q holds a secret", err)
				}
			}
		})
	}
	c, err := confluence.New(confluence.Config{BaseURL: "https://x.atlassian.net/wiki/", Email: botEmail, APIToken: apiToken}, nil, nil)
	if err != nil || c.Deployment() != confluence.Cloud || c.PageURL("PM", "123") != "https://x.atlassian.net/wiki/spaces/PM/pages/123" {
		t.Fatalf("Cloud client: %v", err)
	}
	c, err = confluence.New(confluence.Config{BaseURL: "https://example.com/confluence", PAT: pat}, nil, nil)
	if err != nil || c.Deployment() != confluence.DataCenter || c.PageURL("PM", "123") != "https://example.com/confluence/pages/viewpage.action?pageId=123" {
		t.Fatalf("Data Center client: %v", err)
	}
}

func TestSecretsStayOut(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		ctx := t.Context()
		var errs []error
		keep := func(err error) {
			t.Helper()
			if err == nil {
				t.Fatal("no error")
			}
			errs = append(errs, err)
		}
		p, err := e.c.CreatePage(ctx, spec("Q1SECRET"))
		if err != nil {
			t.Fatal(err)
		}
		get := map[confluencetest.Mode]string{confluencetest.Cloud: "GET /wiki/api/v2/pages/{id}", confluencetest.DataCenter: "GET /rest/api/content/{id}"}[mode]
		e.sim.Inject(get, confluencetest.Fault{Status: http.StatusServiceUnavailable, Times: 2})
		if _, err := e.c.GetPage(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		e.sim.Inject(get, confluencetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0", Times: 5})
		_, err = e.c.GetPage(ctx, p.ID)
		keep(err)
		_, err = e.c.GetPage(ctx, "424242")
		keep(err)

		logs := &testutil.Buffer{}
		wrong, down, down2 := credentials(e.sim, mode), credentials(e.sim, mode), credentials(e.sim, mode)
		wrong.APIToken, wrong.PAT = wrongToken, wrongPAT
		if mode == confluencetest.Cloud {
			wrong.PAT = "" // else the client would take the site for Data Center
		}
		down.BaseURL, down2.BaseURL = hangUp(t), hangUp(t)
		for _, cfg := range []confluence.Config{wrong, down, down2} {
			c := newClient(t, cfg, logs)
			_, err := c.GetPage(ctx, p.ID)
			keep(err)
			_, err = c.CreatePage(ctx, spec("Q1SECRET"))
			keep(err)
			keep(c.AddLabels(ctx, p.ID, "x"))
		}
		secrets := []string{
			apiToken, pat, wrongToken, wrongPAT,
			base64.StdEncoding.EncodeToString([]byte(botEmail + ":" + apiToken)),
			base64.StdEncoding.EncodeToString([]byte(botEmail + ":" + wrongToken)),
		}
		all := e.logs.String() + logs.String()
		if !strings.Contains(all, "retrying Confluence request") || !strings.Contains(all, "Confluence rate limit") {
			t.Fatalf("nothing logged, so nothing checked: %s", all)
		}
		for _, s := range secrets {
			if strings.Contains(all, s) {
				t.Errorf("a log line holds the secret %q:\n%s", s, all)
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), s) {
					t.Errorf("error %q holds the secret %q", err, s)
				}
			}
		}
	})
}

// hangUp is the address of a server that closes every connection at once.
func hangUp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

// retryable is what the workflow asks of an error: its Retryable method.
func retryable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}

func unapplied(err error) bool {
	var u interface{ Unapplied() bool }
	return errors.As(err, &u) && u.Unapplied()
}

// TestTheRenderedPageIsAccepted creates the post-mortem page as render
// spells it in storage format: Confluence (the simulator parses it as
// strictly) takes it, and reads it back unchanged.
func TestTheRenderedPageIsAccepted(t *testing.T) {
	forModes(t, func(t *testing.T, mode confluencetest.Mode) {
		e := newEnv(t, mode)
		page := render.Sample()
		page.Title = `Checkout <errors> & "timeouts"`
		storage, err := render.Storage(page)
		if err != nil {
			t.Fatal(err)
		}
		title, err := render.Summary(nil, page)
		if err != nil {
			t.Fatal(err)
		}
		s := confluence.PageSpec{SpaceKey: pm.Key, Title: strings.TrimSpace(title), Body: storage, IncidentID: "Q1RENDER"}
		p, err := e.c.CreatePage(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.c.GetPage(t.Context(), p.ID)
		if err != nil || got.Body != storage || got.Title != s.Title {
			t.Fatalf("read back: %q %v", got.Title, err)
		}
	})
}
