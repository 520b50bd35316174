package confluencesim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// REST v1: the whole API of Data Center under /rest/api, and on Cloud,
// under /wiki/rest/api, what v2 lacks (adding labels, CQL search, the
// current user).

// v1Base is the site's base as v1's _links.base names it.
func (s *Server) v1Base() string {
	if s.mode == Cloud {
		return s.site()
	}
	return s.URL()
}

func (s *Server) v1User(u *User) map[string]any {
	if s.mode == Cloud {
		return map[string]any{"type": "known", "accountId": u.AccountID, "accountType": "atlassian", "publicName": u.DisplayName, "displayName": u.DisplayName}
	}
	return map[string]any{"type": "known", "username": u.Username, "userKey": u.UserKey, "displayName": u.DisplayName}
}

func (s *Server) v1CurrentUser(*request) reply {
	u := s.v1User(s.users[0])
	if s.mode == Cloud {
		u["email"] = s.email
	}
	return answer(http.StatusOK, u)
}

// dcPage is a page as v1 shows it: space, history, version and ancestors
// always, the body with expand=body.storage.
func (s *Server) dcPage(p *page, withBody, single bool) map[string]any {
	sp := s.spaceByKey(p.spaceKey)
	cur := p.current()
	m := map[string]any{
		"id": p.id, "type": "page", "status": "current", "title": p.title,
		"space":   map[string]any{"id": json.Number(sp.id), "key": sp.Key, "name": sp.Name, "type": "global"},
		"history": map[string]any{"latest": true, "createdBy": s.v1User(p.createdBy), "createdDate": stamp(p.created)},
		"version": map[string]any{"by": s.v1User(cur.author), "when": stamp(cur.at), "number": cur.number, "message": cur.message, "minorEdit": false},
	}
	var ancestors []any
	for id := p.parentID; id != ""; id = s.pages[id].parentID {
		a := s.pages[id]
		ancestors = append([]any{map[string]any{"id": a.id, "type": "page", "title": a.title}}, ancestors...)
	}
	m["ancestors"] = append([]any{}, ancestors...)
	if withBody {
		m["body"] = map[string]any{"storage": map[string]any{"value": cur.body, "representation": "storage"}}
	}
	webui := "/pages/viewpage.action?pageId=" + p.id
	if s.mode == Cloud {
		webui = "/spaces/" + p.spaceKey + "/pages/" + p.id + "/" + slug(p.title)
	}
	links := map[string]any{"webui": webui, "tinyui": "/x/" + p.id, "self": s.v1Base() + "/rest/api/content/" + p.id}
	if single {
		links["base"], links["context"] = s.v1Base(), strings.TrimPrefix(s.v1Base(), s.URL())
	}
	m["_links"] = links
	return m
}

func expands(q *request, what string) bool {
	for _, e := range strings.Split(q.r.URL.Query().Get("expand"), ",") {
		if strings.TrimSpace(e) == what {
			return true
		}
	}
	return false
}

// v1List is v1's paged result: start and limit (default 25, at most 200),
// and a next link while there are more.
func (s *Server) v1List(q *request, items []any) reply {
	v := q.r.URL.Query()
	start, _ := strconv.Atoi(v.Get("start"))
	start = min(max(start, 0), len(items))
	limit, err := strconv.Atoi(v.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 25
	}
	limit = min(limit, 200)
	if s.pageSize > 0 {
		limit = min(limit, s.pageSize)
	}
	end := min(start+limit, len(items))
	links := map[string]any{"base": s.v1Base(), "context": strings.TrimPrefix(s.v1Base(), s.URL())}
	if end < len(items) {
		v.Set("start", strconv.Itoa(end))
		v.Set("limit", strconv.Itoa(limit))
		links["next"] = strings.TrimPrefix(q.r.URL.Path, "/wiki") + "?" + v.Encode()
	}
	return answer(http.StatusOK, map[string]any{"results": append([]any{}, items[start:end]...), "start": start, "limit": limit, "size": end - start, "_links": links})
}

func (s *Server) v1Page(id string) (*page, *reply) {
	p, ok := s.pages[id]
	if !ok {
		rep := v1Refusal(http.StatusNotFound, "No content found with id: ContentId{id="+id+"}")
		return nil, &rep
	}
	return p, nil
}

// v1AddLabels adds labels ([{"prefix": "global", "name": ...}]) to a page;
// a label the page has is kept once.
func (s *Server) v1AddLabels(q *request) reply {
	p, refused := s.v1Page(q.param)
	if refused != nil {
		return *refused
	}
	var in []struct {
		Prefix string `json:"prefix"`
		Name   string `json:"name"`
	}
	if err := json.Unmarshal(q.body, &in); err != nil || len(in) == 0 {
		return v1Refusal(http.StatusBadRequest, "Labels must be a non-empty array of {prefix, name}")
	}
	names := make([]string, 0, len(in))
	for _, l := range in {
		n := normLabel(l.Name)
		if n == "" || l.Prefix != "" && l.Prefix != "global" {
			return v1Refusal(http.StatusBadRequest, "Invalid label: "+strconv.Quote(l.Name)+" (no spaces or punctuation, at most 255 characters, prefix global)")
		}
		names = append(names, n)
	}
	for _, n := range names {
		s.addLabel(p, n, q.at)
	}
	return s.v1Labels(q, p)
}

