package jirasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBulk is POST /issue/bulk's documented bound ("Creates upto 50 issues").
const maxBulk = 50

func okReply(body any) reply { return reply{Status: http.StatusOK, Body: body} }

func noContent() reply { return reply{Status: http.StatusNoContent} }

func issueNotFound() reply {
	return errorMessages(http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
}

func (s *Server) serverInfo(rq *request) reply {
	m := map[string]any{
		"baseUrl":        s.kit.URL(), // the site, also through the gateway
		"serverTime":     jiraTime(rq.at),
		"scmInfo":        "9f0b1cf4a7f41e26b0cc1bbd0b0a1c3e6f0b3ad1",
		"serverTitle":    "Jira",
		"serverTimeZone": "Etc/UTC",
	}
	if s.mode == Cloud {
		m["version"] = "1001.0.0-SNAPSHOT"
		m["versionNumbers"] = []int{1001, 0, 0}
		m["deploymentType"] = "Cloud"
		m["buildNumber"] = 100281
		m["buildDate"] = "2025-01-01T00:00:00.000+0000"
		m["displayUrl"] = s.kit.URL()
	} else {
		m["version"] = "9.12.15"
		m["versionNumbers"] = []int{9, 12, 15}
		m["deploymentType"] = "DataCenter"
		m["buildNumber"] = 9120015
		m["buildDate"] = "2024-10-01T00:00:00.000+0000"
	}
	return okReply(m)
}

func (s *Server) myself(*request) reply {
	m := s.userJSON(s.me())
	m["groups"] = map[string]any{"size": 1, "items": []any{}}
	m["applicationRoles"] = map[string]any{"size": 1, "items": []any{}}
	return okReply(m)
}

// fieldDef is one entry of GET /field.
type fieldDef struct {
	id, name    string
	custom      bool
	orderable   bool
	clauseNames []string
	schema      map[string]any
}

func (s *Server) fieldDefs() []fieldDef {
	sys := func(id, name, typ string, extra ...string) fieldDef {
		schema := map[string]any{"type": typ, "system": id}
		if len(extra) > 0 {
			schema["items"] = extra[0]
		}
		return fieldDef{id: id, name: name, orderable: true, clauseNames: []string{id}, schema: schema}
	}
	defs := []fieldDef{
		{id: "issuekey", name: "Key", clauseNames: []string{"id", "issue", "issuekey", "key"}},
		sys("summary", "Summary", "string"),
		sys("description", "Description", "string"),
		sys("environment", "Environment", "string"),
		sys("issuetype", "Issue Type", "issuetype"),
		sys("project", "Project", "project"),
		sys("labels", "Labels", "array", "string"),
		sys("assignee", "Assignee", "user"),
		sys("reporter", "Reporter", "user"),
		sys("creator", "Creator", "user"),
		sys("priority", "Priority", "priority"),
		sys("duedate", "Due date", "date"),
		sys("status", "Status", "status"),
		sys("resolution", "Resolution", "resolution"),
		sys("resolutiondate", "Resolved", "datetime"),
		sys("created", "Created", "datetime"),
		sys("updated", "Updated", "datetime"),
		sys("comment", "Comment", "comments-page"),
		sys("parent", "Parent", "issuelink"),
	}
	defs[len(defs)-1].clauseNames = []string{"parent"}
	defs[len(defs)-1].orderable = false
	if s.mode == DataCenter {
		defs = append(defs,
			fieldDef{id: EpicLinkField, name: "Epic Link", custom: true, orderable: true,
				clauseNames: []string{"cf[10014]", "Epic Link"},
				schema:      map[string]any{"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link", "customId": 10014}},
			fieldDef{id: EpicNameField, name: "Epic Name", custom: true, orderable: true,
				clauseNames: []string{"cf[10011]", "Epic Name"},
				schema:      map[string]any{"type": "string", "custom": "com.pyxis.greenhopper.jira:gh-epic-label", "customId": 10011}},
		)
	}
	return defs
}

func (s *Server) listFields(*request) reply {
	out := []any{}
	for _, f := range s.fieldDefs() {
		m := map[string]any{
			"id":          f.id,
			"key":         f.id,
			"name":        f.name,
			"custom":      f.custom,
			"orderable":   f.orderable,
			"navigable":   true,
			"searchable":  true,
			"clauseNames": f.clauseNames,
		}
		if f.schema != nil {
			m["schema"] = f.schema
		}
		if s.mode == Cloud {
			m["untranslatedName"] = f.name
		}
		out = append(out, m)
	}
	return okReply(out)
}

func (s *Server) listPriorities(*request) reply {
	out := []any{}
	for _, p := range priorities {
		m := s.priorityJSON(p)
		m["description"] = ""
		m["statusColor"] = "#cccccc"
		out = append(out, m)
	}
	return okReply(out)
}

func (s *Server) getProject(rq *request) reply {
	p := s.projectByKeyOrID(rq.param)
	if p == nil {
		return errorMessages(http.StatusNotFound, fmt.Sprintf("No project could be found with key '%s'.", rq.param))
	}
	m := s.projectJSON(p)
	types := []any{}
	for _, t := range p.IssueTypes {
		types = append(types, s.issueTypeJSON(t))
	}
	m["issueTypes"] = types
	m["lead"] = s.userJSON(s.me())
	m["description"] = ""
	return okReply(m)
}

// page reads startAt and maxResults (default def, at most limit).
func page(rq *request, def, limit int) (start, size int, bad *reply) {
	q := rq.r.URL.Query()
	start, size = 0, def
	if v := q.Get("startAt"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			r := errorMessages(http.StatusBadRequest, "startAt must be a non-negative integer")
			return 0, 0, &r
		}
		start = n
	}
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			r := errorMessages(http.StatusBadRequest, "maxResults must be a non-negative integer")
			return 0, 0, &r
		}
		size = n
	}
	return start, min(size, limit), nil
}

