package confluencesim

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// space is the stored state of a Space.
type space struct {
	Space
	id       string
	homepage string
}

// page is the stored state of a page; Page is its snapshot.
type page struct {
	id, spaceKey, parentID, title string
	createdBy                     *User
	created                       time.Time
	versions                      []version
	labels                        []label
	props                         []*property
	comments                      []*comment
}

type version struct {
	number  int
	author  *User
	message string
	body    string
	at      time.Time
	deleted bool // removed from the page's history by a person
}

type label struct {
	id, name string
	at       time.Time // when it was added: CQL sees it SearchLag later
}

type property struct {
	id, key string
	value   []byte // JSON
	version int
	at      time.Time
}

type comment struct {
	id, pageID, body string
	author           *User
	at               time.Time
}

func (p *page) current() version { return p.versions[len(p.versions)-1] }

// version is the page's version numbered raw (a decimal number); ok is
// false when there is none.
func (p *page) version(raw string) (version, bool) {
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > len(p.versions) || p.versions[n-1].deleted {
		return version{}, false
	}
	return p.versions[n-1], true
}

// nextID hands out Confluence's numeric IDs, one sequence for everything.
func (s *Server) nextID() string {
	s.seq++
	return strconv.Itoa(s.seq)
}

// idOf is how the mode names a user in versions and authors.
func (s *Server) idOf(u *User) string {
	if s.mode == Cloud {
		return u.AccountID
	}
	return u.UserKey
}

// AddSpace creates a space and its home page, and returns the space's ID.
func (s *Server) AddSpace(sp Space) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &space{Space: sp, id: s.nextID()}
	home := s.newPage(st.Key, "", cmpOr(sp.Name, sp.Key)+" Home", "<p>Welcome.</p>", s.users[0], s.now())
	st.homepage = home.id
	s.spaces = append(s.spaces, st)
	return st.id
}

// AddUser adds a person who can edit pages (see EditAsPerson).
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := u
	s.users = append(s.users, &c)
}

// HomePageID is the ID of a space's home page, "" for an unknown space.
func (s *Server) HomePageID(spaceKey string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp := s.spaceByKey(spaceKey); sp != nil {
		return sp.homepage
	}
	return ""
}

// Page returns a snapshot of a page.
func (s *Server) Page(id string) (Page, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pages[id]
	if !ok {
		return Page{}, false
	}
	return s.snapshot(p), true
}

// Pages returns a snapshot of every page but the spaces' home pages, in
// creation order.
func (s *Server) Pages() []Page {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Page
	for _, id := range s.order {
		if p := s.pages[id]; !s.isHome(p) {
			out = append(out, s.snapshot(p))
		}
	}
	return out
}

func (s *Server) isHome(p *page) bool {
	sp := s.spaceByKey(p.spaceKey)
	return sp != nil && sp.homepage == p.id
}

func (s *Server) snapshot(p *page) Page {
	cur := p.current()
	out := Page{ID: p.id, SpaceKey: p.spaceKey, ParentID: p.parentID, Title: p.title, Body: cur.body, Version: cur.number,
		CreatedBy: s.idOf(p.createdBy), Properties: map[string]string{}}
	for _, v := range p.versions {
		out.Versions = append(out.Versions, Version{Number: v.number, Author: s.idOf(v.author), Message: v.message, Body: v.body, When: v.at})
	}
	for _, l := range p.labels {
		out.Labels = append(out.Labels, l.name)
	}
	slices.Sort(out.Labels)
	for _, pr := range p.props {
		out.Properties[pr.key] = string(pr.value)
	}
	for _, c := range p.comments {
		out.Comments = append(out.Comments, Comment{ID: c.id, Author: s.idOf(c.author), Body: c.body, When: c.at})
	}
	return out
}

// EditAsPerson saves a new version of a page's body by the person whose ID
// (AccountID on Cloud, UserKey on Data Center) is author, as someone
// editing the page in Confluence's editor does, and returns the new
// version's number. It fails for an unknown page, an unknown person or a
// body that is not well-formed storage format.
func (s *Server) EditAsPerson(pageID, author, body string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pages[pageID]
	if !ok {
		return 0, fmt.Errorf("confluencesim: no page %s", pageID)
	}
	u := s.userByID(author)
	if u == nil || u == s.users[0] {
		return 0, fmt.Errorf("confluencesim: %q is not a person added with AddUser", author)
	}
	if err := checkStorage(body); err != nil {
		return 0, fmt.Errorf("confluencesim: %w", err)
	}
	n := p.current().number + 1
	p.versions = append(p.versions, version{number: n, author: u, body: body, at: s.now()})
	return n, nil
}