func (s *Server) v1Labels(q *request, p *page) reply {
	var items []any
	for _, l := range p.labels {
		items = append(items, map[string]any{"prefix": "global", "name": l.name, "id": l.id, "label": l.name})
	}
	return s.v1List(q, items)
}

// v1Search answers CQL (see parseCQL) with the pages it matches. Labels
// are matched as the index knows them: SearchLag after they were added.
func (s *Server) v1Search(q *request) reply {
	cql := q.r.URL.Query().Get("cql")
	conds, err := parseCQL(cql)
	if err != nil {
		return v1Refusal(http.StatusBadRequest, "Could not parse cql : "+cql+" ("+err.Error()+")")
	}
	var items []any
	for _, id := range s.order {
		if p := s.pages[id]; s.matches(p, conds, q.at) {
			items = append(items, s.dcPage(p, false, false))
		}
	}
	rep := s.v1List(q, items)
	if m, ok := rep.Body.(map[string]any); ok {
		m["totalSize"], m["cqlQuery"] = len(items), cql
	}
	return rep
}

func (s *Server) dcSpace(q *request) reply {
	sp := s.spaceByKey(q.param)
	if sp == nil {
		return v1Refusal(http.StatusNotFound, "No space with key : "+q.param)
	}
	home := s.pages[sp.homepage]
	return answer(http.StatusOK, map[string]any{"id": json.Number(sp.id), "key": sp.Key, "name": sp.Name, "type": "global", "status": "current",
		"homepage": map[string]any{"id": home.id, "type": "page", "title": home.title},
		"_links":   map[string]any{"webui": "/display/" + sp.Key, "base": s.v1Base()}})
}

func (s *Server) dcListContent(q *request) reply {
	v := q.r.URL.Query()
	if t := v.Get("type"); t != "" && t != "page" {
		return s.v1List(q, nil)
	}
	var items []any
	for _, id := range s.order {
		p := s.pages[id]
		if k := v.Get("spaceKey"); k != "" && p.spaceKey != k || v.Get("title") != "" && p.title != v.Get("title") {
			continue
		}
		items = append(items, s.dcPage(p, expands(q, "body.storage"), false))
	}
	return s.v1List(q, items)
}