// findUsers is GET /user/search. Cloud matches query against the start of
// the display name (or any of its words) and the email address; Data
// Center matches username against the start of the username, display name
// and email. Both return active users only, as documented.
func (s *Server) findUsers(rq *request) reply {
	q := rq.r.URL.Query()
	var term string
	if s.mode == Cloud {
		term = strings.TrimSpace(q.Get("query"))
		if term == "" && q.Get("accountId") == "" && q.Get("property") == "" {
			return errorMessages(http.StatusBadRequest, "One of the query parameters 'query', 'accountId' or 'property' must be provided.")
		}
	} else {
		term = strings.TrimSpace(q.Get("username"))
		if term == "" {
			return errorMessages(http.StatusBadRequest, "The username query parameter was not provided")
		}
	}
	start, size, bad := page(rq, 50, 1000)
	if bad != nil {
		return *bad
	}
	term = strings.ToLower(term)
	prefix := func(v string) bool { return v != "" && strings.HasPrefix(strings.ToLower(v), term) }
	var matched []*User
	for _, u := range s.users {
		words := strings.Fields(u.DisplayName)
		hit := prefix(u.Email) || prefix(u.DisplayName) || slices.ContainsFunc(words, prefix)
		if s.mode == Cloud {
			if id := q.Get("accountId"); id != "" {
				hit = u.AccountID == id && (term == "" || hit)
			}
		} else {
			hit = hit || prefix(u.Name)
		}
		inactiveOK := s.mode == DataCenter && q.Get("includeInactive") == "true"
		if hit && (u.Active || inactiveOK) {
			matched = append(matched, u)
		}
	}
	out := []any{}
	for i := start; i < len(matched) && len(out) < size; i++ {
		out = append(out, s.userJSON(matched[i]))
	}
	return okReply(out)
}

func (s *Server) createIssue(rq *request) reply {
	x, errs, msg := s.createOne(rq.body, rq.at, false)
	switch {
	case msg != "":
		return errorMessages(http.StatusBadRequest, msg)
	case errs != nil:
		return fieldErrors(http.StatusBadRequest, errs)
	}
	return reply{Status: http.StatusCreated, Body: s.createdJSON(x)}
}

