package pagerdutytest

import (
	"strings"
	"testing"
)

// Requests to the status-page routes that the official spec rejects are
// recorded as violations and answered 400, changing nothing; the simulator
// enforces the same rules itself without the spec (a blank message, a
// post that is not the path's); a valid PUT creates the postmortem (201),
// a second replaces it (200).
// statusPageFixture is a simulator with one status page, one post linked
// to an incident, and the post's postmortem path and body.
func statusPageFixture(t *testing.T, o Options) (s *Server, incidentID, postID, path string, body func(string) string) {
	s = NewServer(o)
	t.Cleanup(s.Close)
	s.AddService(web)
	in := s.AddIncident(NewIncident{Title: "x", ServiceID: web.ID})
	s.AddStatusPage(StatusPage{ID: "PSTATUS1", Name: "Acme", URL: "https://status.acme.example"})
	post := s.AddStatusPagePost("PSTATUS1", NewStatusPagePost{Title: "Checkout", IncidentID: in.ID})
	path = "/status_pages/PSTATUS1/posts/" + post.ID + "/postmortem"
	body = func(fields string) string {
		return `{"postmortem":{"type":"status_page_post_postmortem","post":{"id":"` + post.ID + `","type":"status_page_post"}` + fields + `}}`
	}
	return s, in.ID, post.ID, path, body
}

// What the official spec refuses, the simulator refuses with PagerDuty's
// 400 and records as a violation (needs the spec).
func TestStatusPageRequests(t *testing.T) {
	s, _, postID, path, body := statusPageFixture(t, Options{Validate: specValidator(t)})
	for i, tc := range []struct{ name, method, target, body, want string }{
		{"no notify_subscribers", "PUT", path, body(`,"message":"x"`), "notify_subscribers"},
		{"a message over 10,000 characters", "PUT", path, body(`,"message":"` + strings.Repeat("x", 10001) + `","notify_subscribers":false`), "message"},
		{"a bad post_type", "GET", "/status_pages/PSTATUS1/posts?post_type=outage", "", "post_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, s, tc.method, tc.target, tc.body, nil)
			if r.status != 400 || r.errorCode() != 2001 {
				t.Fatalf("got %d %s", r.status, r.errorText())
			}
			vs := s.Violations()
			if len(vs) != i+1 || !strings.Contains(vs[i], tc.want) {
				t.Fatalf("violations %q, want the last to mention %s", vs, tc.want)
			}
		})
	}
	if p, _ := s.StatusPagePost("PSTATUS1", postID); p.Postmortem != nil || p.PostmortemWrites != 0 {
		t.Fatalf("refused requests wrote a postmortem: %+v", p)
	}
	if r := send(t, s, "PUT", path, body(`,"message":"<p>x</p>","notify_subscribers":false`), nil); r.status != 201 {
		t.Fatalf("a valid PUT: %d %s", r.status, r.errorText())
	}
	if n := len(s.Violations()); n != 3 {
		t.Fatalf("%d violations, want the 3 above: %q", n, s.Violations())
	}
}

// The simulator's own rules, beyond the spec (they hold without it): a
// blank message and another post's body are refused and write nothing; a
// postmortem is created once (201), then replaced (200), subscribers
// notified only when asked; the post names its incident.
func TestStatusPagePostmortemsInTheSimulator(t *testing.T) {
	s, incidentID, postID, path, body := statusPageFixture(t, Options{})
	for _, tc := range []struct{ name, body, want string }{
		{"a blank message", body(`,"message":"  ","notify_subscribers":false`), "blank"},
		{"another post", strings.Replace(body(`,"message":"x","notify_subscribers":false`), postID, "POTHER", 1), "Post must be the post of the path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := send(t, s, "PUT", path, tc.body, nil); r.status != 400 || !strings.Contains(r.errorText(), tc.want) {
				t.Fatalf("got %d %s", r.status, r.errorText())
			}
		})
	}
	if p, _ := s.StatusPagePost("PSTATUS1", postID); p.Postmortem != nil || p.PostmortemWrites != 0 {
		t.Fatalf("refused requests wrote a postmortem: %+v", p)
	}
	if r := send(t, s, "GET", path, "", nil); r.status != 404 {
		t.Fatalf("GET of a postmortem not written: %d", r.status)
	}
	if r := send(t, s, "PUT", path, body(`,"message":"<p>x</p>","notify_subscribers":false`), nil); r.status != 201 {
		t.Fatalf("first PUT: %d %s", r.status, r.errorText())
	}
	if r := send(t, s, "PUT", path, body(`,"message":"<p>y</p>","notify_subscribers":true`), nil); r.status != 200 {
		t.Fatalf("second PUT: %d %s", r.status, r.errorText())
	}
	r := send(t, s, "GET", "/status_pages/PSTATUS1/posts?post_type=incident", "", nil)
	posts, _ := r.body["posts"].([]any)
	if r.status != 200 || len(posts) != 1 {
		t.Fatalf("posts: %d %v", r.status, r.body)
	}
	p := posts[0].(map[string]any)
	if linked, _ := p["linked_resource"].(map[string]any); linked["id"] != incidentID {
		t.Fatalf("the post's linked_resource = %v, want incident %s", p["linked_resource"], incidentID)
	}
	if got, _ := s.StatusPagePost("PSTATUS1", postID); got.PostmortemWrites != 2 || got.Notified != 1 || got.Postmortem.Message != "<p>y</p>" {
		t.Fatalf("after two PUTs: %+v", got)
	}
	if vs := s.Violations(); len(vs) != 0 {
		t.Fatalf("violations without a validator: %q", vs)
	}
}