// contentWrite is the body of v1's content create and update.
type contentWrite struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Title string `json:"title"`
	Space *struct {
		Key string `json:"key"`
	} `json:"space"`
	Ancestors []struct {
		ID string `json:"id"`
	} `json:"ancestors"`
	Container *struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"container"`
	Body struct {
		Storage *struct {
			Value          string `json:"value"`
			Representation string `json:"representation"`
		} `json:"storage"`
	} `json:"body"`
	Version *struct {
		Number  int    `json:"number"`
		Message string `json:"message"`
	} `json:"version"`
}

func (in contentWrite) storage() (string, bool) {
	if in.Body.Storage == nil || in.Body.Storage.Representation != "storage" {
		return "", false
	}
	return in.Body.Storage.Value, true
}

func (s *Server) dcCreateContent(q *request) reply {
	var in contentWrite
	if err := json.Unmarshal(q.body, &in); err != nil {
		return v1Refusal(http.StatusBadRequest, "Invalid request body: "+err.Error())
	}
	body, ok := in.storage()
	if !ok {
		return v1Refusal(http.StatusBadRequest, "confluencesim takes bodies in the storage representation only")
	}
	switch in.Type {
	case "page":
		if in.Space == nil || s.spaceByKey(in.Space.Key) == nil {
			return v1Refusal(http.StatusBadRequest, "Could not find space for the content")
		}
		parent := ""
		if n := len(in.Ancestors); n > 0 {
			parent = in.Ancestors[n-1].ID
		}
		if status, msg := s.checkPage(in.Space.Key, parent, in.Title, body, ""); status != 0 {
			return v1Refusal(status, msg)
		}
		p := s.newPage(in.Space.Key, parent, in.Title, body, s.users[0], q.at)
		return answer(http.StatusOK, s.dcPage(p, true, true))
	case "comment":
		if in.Container == nil || in.Container.Type != "page" {
			return v1Refusal(http.StatusBadRequest, "confluencesim takes comments on pages only: container {id, type: page}")
		}
		p, refused := s.v1Page(in.Container.ID)
		if refused != nil {
			return *refused
		}
		c, refused := s.addComment(p, body, q.at, v1Refusal)
		if refused != nil {
			return *refused
		}
		return answer(http.StatusOK, s.dcComment(p, c))
	}
	return v1Refusal(http.StatusBadRequest, "confluencesim creates pages and comments only, not "+strconv.Quote(in.Type))
}

func (s *Server) dcGetContent(q *request) reply {
	p, refused := s.v1Page(q.param)
	if refused != nil {
		return *refused
	}
	withBody := expands(q, "body.storage")
	m := s.dcPage(p, withBody, true)
	if raw := q.r.URL.Query().Get("version"); raw != "" && raw != strconv.Itoa(p.current().number) {
		// An earlier version is read with status=historical&version=N;
		// without the status, only the current one is found.
		v, ok := p.version(raw)
		if !ok || q.r.URL.Query().Get("status") != "historical" {
			return v1Refusal(http.StatusNotFound, "No content found with id: ContentId{id="+p.id+"} and version "+raw)
		}
		m["status"] = "historical"
		m["version"] = map[string]any{"by": s.v1User(v.author), "when": stamp(v.at), "number": v.number, "message": v.message, "minorEdit": false}
		if withBody {
			m["body"] = map[string]any{"storage": map[string]any{"value": v.body, "representation": "storage"}}
		}
	}
	return answer(http.StatusOK, m)
}

func (s *Server) dcUpdateContent(q *request) reply {
	p, refused := s.v1Page(q.param)
	if refused != nil {
		return *refused
	}
	var in contentWrite
	if err := json.Unmarshal(q.body, &in); err != nil {
		return v1Refusal(http.StatusBadRequest, "Invalid request body: "+err.Error())
	}
	if in.Type != "page" || in.ID != "" && in.ID != p.id {
		return v1Refusal(http.StatusBadRequest, "The body must be the page's: type page and its id")
	}
	body, ok := in.storage()
	if !ok {
		return v1Refusal(http.StatusBadRequest, "confluencesim takes bodies in the storage representation only")
	}
	parent := ""
	if n := len(in.Ancestors); n > 0 {
		parent = in.Ancestors[n-1].ID
	}
	return s.update(p, in.Version, parent, in.Title, body, q.at, v1Refusal)
}

func (s *Server) dcChildren(q *request) reply {
	p, refused := s.v1Page(q.param)
	if refused != nil {
		return *refused
	}
	var items []any
	for _, c := range s.children(p.id) {
		items = append(items, s.dcPage(c, expands(q, "body.storage"), false))
	}
	return s.v1List(q, items)
}

func (s *Server) dcComment(p *page, c *comment) map[string]any {
	return map[string]any{
		"id": c.id, "type": "comment", "status": "current", "title": "Re: " + p.title,
		"version":   map[string]any{"by": s.v1User(c.author), "when": stamp(c.at), "number": 1, "message": "", "minorEdit": false},
		"container": map[string]any{"id": p.id, "type": "page", "title": p.title},
		"body":      map[string]any{"storage": map[string]any{"value": c.body, "representation": "storage"}},
		"_links":    map[string]any{"webui": "/pages/viewpage.action?pageId=" + p.id + "&focusedCommentId=" + url.QueryEscape(c.id)},
	}
}

func (s *Server) dcComments(q *request) reply {
	p, refused := s.v1Page(q.param)
	if refused != nil {
		return *refused
	}
	var items []any
	for _, c := range p.comments {
		m := s.dcComment(p, c)
		if !expands(q, "body.storage") {
			delete(m, "body")
		}
		items = append(items, m)
	}
	return s.v1List(q, items)
}

func (s *Server) dcLabels(q *request) reply {
	p, refused := s.v1Page(q.param)
	if refused != nil {
		return *refused
	}
	return s.v1Labels(q, p)
}

func (s *Server) dcProperty(q *request) reply {
	p, refused := s.v1Page(q.segment(2))
	if refused != nil {
		return *refused
	}
	for _, pr := range p.props {
		if pr.key == q.param {
			return answer(http.StatusOK, dcPropertyJSON(pr))
		}
	}
	return v1Refusal(http.StatusNotFound, "Cannot find content property with key: "+q.param)
}

func dcPropertyJSON(pr *property) map[string]any {
	return map[string]any{"id": pr.id, "key": pr.key, "value": json.RawMessage(pr.value), "version": map[string]any{"number": pr.version, "when": stamp(pr.at)}}
}

func (s *Server) dcCreateProperty(q *request) reply {
	p, refused := s.v1Page(q.param)
	if refused != nil {
		return *refused
	}
	pr, refused := s.createProperty(p, q.body, q.at, v1Refusal)
	if refused != nil {
		return *refused
	}
	return answer(http.StatusOK, dcPropertyJSON(pr))
}