func (s *Server) createdJSON(x *issue) map[string]any {
	return map[string]any{"id": x.ID, "key": x.Key, "self": s.base + "/rest/api/2/issue/" + x.ID}
}

// createIssues is POST /issue/bulk: each element is created or fails on
// its own; the answer is 201 unless every element failed.
func (s *Server) createIssues(rq *request) reply {
	var in struct {
		IssueUpdates []json.RawMessage `json:"issueUpdates"`
	}
	if err := json.Unmarshal(rq.body, &in); err != nil {
		return errorMessages(http.StatusBadRequest, invalidPayload)
	}
	if len(in.IssueUpdates) == 0 {
		return errorMessages(http.StatusBadRequest, "Nothing to create: issueUpdates is empty.")
	}
	if len(in.IssueUpdates) > maxBulk {
		return errorMessages(http.StatusBadRequest, fmt.Sprintf("You can create at most %d issues in one bulk request; this one has %d.", maxBulk, len(in.IssueUpdates)))
	}
	created, failed := []any{}, []any{}
	for i, raw := range in.IssueUpdates {
		x, errs, msg := s.createOne(raw, rq.at, true)
		if x != nil {
			created = append(created, s.createdJSON(x))
			continue
		}
		msgs := []string{}
		if msg != "" {
			msgs = append(msgs, msg)
		}
		if errs == nil {
			errs = map[string]string{}
		}
		failed = append(failed, map[string]any{
			"status":              http.StatusBadRequest,
			"elementErrors":       map[string]any{"errorMessages": msgs, "errors": errs},
			"failedElementNumber": i,
		})
	}
	status := http.StatusCreated
	if len(created) == 0 {
		status = http.StatusBadRequest
	}
	return reply{Status: status, Body: map[string]any{"issues": created, "errors": failed}}
}

func (s *Server) getIssue(rq *request) reply {
	x := s.issueByKeyOrID(rq.param)
	if x == nil {
		return issueNotFound()
	}
	fs := parseFieldSet(rq.r.URL.Query()["fields"], "*all")
	return okReply(s.issueJSON(&x.Issue, fs))
}

// editIssue is PUT /issue/{key}: fields and update, all or nothing.
func (s *Server) editIssue(rq *request) reply {
	x := s.issueByKeyOrID(rq.param)
	if x == nil {
		return issueNotFound()
	}
	in, ok := decodeUpdate(rq.body)
	if !ok {
		return errorMessages(http.StatusBadRequest, invalidPayload)
	}
	d := cloneIssue(&x.Issue)
	e := s.newEditor(&d, false)
	e.apply(in.Fields, in.Update)
	e.finish()
	if len(e.errs) > 0 {
		return fieldErrors(http.StatusBadRequest, e.errs)
	}
	s.commit(x, d, e.comments, rq.at)
	if rq.r.URL.Query().Get("returnIssue") == "true" {
		return okReply(s.issueJSON(&x.Issue, parseFieldSet(nil, "*all")))
	}
	return noContent()
}

// commit stores an edited draft and its new comments, recording a change
// only if something changed.
func (s *Server) commit(x *issue, d Issue, comments []string, at time.Time) {
	for _, body := range comments {
		d.Comments = append(d.Comments, s.newComment(body, at))
	}
	if sameContent(x.Issue, d) {
		return
	}
	x.Issue = d
	s.touch(x, at)
}

func (s *Server) newComment(body string, at time.Time) Comment {
	s.commentSeq++
	return Comment{ID: strconv.Itoa(10000 + s.commentSeq), Author: s.userID(s.me()), Body: body, Created: at}
}

func (s *Server) addComment(rq *request) reply {
	x := s.issueByKeyOrID(rq.param)
	if x == nil {
		return issueNotFound()
	}
	var in struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(rq.body, &in); err != nil {
		return errorMessages(http.StatusBadRequest, invalidPayload)
	}
	body, msg := s.commentBody(in.Body)
	if msg != "" {
		return fieldErrors(http.StatusBadRequest, map[string]string{"comment": msg})
	}
	c := s.newComment(body, rq.at)
	x.Comments = append(x.Comments, c)
	s.touch(x, rq.at)
	return reply{Status: http.StatusCreated, Body: s.commentJSON(c)}
}

