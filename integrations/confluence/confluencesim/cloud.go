package confluencesim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cloud's REST v2, under /wiki/api/v2: the shapes of Atlassian's OpenAPI
// document (confluencetest checks every answer against it).

// stamp is how Confluence writes a time: "2026-03-02T09:00:00.000Z".
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// slug is the last part of a Cloud page's web address: its title, words
// joined by "+".
func slug(title string) string {
	return url.PathEscape(strings.Join(strings.Fields(title), "+"))
}

func (s *Server) site() string { return s.URL() + "/wiki" }

func (s *Server) cloudVersion(v version) map[string]any {
	return map[string]any{"createdAt": stamp(v.at), "message": v.message, "number": v.number, "minorEdit": false, "authorId": s.idOf(v.author)}
}

// cloudPage is a page as v2 shows it; the body only when asked for, as
// body-format=storage does.
func (s *Server) cloudPage(p *page, withBody, single bool) map[string]any {
	sp := s.spaceByKey(p.spaceKey)
	m := map[string]any{
		"id": p.id, "status": "current", "title": p.title, "spaceId": sp.id,
		"authorId": s.idOf(p.createdBy), "ownerId": s.idOf(p.createdBy), "createdAt": stamp(p.created),
		"version": s.cloudVersion(p.current()), "body": map[string]any{},
	}
	if p.parentID != "" {
		m["parentId"], m["parentType"] = p.parentID, "page"
	}
	if withBody {
		m["body"] = map[string]any{"storage": map[string]any{"representation": "storage", "value": p.current().body}}
	}
	links := map[string]any{
		"webui":  "/spaces/" + p.spaceKey + "/pages/" + p.id + "/" + slug(p.title),
		"editui": "/pages/resumedraft.action?draftId=" + p.id,
		"tinyui": "/x/" + p.id,
	}
	if single {
		links["base"] = s.site()
	}
	m["_links"] = links
	return m
}

// pageOf returns the page a v2 request names, or the 404.
func (s *Server) pageOf(id string) (*page, *reply) {
	p, ok := s.pages[id]
	if !ok {
		rep := s.refusal(http.StatusNotFound, "Not Found")
		return nil, &rep
	}
	return p, nil
}

// window is one page of a listing: limit (default 25, at most 250 or
// Options.PageSize) items
// from the cursor on, and the cursor of the next page ("" when none).
func (s *Server) window(n int, q url.Values) (from, to int, next string) {
	limit := 25
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		limit = min(v, 250)
	}
	if s.pageSize > 0 {
		limit = min(limit, s.pageSize)
	}
	if v, err := strconv.Atoi(q.Get("cursor")); err == nil && v > 0 {
		from = min(v, n)
	}
	to = min(from+limit, n)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next
}

// listing is v2's multi-entity result: the window of items, and the link to
// the next window.
func (s *Server) listing(q *request, items []any) reply {
	from, to, next := s.window(len(items), q.r.URL.Query())
	links := map[string]any{"base": s.site()}
	if next != "" {
		v := q.r.URL.Query()
		v.Set("cursor", next)
		links["next"] = q.r.URL.Path + "?" + v.Encode()
	}
	return answer(http.StatusOK, map[string]any{"results": append([]any{}, items[from:to]...), "_links": links})
}

// values reads an array query parameter, whether repeated or
// comma-separated.
func values(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}

func (s *Server) cloudSpaces(q *request) reply {
	keys := values(q.r.URL.Query(), "keys")
	var items []any
	for _, sp := range s.spaces {
		if len(keys) > 0 && !slices.Contains(keys, sp.Key) {
			continue
		}
		items = append(items, map[string]any{
			"id": sp.id, "key": sp.Key, "name": sp.Name, "type": "global", "status": "current",
			"authorId": BotAccountID, "homepageId": sp.homepage, "_links": map[string]any{"webui": "/spaces/" + sp.Key},
		})
	}
	return s.listing(q, items)
}

func (s *Server) cloudPages(q *request) reply {
	v := q.r.URL.Query()
	spaceIDs, ids, title := values(v, "space-id"), values(v, "id"), v.Get("title")
	for _, st := range values(v, "status") {
		if st != "current" {
			return s.listing(q, nil) // only current pages are simulated
		}
	}
	var items []any
	for _, id := range s.order {
		p := s.pages[id]
		if len(spaceIDs) > 0 && !slices.Contains(spaceIDs, s.spaceByKey(p.spaceKey).id) ||
			len(ids) > 0 && !slices.Contains(ids, p.id) || title != "" && p.title != title {
			continue
		}
		items = append(items, s.cloudPage(p, v.Get("body-format") == "storage", false))
	}
	return s.listing(q, items)
}

// pageWrite is the body of v2's page create and update.
type pageWrite struct {
	ID       string          `json:"id"`
	SpaceID  string          `json:"spaceId"`
	Status   string          `json:"status"`
	Title    string          `json:"title"`
	ParentID string          `json:"parentId"`
	Body     json.RawMessage `json:"body"`
	Version  *struct {
		Number  int    `json:"number"`
		Message string `json:"message"`
	} `json:"version"`
}