// DeleteVersion removes an earlier version from a page's history, as a
// person can in Confluence's page history (not the current one): reading
// it then answers 404.
func (s *Server) DeleteVersion(pageID string, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pages[pageID]
	if !ok {
		return fmt.Errorf("confluencesim: no page %s", pageID)
	}
	if n < 1 || n >= len(p.versions) {
		return fmt.Errorf("confluencesim: page %s has no earlier version %d", pageID, n)
	}
	p.versions[n-1].deleted = true
	return nil
}

// CommentAsPerson adds a footer comment to a page by the person whose ID is
// author, as someone commenting in Confluence does.
func (s *Server) CommentAsPerson(pageID, author, body string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pages[pageID]
	if !ok {
		return fmt.Errorf("confluencesim: no page %s", pageID)
	}
	u := s.userByID(author)
	if u == nil || u == s.users[0] {
		return fmt.Errorf("confluencesim: %q is not a person added with AddUser", author)
	}
	if err := checkStorage(body); err != nil {
		return fmt.Errorf("confluencesim: %w", err)
	}
	p.comments = append(p.comments, &comment{id: s.nextID(), pageID: p.id, body: body, author: u, at: s.now()})
	return nil
}

func (s *Server) userByID(id string) *User {
	for _, u := range s.users {
		if s.idOf(u) == id {
			return u
		}
	}
	return nil
}

func (s *Server) spaceByKey(key string) *space {
	for _, sp := range s.spaces {
		if sp.Key == key {
			return sp
		}
	}
	return nil
}

func (s *Server) spaceByID(id string) *space {
	for _, sp := range s.spaces {
		if sp.id == id {
			return sp
		}
	}
	return nil
}

// newPage stores a page; the caller has checked it.
func (s *Server) newPage(spaceKey, parentID, title, body string, by *User, at time.Time) *page {
	p := &page{id: s.nextID(), spaceKey: spaceKey, parentID: parentID, title: title, createdBy: by, created: at,
		versions: []version{{number: 1, author: by, body: body, at: at}}}
	s.pages[p.id] = p
	s.order = append(s.order, p.id)
	return p
}

// titleTaken reports whether another page of the space has the title:
// Confluence keeps titles unique within a space, case-insensitively.
func (s *Server) titleTaken(spaceKey, title, except string) bool {
	for _, p := range s.pages {
		if p.spaceKey == spaceKey && p.id != except && strings.EqualFold(p.title, title) {
			return true
		}
	}
	return false
}

// checkPage is what Confluence checks of a page it is asked to store; it
// returns the refusal's message, "" when the page is fine.
func (s *Server) checkPage(spaceKey, parentID, title, body, except string) (status int, msg string) {
	switch {
	case strings.TrimSpace(title) == "":
		return 400, "Title cannot be empty"
	case utf8.RuneCountInString(title) > MaxTitle:
		return 400, fmt.Sprintf("Title cannot be longer than %d characters", MaxTitle)
	case s.titleTaken(spaceKey, title, except):
		return 400, "A page with this title already exists: A page already exists with the same TITLE in this space"
	}
	if parentID != "" {
		parent, ok := s.pages[parentID]
		if !ok {
			return 404, "Could not find parent page " + parentID
		}
		if parent.spaceKey != spaceKey {
			return 400, "The parent page must be in the same space"
		}
	}
	if err := checkStorage(body); err != nil {
		return 400, err.Error()
	}
	return 0, ""
}

// checkStorage refuses a body that is not well-formed XHTML, as
// Confluence's storage-format parser does: unclosed or mismatched tags,
// characters XML forbids, entities it does not know.
func checkStorage(body string) error {
	d := xml.NewDecoder(strings.NewReader(`<root xmlns:ac="http://atlassian.com/content" xmlns:ri="http://atlassian.com/resource/identifier">` + body + `</root>`))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("Error parsing xhtml: %v", err)
		}
	}
}

// normLabel is a label as Confluence stores it, or "" when it cannot be
// one: lower case, no spaces, at most 255 characters.
func normLabel(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || strings.ContainsAny(name, " \t\n:;,.?&!'\"") || utf8.RuneCountInString(name) > 255 {
		return ""
	}
	return name
}

// addLabel adds a label to a page unless it has it; the label's ID is the
// same on every page.
func (s *Server) addLabel(p *page, name string, at time.Time) {
	if slices.ContainsFunc(p.labels, func(l label) bool { return l.name == name }) {
		return
	}
	id, ok := s.labelIDs[name]
	if !ok {
		id = s.nextID()
		s.labelIDs[name] = id
	}
	p.labels = append(p.labels, label{id: id, name: name, at: at})
}

// children are a page's child pages, in creation order.
func (s *Server) children(id string) []*page {
	var out []*page
	for _, pid := range s.order {
		if p := s.pages[pid]; p.parentID == id {
			out = append(out, p)
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
