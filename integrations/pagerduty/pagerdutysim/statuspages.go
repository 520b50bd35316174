package pagerdutysim

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Status pages: pages, their posts (each optionally linked to an incident,
// as a post made from an incident is) and each post's postmortem, with the
// documented rules of PUT .../postmortem (message required, at most 10,000
// characters, the post's own reference). The simulator counts the
// postmortem writes and the subscriber notifications, so a test can tell a
// second write from none.

// statusPageRoutes are the status-page routes, served like every other.
var statusPageRoutes = map[string]func(*Server, *request) reply{
	"GET /status_pages":                                 (*Server).listStatusPages,
	"GET /status_pages/{id}/posts":                      (*Server).listStatusPagePosts,
	"GET /status_pages/{id}/posts/{post_id}/postmortem": (*Server).getStatusPagePostmortem,
	"PUT /status_pages/{id}/posts/{post_id}/postmortem": (*Server).putStatusPagePostmortem,
}

// The status-page routes join the others here, beside their handlers.
func init() { maps.Copy(routes, statusPageRoutes) }

// maxPostmortemMessage is StatusPagePostmortemRequest.message's maxLength.
const maxPostmortemMessage = 10000

// StatusPage is a status page.
type StatusPage struct {
	ID   string
	Name string
	URL  string // where people read it, e.g. https://status.example.com
}

// NewStatusPagePost describes a post to seed with AddStatusPagePost.
type NewStatusPagePost struct {
	ID       string // "" = generated
	Title    string
	PostType string // "incident" (default) or "maintenance"
	// IncidentID links the post to an incident (its linked_resource), as
	// PagerDuty does for a post made from the incident; "" = none.
	IncidentID string
}

// StatusPagePost is a snapshot of a post.
type StatusPagePost struct {
	ID         string
	PageID     string
	Title      string
	PostType   string
	IncidentID string
	CreatedAt  time.Time
	// Postmortem is nil while the post has none.
	Postmortem *StatusPagePostmortem
	// PostmortemWrites counts the PUTs that wrote its postmortem, and
	// Notified those that notified the page's subscribers.
	PostmortemWrites int
	Notified         int
}

// StatusPagePostmortem is a post's postmortem.
type StatusPagePostmortem struct {
	ID                string
	Message           string
	NotifySubscribers bool
	ReportedAt        time.Time
}

type statusPageState struct {
	pages map[string]*StatusPage
	posts map[string][]*StatusPagePost // by page, oldest first
}

// AddStatusPage adds or replaces a status page.
func (s *Server) AddStatusPage(p StatusPage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.statusPages.pages == nil {
		s.statusPages = statusPageState{pages: map[string]*StatusPage{}, posts: map[string][]*StatusPagePost{}}
	}
	s.statusPages.pages[p.ID] = &p
}

// AddStatusPagePost adds a post to a status page and returns it: the test
// hook for a post made from an incident. It panics on an unknown page or
// incident: seeding mistakes are the test's bug.
func (s *Server) AddStatusPagePost(pageID string, np NewStatusPagePost) StatusPagePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.statusPages.pages[pageID] == nil {
		panic(fmt.Sprintf("pagerdutysim: AddStatusPagePost: unknown status page %q", pageID))
	}
	if np.IncidentID != "" {
		s.mustIncident(np.IncidentID)
	}
	if np.ID == "" {
		s.seq++
		np.ID = fmt.Sprintf("PPOST%03d", s.seq)
	}
	p := &StatusPagePost{ID: np.ID, PageID: pageID, Title: np.Title, PostType: cmpOr(np.PostType, "incident"), IncidentID: np.IncidentID, CreatedAt: s.now()}
	s.statusPages.posts[pageID] = append(s.statusPages.posts[pageID], p)
	return p.snapshot()
}

// StatusPagePost returns a snapshot of a post.
func (s *Server) StatusPagePost(pageID, postID string) (StatusPagePost, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.post(pageID, postID)
	if p == nil {
		return StatusPagePost{}, false
	}
	return p.snapshot(), true
}

func (p *StatusPagePost) snapshot() StatusPagePost {
	c := *p
	if p.Postmortem != nil {
		pm := *p.Postmortem
		c.Postmortem = &pm
	}
	return c
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Server) post(pageID, postID string) *StatusPagePost {
	for _, p := range s.statusPages.posts[pageID] {
		if p.ID == postID {
			return p
		}
	}
	return nil
}

// pageAndPost reads the status page and post IDs of
// /status_pages/{id}/posts/{post_id}/..., answering 404 for either unknown.
func (s *Server) pageAndPost(rq *request) (*StatusPagePost, *reply) {
	segs := strings.Split(strings.TrimPrefix(rq.r.URL.Path, "/"), "/")
	if len(segs) < 4 || s.statusPages.pages[segs[1]] == nil {
		r := notFound()
		return nil, &r
	}
	p := s.post(segs[1], segs[3])
	if p == nil {
		r := notFound()
		return nil, &r
	}
	return p, nil
}