// storageBody reads a v2 body, flat ({"representation", "value"}) or
// nested ({"storage": {...}}); ok is false for another representation.
func storageBody(raw json.RawMessage) (value string, ok bool) {
	var flat struct {
		Representation string `json:"representation"`
		Value          string `json:"value"`
		Storage        *struct {
			Representation string `json:"representation"`
			Value          string `json:"value"`
		} `json:"storage"`
	}
	if json.Unmarshal(raw, &flat) != nil {
		return "", false
	}
	if flat.Storage != nil {
		return flat.Storage.Value, true
	}
	return flat.Value, flat.Representation == "storage"
}

func (s *Server) cloudCreatePage(q *request) reply {
	var in pageWrite
	if err := json.Unmarshal(q.body, &in); err != nil {
		return s.refusal(http.StatusBadRequest, "Invalid request body: "+err.Error())
	}
	sp := s.spaceByID(in.SpaceID)
	if sp == nil {
		return s.refusal(http.StatusNotFound, "Space with id "+in.SpaceID+" not found")
	}
	if in.Status != "" && in.Status != "current" {
		return s.refusal(http.StatusBadRequest, "confluencesim publishes pages only (status current)")
	}
	body, ok := storageBody(in.Body)
	if !ok {
		return s.refusal(http.StatusBadRequest, "confluencesim takes bodies in the storage representation only")
	}
	parent := in.ParentID
	if parent == "" && q.r.URL.Query().Get("root-level") != "true" {
		parent = sp.homepage
	}
	if status, msg := s.checkPage(sp.Key, parent, in.Title, body, ""); status != 0 {
		return s.refusal(status, msg)
	}
	p := s.newPage(sp.Key, parent, in.Title, body, s.users[0], q.at)
	return answer(http.StatusOK, s.cloudPage(p, true, true))
}

func (s *Server) cloudGetPage(q *request) reply {
	p, refused := s.pageOf(q.param)
	if refused != nil {
		return *refused
	}
	withBody := q.r.URL.Query().Get("body-format") == "storage"
	m := s.cloudPage(p, withBody, true)
	if raw := q.r.URL.Query().Get("version"); raw != "" {
		// A previously published version, as ?version=N reads it.
		v, ok := p.version(raw)
		if !ok {
			return s.refusal(http.StatusNotFound, "Not Found")
		}
		m["version"] = s.cloudVersion(v)
		if withBody {
			m["body"] = map[string]any{"storage": map[string]any{"representation": "storage", "value": v.body}}
		}
	}
	return answer(http.StatusOK, m)
}

func (s *Server) cloudUpdatePage(q *request) reply {
	p, refused := s.pageOf(q.param)
	if refused != nil {
		return *refused
	}
	var in pageWrite
	if err := json.Unmarshal(q.body, &in); err != nil {
		return s.refusal(http.StatusBadRequest, "Invalid request body: "+err.Error())
	}
	if in.ID != p.id {
		return s.refusal(http.StatusBadRequest, "The id in the body does not match the page's")
	}
	if in.SpaceID != "" && in.SpaceID != s.spaceByKey(p.spaceKey).id {
		return s.refusal(http.StatusBadRequest, "Moving a page to another space is not supported")
	}
	body, ok := storageBody(in.Body)
	if !ok {
		return s.refusal(http.StatusBadRequest, "confluencesim takes bodies in the storage representation only")
	}
	return s.update(p, in.Version, in.ParentID, in.Title, body, q.at, s.refusal)
}

// update saves a new version by aftermath, as both deployments' updates do:
// Confluence refuses (409) a version number that is not the current one
// plus one, which is how an edit made meanwhile is never overwritten.
func (s *Server) update(p *page, v *struct {
	Number  int    `json:"number"`
	Message string `json:"message"`
}, parentID, title, body string, at time.Time, refuse func(int, string) reply,
) reply {
	cur := p.current()
	if v == nil || v.Number != cur.number+1 {
		return refuse(http.StatusConflict, "Version must be incremented on update. Current version is: "+strconv.Itoa(cur.number))
	}
	parent := cmpOr(parentID, p.parentID)
	if status, msg := s.checkPage(p.spaceKey, parent, title, body, p.id); status != 0 {
		return refuse(status, msg)
	}
	p.parentID, p.title = parent, title
	p.versions = append(p.versions, version{number: v.Number, author: s.users[0], message: v.Message, body: body, at: at})
	if s.mode == Cloud {
		return answer(http.StatusOK, s.cloudPage(p, true, true))
	}
	return answer(http.StatusOK, s.dcPage(p, true, true))
}

func (s *Server) cloudChildren(q *request) reply {
	p, refused := s.pageOf(q.param)
	if refused != nil {
		return *refused
	}
	var items []any
	for i, c := range s.children(p.id) {
		items = append(items, map[string]any{"id": c.id, "status": "current", "title": c.title, "spaceId": s.spaceByKey(c.spaceKey).id, "childPosition": i})
	}
	return s.listing(q, items)
}