func (s *Server) getComments(rq *request) reply {
	x := s.issueByKeyOrID(rq.param)
	if x == nil {
		return issueNotFound()
	}
	start, size, bad := page(rq, 100, 5000)
	if bad != nil {
		return *bad
	}
	list := slices.Clone(x.Comments)
	if rq.r.URL.Query().Get("orderBy") == "-created" {
		slices.Reverse(list)
	}
	out := []any{}
	for i := start; i < len(list) && len(out) < size; i++ {
		out = append(out, s.commentJSON(list[i]))
	}
	return okReply(map[string]any{"startAt": start, "maxResults": size, "total": len(list), "comments": out})
}

// transitionsFrom lists the global transitions available in status: one
// into every other status.
func transitionsFrom(current string) []status {
	var out []status
	for _, st := range workflow {
		if st.name != current {
			out = append(out, st)
		}
	}
	return out
}

func (s *Server) getTransitions(rq *request) reply {
	x := s.issueByKeyOrID(rq.param)
	if x == nil {
		return issueNotFound()
	}
	q := rq.r.URL.Query()
	withFields := strings.Contains(q.Get("expand"), "transitions.fields")
	out := []any{}
	for _, st := range transitionsFrom(x.Status) {
		if id := q.Get("transitionId"); id != "" && id != st.transitionID {
			continue
		}
		t := map[string]any{
			"id":            st.transitionID,
			"name":          st.name,
			"to":            s.statusJSON(st.name),
			"hasScreen":     false,
			"isGlobal":      true,
			"isInitial":     false,
			"isAvailable":   true,
			"isConditional": false,
			"isLooped":      false,
		}
		if withFields {
			t["fields"] = map[string]any{}
		}
		out = append(out, t)
	}
	return okReply(map[string]any{"expand": "transitions", "transitions": out})
}

// doTransition is POST /issue/{key}/transitions. The transitions have no
// screen, so fields cannot be set with them; update may add a comment.
func (s *Server) doTransition(rq *request) reply {
	x := s.issueByKeyOrID(rq.param)
	if x == nil {
		return issueNotFound()
	}
	in, ok := decodeUpdate(rq.body)
	if !ok {
		return errorMessages(http.StatusBadRequest, invalidPayload)
	}
	if in.Transition == nil || in.Transition.ID == "" {
		return errorMessages(http.StatusBadRequest, "Missing 'transition' identifier")
	}
	var target *status
	for _, st := range workflow {
		if st.transitionID == in.Transition.ID {
			target = &st
		}
	}
	if target == nil {
		return errorMessages(http.StatusBadRequest, fmt.Sprintf("Transition id '%s' is not valid for this issue.", in.Transition.ID))
	}
	if target.name == x.Status {
		// Jira's answer to a transition that was valid a moment ago, such as
		// a retry of one that was applied.
		return errorMessages(http.StatusBadRequest, fmt.Sprintf("It seems that you have tried to perform a workflow operation (%s) that is not valid for the current state of this issue (%s). The likely cause is that somebody has changed the issue recently, please look at the issue history for details.", target.name, x.Key))
	}
	d := cloneIssue(&x.Issue)
	e := s.newEditor(&d, false)
	for _, name := range sortedKeys(in.Fields) {
		e.fail(name, cannotBeSet(name))
	}
	for _, name := range sortedKeys(in.Update) {
		if name == "comment" {
			e.commentOps(in.Update[name])
		} else {
			e.fail(name, cannotBeSet(name))
		}
	}
	if len(e.errs) > 0 {
		return fieldErrors(http.StatusBadRequest, e.errs)
	}
	s.commit(x, d, e.comments, rq.at)
	s.setStatus(x, target.name, rq.at)
	return noContent()
}
