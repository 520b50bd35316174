package jirasim

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Rendering follows Jira's REST v2 answers: references carry self URLs,
// times use Jira's "2006-01-02T15:04:05.000-0700", dates "2006-01-02", and
// an unset field is null rather than absent.

const timeLayout = "2006-01-02T15:04:05.000-0700"

func jiraTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format(timeLayout)
}

func orNull(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func (s *Server) avatars(kind, id string) map[string]string {
	u := s.base + "/secure/useravatar?avatarId=10122&ownerId=" + url.QueryEscape(id)
	if kind == "project" {
		u = s.base + "/secure/projectavatar?avatarId=10324&pid=" + id
	}
	return map[string]string{"48x48": u, "24x24": u + "&size=small", "16x16": u + "&size=xsmall", "32x32": u + "&size=medium"}
}

// userJSON renders a user as Cloud (accountId, no username) or Data Center
// (name and key) does.
func (s *Server) userJSON(u *User) map[string]any {
	m := map[string]any{
		"emailAddress": u.Email,
		"displayName":  u.DisplayName,
		"active":       u.Active,
		"timeZone":     "Etc/UTC",
	}
	if s.mode == Cloud {
		m["self"] = s.base + "/rest/api/2/user?accountId=" + url.QueryEscape(u.AccountID)
		m["accountId"] = u.AccountID
		m["accountType"] = "atlassian"
		m["avatarUrls"] = s.avatars("user", u.AccountID)
		return m
	}
	m["self"] = s.base + "/rest/api/2/user?username=" + url.QueryEscape(u.Name)
	m["name"] = u.Name
	m["key"] = u.Key
	m["avatarUrls"] = s.avatars("user", u.Key)
	m["deleted"] = false
	m["locale"] = "en_US"
	return m
}

// userRef renders the user with the mode's identifier id, or null.
func (s *Server) userRef(id string) any {
	if id == "" {
		return nil
	}
	if u := s.userByID(id); u != nil {
		return s.userJSON(u)
	}
	return nil
}

func (s *Server) projectJSON(p *project) map[string]any {
	m := map[string]any{
		"self":           s.base + "/rest/api/2/project/" + p.id,
		"id":             p.id,
		"key":            p.Key,
		"name":           p.Name,
		"projectTypeKey": "software",
		"avatarUrls":     s.avatars("project", p.id),
	}
	if s.mode == Cloud {
		m["simplified"] = false
	}
	return m
}

func (s *Server) issueTypeJSON(name string) map[string]any {
	id := s.issueTypeIDs[name]
	m := map[string]any{
		"self":        s.base + "/rest/api/2/issuetype/" + id,
		"id":          id,
		"description": "",
		"iconUrl":     s.base + "/secure/viewavatar?size=medium&avatarId=10318&avatarType=issuetype",
		"name":        name,
		"subtask":     false,
		"avatarId":    10318,
	}
	if s.mode == Cloud {
		level := 0
		if name == epicType {
			level = 1
		}
		m["hierarchyLevel"] = level
		m["entityId"] = "00000000-0000-4000-8000-0000000" + id
	}
	return m
}

func (s *Server) priorityJSON(p priority) map[string]any {
	return map[string]any{
		"self":    s.base + "/rest/api/2/priority/" + p.id,
		"iconUrl": s.base + "/images/icons/priorities/" + strings.ToLower(p.name) + ".svg",
		"name":    p.name,
		"id":      p.id,
	}
}

func (s *Server) statusJSON(name string) map[string]any {
	st, _ := statusNamed(name)
	return map[string]any{
		"self":        s.base + "/rest/api/2/status/" + st.id,
		"description": "",
		"iconUrl":     s.base + "/images/icons/statuses/generic.png",
		"name":        st.name,
		"id":          st.id,
		"statusCategory": map[string]any{
			"self":      s.base + "/rest/api/2/statuscategory/" + strconv.Itoa(st.category.id),
			"id":        st.category.id,
			"key":       st.category.key,
			"colorName": st.category.color,
			"name":      st.category.name,
		},
	}
}

func (s *Server) commentJSON(c Comment) map[string]any {
	author := s.userRef(c.Author)
	m := map[string]any{
		"self":         s.base + "/rest/api/2/issue/comment/" + c.ID,
		"id":           c.ID,
		"author":       author,
		"body":         c.Body,
		"updateAuthor": author,
		"created":      jiraTime(c.Created),
		"updated":      jiraTime(c.Created),
	}
	if s.mode == Cloud {
		m["jsdPublic"] = true
	}
	return m
}

func (s *Server) commentsJSON(x *Issue) map[string]any {
	list := make([]any, 0, len(x.Comments))
	for _, c := range x.Comments {
		list = append(list, s.commentJSON(c))
	}
	return map[string]any{"comments": list, "maxResults": len(list), "total": len(list), "startAt": 0}
}

// fieldSet says which fields to render, from the fields parameter:
// comma-separated names, *all, *navigable, and -name to leave one out.
type fieldSet struct {
	all, navigable bool
	only, except   map[string]bool
}

// parseFieldSet reads the values of a fields parameter; def applies when
// there are none.
func parseFieldSet(values []string, def string) fieldSet {
	fs := fieldSet{only: map[string]bool{}, except: map[string]bool{}}
	var names []string
	for _, v := range values {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		names = []string{def}
	}
	for _, n := range names {
		switch {
		case n == "*all":
			fs.all = true
		case n == "*navigable":
			fs.navigable = true
		case strings.HasPrefix(n, "-"):
			fs.except[n[1:]] = true
		default:
			fs.only[n] = true
		}
	}
	if len(fs.only) == 0 && !fs.all && !fs.navigable {
		fs.navigable = true // only exclusions: Jira starts from *navigable
	}
	return fs
}

// nonNavigable are the fields *navigable leaves out.
var nonNavigable = map[string]bool{"comment": true}

func (fs fieldSet) has(name string) bool {
	if fs.except[name] {
		return false
	}
	return fs.all || fs.only[name] || fs.navigable && !nonNavigable[name]
}

// empty says the set names no field at all ("id" alone, as search/jql's
// default), so issues are rendered without "fields".
func (fs fieldSet) empty() bool {
	if fs.all || fs.navigable {
		return false
	}
	for n := range fs.only {
		if n != "id" && n != "key" {
			return false
		}
	}
	return true
}

// issueJSON renders x with the fields in fs, as GET issue and search do.
func (s *Server) issueJSON(x *Issue, fs fieldSet) map[string]any {
	m := map[string]any{
		"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
		"id":     x.ID,
		"self":   s.base + "/rest/api/2/issue/" + x.ID,
		"key":    x.Key,
	}
	if fs.empty() {
		return m
	}
	p := s.projects[x.Project]
	prio, _ := priorityNamed(x.Priority)
	all := map[string]func() any{
		"summary":     func() any { return x.Summary },
		"description": func() any { return orNull(x.Description) },
		"environment": func() any { return orNull(x.Environment) },
		"labels":      func() any { return append([]string{}, x.Labels...) },
		"assignee":    func() any { return s.userRef(x.Assignee) },
		"reporter":    func() any { return s.userRef(x.Reporter) },
		"creator":     func() any { return s.userRef(x.Reporter) },
		"duedate":     func() any { return orNull(x.DueDate) },
		"priority":    func() any { return s.priorityJSON(prio) },
		"issuetype":   func() any { return s.issueTypeJSON(x.IssueType) },
		"project":     func() any { return s.projectJSON(p) },
		"status":      func() any { return s.statusJSON(x.Status) },
		"created":     func() any { return jiraTime(x.Created) },
		"updated":     func() any { return jiraTime(x.Updated) },
		"comment":     func() any { return s.commentsJSON(x) },
		"subtasks":    func() any { return []any{} },
		"issuelinks":  func() any { return []any{} },
		"components":  func() any { return []any{} },
		"fixVersions": func() any { return []any{} },
		"resolution": func() any {
			if x.Status != StatusDone {
				return nil
			}
			return map[string]any{"self": s.base + "/rest/api/2/resolution/10000", "id": "10000", "description": "Work has been completed on this issue.", "name": "Done"}
		},
		"resolutiondate": func() any { return jiraTime(x.ResolutionDate) },
	}
	if s.mode == Cloud {
		all["parent"] = func() any { return s.parentJSON(x.Parent) }
	} else {
		all[EpicLinkField] = func() any { return orNull(x.Parent) }
		all[EpicNameField] = func() any { return orNull(x.EpicName) }
	}
	fields := map[string]any{}
	for name, render := range all {
		if !fs.has(name) {
			continue
		}
		v := render()
		if name == "parent" && v == nil {
			continue // Cloud leaves parent out of an issue without one
		}
		fields[name] = v
	}
	m["fields"] = fields
	return m
}

// parentJSON is Cloud's parent field: a short form of the epic.
func (s *Server) parentJSON(key string) any {
	if key == "" {
		return nil
	}
	p := s.issueByKeyOrID(key)
	if p == nil {
		return nil
	}
	prio, _ := priorityNamed(p.Priority)
	return map[string]any{
		"id":   p.ID,
		"key":  p.Key,
		"self": s.base + "/rest/api/2/issue/" + p.ID,
		"fields": map[string]any{
			"summary":   p.Summary,
			"status":    s.statusJSON(p.Status),
			"priority":  s.priorityJSON(prio),
			"issuetype": s.issueTypeJSON(p.IssueType),
		},
	}
}