func (s *Server) cloudLabels(q *request) reply {
	p, refused := s.pageOf(q.param)
	if refused != nil {
		return *refused
	}
	var items []any
	for _, l := range p.labels {
		items = append(items, map[string]any{"id": l.id, "name": l.name, "prefix": "global"})
	}
	return s.listing(q, items)
}

func (s *Server) cloudProperty(pr *property) map[string]any {
	return map[string]any{"id": pr.id, "key": pr.key, "value": json.RawMessage(pr.value),
		"version": map[string]any{"number": pr.version, "createdAt": stamp(pr.at), "message": "", "minorEdit": false, "authorId": BotAccountID}}
}

func (s *Server) cloudProperties(q *request) reply {
	p, refused := s.pageOf(q.param)
	if refused != nil {
		return *refused
	}
	key := q.r.URL.Query().Get("key")
	var items []any
	for _, pr := range p.props {
		if key == "" || pr.key == key {
			items = append(items, s.cloudProperty(pr))
		}
	}
	return s.listing(q, items)
}

// propertyWrite is the body of a property create, both deployments.
type propertyWrite struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// createProperty adds a property to p; Confluence refuses a key the page
// already has, or an empty or overlong one.
func (s *Server) createProperty(p *page, body []byte, at time.Time, refuse func(int, string) reply) (*property, *reply) {
	var in propertyWrite
	if err := json.Unmarshal(body, &in); err != nil {
		rep := refuse(http.StatusBadRequest, "Invalid request body: "+err.Error())
		return nil, &rep
	}
	if in.Key == "" || len(in.Key) > 255 || len(in.Value) == 0 {
		rep := refuse(http.StatusBadRequest, "A content property needs a key of 1 to 255 characters and a JSON value")
		return nil, &rep
	}
	for _, pr := range p.props {
		if pr.key == in.Key {
			rep := refuse(http.StatusConflict, "Cannot add a property with key '"+in.Key+"' to this content: one with that key exists")
			return nil, &rep
		}
	}
	pr := &property{id: s.nextID(), key: in.Key, value: in.Value, version: 1, at: at}
	p.props = append(p.props, pr)
	return pr, nil
}

func (s *Server) cloudCreateProperty(q *request) reply {
	p, refused := s.pageOf(q.param)
	if refused != nil {
		return *refused
	}
	pr, refused := s.createProperty(p, q.body, q.at, s.refusal)
	if refused != nil {
		return *refused
	}
	return answer(http.StatusOK, s.cloudProperty(pr))
}

func (s *Server) cloudComment(p *page, c *comment, withBody, single bool) map[string]any {
	m := map[string]any{
		"id": c.id, "status": "current", "title": "Re: " + p.title, "pageId": p.id,
		"version": map[string]any{"createdAt": stamp(c.at), "message": "", "number": 1, "minorEdit": false, "authorId": s.idOf(c.author)},
		"body":    map[string]any{},
	}
	if withBody {
		m["body"] = map[string]any{"storage": map[string]any{"representation": "storage", "value": c.body}}
	}
	links := map[string]any{"webui": "/spaces/" + p.spaceKey + "/pages/" + p.id + "/" + slug(p.title) + "?focusedCommentId=" + c.id}
	if single {
		links["base"] = s.site()
	}
	m["_links"] = links
	return m
}

func (s *Server) cloudComments(q *request) reply {
	p, refused := s.pageOf(q.param)
	if refused != nil {
		return *refused
	}
	var items []any
	for _, c := range p.comments {
		items = append(items, s.cloudComment(p, c, q.r.URL.Query().Get("body-format") == "storage", false))
	}
	return s.listing(q, items)
}

func (s *Server) cloudCreateComment(q *request) reply {
	var in struct {
		PageID string          `json:"pageId"`
		Body   json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(q.body, &in); err != nil {
		return s.refusal(http.StatusBadRequest, "Invalid request body: "+err.Error())
	}
	if in.PageID == "" {
		return s.refusal(http.StatusBadRequest, "confluencesim takes footer comments on pages only: pageId is required")
	}
	p, refused := s.pageOf(in.PageID)
	if refused != nil {
		return *refused
	}
	body, ok := storageBody(in.Body)
	if !ok {
		return s.refusal(http.StatusBadRequest, "confluencesim takes bodies in the storage representation only")
	}
	c, refusedC := s.addComment(p, body, q.at, s.refusal)
	if refusedC != nil {
		return *refusedC
	}
	return answer(http.StatusCreated, s.cloudComment(p, c, true, true))
}

// addComment stores a footer comment by aftermath.
func (s *Server) addComment(p *page, body string, at time.Time, refuse func(int, string) reply) (*comment, *reply) {
	if strings.TrimSpace(body) == "" {
		rep := refuse(http.StatusBadRequest, "Comment body cannot be empty")
		return nil, &rep
	}
	if err := checkStorage(body); err != nil {
		rep := refuse(http.StatusBadRequest, err.Error())
		return nil, &rep
	}
	c := &comment{id: s.nextID(), pageID: p.id, body: body, author: s.users[0], at: at}
	p.comments = append(p.comments, c)
	return c, nil
}