func (s *Server) listStatusPages(rq *request) reply {
	pg, bad := parsePage(rq.r.URL.Query())
	if bad != nil {
		return *bad
	}
	ids := slices.Sorted(maps.Keys(s.statusPages.pages))
	return paginate(pg, "status_pages", ids, func(id string) any {
		p := s.statusPages.pages[id]
		return map[string]any{"id": p.ID, "type": "status_page", "name": p.Name, "url": p.URL,
			"status_page_type": "public", "published_at": "2026-01-05T09:00:00Z"}
	})
}

func (s *Server) listStatusPagePosts(rq *request) reply {
	if s.statusPages.pages[rq.id] == nil {
		return notFound()
	}
	q := rq.r.URL.Query()
	pg, bad := parsePage(q)
	if bad != nil {
		return *bad
	}
	var posts []*StatusPagePost
	for _, p := range s.statusPages.posts[rq.id] {
		if t := q.Get("post_type"); t == "" || t == p.PostType {
			posts = append(posts, p)
		}
	}
	return paginate(pg, "posts", posts, s.postJSON)
}

func (s *Server) postJSON(p *StatusPagePost) any {
	self := s.base + "/status_pages/" + p.PageID + "/posts/" + p.ID
	m := map[string]any{
		"id": p.ID, "self": self, "type": "status_page_post", "post_type": p.PostType, "title": p.Title,
		"status_page": map[string]any{"id": p.PageID, "type": "status_page"},
		"starts_at":   nil, "ends_at": nil,
		"updates": []any{map[string]any{"id": "U" + p.ID, "self": self + "/post_updates/U" + p.ID, "type": "status_page_post_update"}},
	}
	if p.IncidentID != "" {
		m["linked_resource"] = map[string]any{"id": p.IncidentID, "type": "incident"}
	}
	if p.Postmortem != nil {
		m["postmortem"] = map[string]any{"id": p.Postmortem.ID, "type": "status_page_postmortem", "self": self + "/postmortem"}
	}
	return m
}

func (s *Server) postmortemJSON(p *StatusPagePost) map[string]any {
	self := s.base + "/status_pages/" + p.PageID + "/posts/" + p.ID
	pm := p.Postmortem
	return map[string]any{"postmortem": map[string]any{
		"id": pm.ID, "self": self + "/postmortem", "type": "status_page_post_postmortem",
		"post":    map[string]any{"id": p.ID, "self": self, "type": "status_page_post"},
		"message": pm.Message, "notify_subscribers": pm.NotifySubscribers,
		"reported_at": pm.ReportedAt.UTC().Format(time.RFC3339),
	}}
}

func (s *Server) getStatusPagePostmortem(rq *request) reply {
	p, bad := s.pageAndPost(rq)
	if bad != nil {
		return *bad
	}
	if p.Postmortem == nil {
		return notFound()
	}
	return okReply(s.postmortemJSON(p))
}

func (s *Server) putStatusPagePostmortem(rq *request) reply {
	p, bad := s.pageAndPost(rq)
	if bad != nil {
		return *bad
	}
	var in struct {
		Postmortem *struct {
			Message           *string `json:"message"`
			NotifySubscribers *bool   `json:"notify_subscribers"`
			Post              *struct {
				ID string `json:"id"`
			} `json:"post"`
		} `json:"postmortem"`
	}
	if bad := decodeBody(rq.body, &in); bad != nil {
		return *bad
	}
	pm := in.Postmortem
	switch {
	case pm == nil:
		return badRequest("postmortem is required")
	case pm.Message == nil || strings.TrimSpace(*pm.Message) == "":
		return badRequest("Message can't be blank")
	case utf8.RuneCountInString(*pm.Message) > maxPostmortemMessage:
		return badRequest(fmt.Sprintf("Message is too long (maximum is %d characters)", maxPostmortemMessage))
	case pm.NotifySubscribers == nil:
		return badRequest("Notify subscribers is required")
	case pm.Post == nil || pm.Post.ID != p.ID:
		return badRequest("Post must be the post of the path")
	}
	status := http.StatusOK
	if p.Postmortem == nil {
		s.seq++
		p.Postmortem = &StatusPagePostmortem{ID: fmt.Sprintf("PPM%03d", s.seq)}
		status = http.StatusCreated
	}
	p.Postmortem.Message, p.Postmortem.NotifySubscribers, p.Postmortem.ReportedAt = *pm.Message, *pm.NotifySubscribers, rq.at
	p.PostmortemWrites++
	if *pm.NotifySubscribers {
		p.Notified++
	}
	return reply{Status: status, Body: s.postmortemJSON(p)}
}
