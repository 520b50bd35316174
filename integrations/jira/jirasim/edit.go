package jirasim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits Jira enforces on text fields, in characters as Jira (Java) counts
// them: UTF-16 code units, so an emoji counts two.
const (
	maxSummary = 255
	maxLabel   = 255
	// MaxText is the limit of a text field (description, environment, a
	// textarea custom field) and of a comment body: Jira's default
	// jira.text.field.character.limit (see Options.TextLimit).
	MaxText = 32767
)

// units counts s as Jira does: UTF-16 code units.
func units(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++ // a surrogate pair
		}
	}
	return n
}

// tooLong is Jira's message for a text field or comment over the limit
// (Cloud writes the number with a thousands separator, Data Center without).
func (s *Server) tooLong() string {
	limit := strconv.Itoa(s.textLimit)
	if s.mode == Cloud {
		for i := len(limit) - 3; i > 0; i -= 3 {
			limit = limit[:i] + "," + limit[i:]
		}
	}
	return "The entered text is too long. It exceeds the allowed limit of " + limit + " characters."
}

// issueUpdate is the body of create, bulk-create elements, edit and
// transition requests (IssueUpdateDetails in the spec).
type issueUpdate struct {
	Fields     map[string]json.RawMessage              `json:"fields"`
	Update     map[string][]map[string]json.RawMessage `json:"update"`
	Transition *struct {
		ID string `json:"id"`
	} `json:"transition"`
}

// invalidPayload is Jira's answer to a body it cannot map onto the
// operation's bean: malformed JSON or a value of the wrong JSON type.
const invalidPayload = "Invalid request payload. Refer to the REST API documentation and try again."

func decodeUpdate(body []byte) (issueUpdate, bool) {
	var in issueUpdate
	if err := json.Unmarshal(body, &in); err != nil {
		return in, false
	}
	return in, true
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func cannotBeSet(field string) string {
	return fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", field)
}

const mustBeString = "Operation value must be a string"

// editor applies the fields and update of a create, edit or transition
// request to a draft of the issue, collecting one error per field as Jira
// does. Nothing is stored until the caller commits a draft without errors.
type editor struct {
	s        *Server
	d        *Issue
	self     string // key of the issue edited, "" on create
	create   bool
	errs     map[string]string
	comments []string
}

func (s *Server) newEditor(d *Issue, create bool) *editor {
	return &editor{s: s, d: d, self: d.Key, create: create, errs: map[string]string{}}
}

func (e *editor) fail(field, msg string) {
	if _, dup := e.errs[field]; !dup {
		e.errs[field] = msg
	}
}

// settable says whether the create or edit screen of the draft's issue
// type has field. The Data Center epic fields sit on the screens of the
// issue types that use them: Epic Name on epics, Epic Link on the others.
func (e *editor) settable(field string) bool {
	switch field {
	case "summary", "description", "environment", "labels", "assignee", "reporter", "priority", "duedate":
		return true
	case "parent":
		return e.s.mode == Cloud
	case EpicLinkField:
		return e.s.mode == DataCenter && e.d.IssueType != epicType
	case EpicNameField:
		return e.s.mode == DataCenter && e.d.IssueType == epicType
	}
	return false
}

// apply runs fields, then update, in a stable order.
func (e *editor) apply(fields map[string]json.RawMessage, update map[string][]map[string]json.RawMessage) {
	for _, name := range sortedKeys(fields) {
		if !e.settable(name) {
			e.fail(name, cannotBeSet(name))
			continue
		}
		e.set(name, fields[name])
	}
	for _, name := range sortedKeys(update) {
		if _, both := fields[name]; both {
			e.fail(name, fmt.Sprintf("Field '%s' cannot be set in both 'fields' and 'update'.", name))
			continue
		}
		if name == "comment" && !e.create {
			e.commentOps(update[name])
			continue
		}
		if !e.settable(name) {
			e.fail(name, cannotBeSet(name))
			continue
		}
		for _, op := range update[name] {
			for _, verb := range sortedKeys(op) {
				e.operate(name, verb, op[verb])
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (e *editor) operate(field, verb string, raw json.RawMessage) {
	switch {
	case verb == "set":
		e.set(field, raw)
	case field == "labels" && (verb == "add" || verb == "remove"):
		var l string
		if err := json.Unmarshal(raw, &l); err != nil {
			e.fail(field, mustBeString)
			return
		}
		if verb == "remove" {
			e.d.Labels = slices.DeleteFunc(e.d.Labels, func(x string) bool { return x == l })
			return
		}
		if msg := checkLabel(l); msg != "" {
			e.fail(field, msg)
			return
		}
		e.d.Labels = normalizeLabels(append(e.d.Labels, l))
	default:
		supported := "'set'"
		if field == "labels" {
			supported = "'add', 'set', 'remove'"
		}
		e.fail(field, fmt.Sprintf("Field '%s' does not support operation '%s'. Supported operation(s) are: %s", field, verb, supported))
	}
}

// commentOps reads update.comment: [{"add": {"body": "..."}}].
func (e *editor) commentOps(ops []map[string]json.RawMessage) {
	for _, op := range ops {
		for _, verb := range sortedKeys(op) {
			if verb != "add" {
				e.fail("comment", fmt.Sprintf("Field 'comment' does not support operation '%s'. Supported operation(s) are: 'add'", verb))
				continue
			}
			var c struct {
				Body json.RawMessage `json:"body"`
			}
			if err := json.Unmarshal(op[verb], &c); err != nil {
				e.fail("comment", invalidPayload)
				continue
			}
			body, msg := e.s.commentBody(c.Body)
			if msg != "" {
				e.fail("comment", msg)
				continue
			}
			e.comments = append(e.comments, body)
		}
	}
}

// commentBody reads a v2 comment body: a non-blank string within the text
// limit.
func (s *Server) commentBody(raw json.RawMessage) (string, string) {
	if isNull(raw) {
		return "", "Comment body can not be empty!"
	}
	var b string
	if err := json.Unmarshal(raw, &b); err != nil {
		return "", mustBeString
	}
	if strings.TrimSpace(b) == "" {
		return "", "Comment body can not be empty!"
	}
	if units(b) > s.textLimit {
		return "", s.tooLong()
	}
	return b, ""
}

func (e *editor) set(field string, raw json.RawMessage) {
	d := e.d
	switch field {
	case "summary":
		v, ok := e.text(field, raw)
		if ok {
			d.Summary = v
		}
	case "description":
		if v, ok := e.longText(field, raw); ok {
			d.Description = v
		}
	case "environment":
		if v, ok := e.longText(field, raw); ok {
			d.Environment = v
		}
	case "labels":
		var ls []string
		if !isNull(raw) {
			if err := json.Unmarshal(raw, &ls); err != nil {
				e.fail(field, "data was not an array")
				return
			}
		}
		for _, l := range ls {
			if msg := checkLabel(l); msg != "" {
				e.fail(field, msg)
				return
			}
		}
		d.Labels = normalizeLabels(ls)
	case "assignee", "reporter":
		if id, ok := e.user(field, raw); ok {
			if field == "assignee" {
				d.Assignee = id
			} else {
				d.Reporter = id
			}
		}
	case "priority":
		var ref struct{ ID, Name string }
		if isNull(raw) || json.Unmarshal(raw, &ref) != nil || ref.ID == "" && ref.Name == "" {
			e.fail(field, "Specify the Priority (id or name) in the string format")
			return
		}
		if ref.ID != "" {
			p, ok := priorityWithID(ref.ID)
			if !ok {
				e.fail(field, fmt.Sprintf("Priority with id '%s' does not exist", ref.ID))
				return
			}
			d.Priority = p.name
			return
		}
		p, ok := priorityNamed(ref.Name)
		if !ok {
			e.fail(field, fmt.Sprintf("Priority name '%s' is not valid", ref.Name))
			return
		}
		d.Priority = p.name
	case "duedate":
		v, ok := e.text(field, raw)
		if !ok {
			return
		}
		if v != "" {
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				e.fail(field, "Error parsing date string: "+v)
				return
			}
		}
		d.DueDate = v
	case "parent":
		if isNull(raw) {
			d.Parent = ""
			return
		}
		var ref struct{ ID, Key string }
		if json.Unmarshal(raw, &ref) != nil {
			e.fail(field, "Could not find issue by id or key.")
			return
		}
		p := e.s.issueByKeyOrID(ref.Key)
		if ref.Key == "" {
			p = e.s.issueByKeyOrID(ref.ID)
		}
		if p == nil {
			e.fail(field, "Could not find issue by id or key.")
			return
		}
		d.Parent = p.Key
	case EpicLinkField:
		v, ok := e.text(field, raw)
		if !ok {
			return
		}
		if v == "" {
			d.Parent = ""
			return
		}
		p := e.s.issueByKeyOrID(v)
		if p == nil {
			e.fail(field, fmt.Sprintf("The issue '%s' does not exist.", v))
			return
		}
		d.Parent = p.Key
	case EpicNameField:
		if v, ok := e.text(field, raw); ok {
			d.EpicName = v
		}
	}
}

// text reads a v2 text field: a string, or null for none.
func (e *editor) text(field string, raw json.RawMessage) (string, bool) {
	if isNull(raw) {
		return "", true
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		e.fail(field, mustBeString)
		return "", false
	}
	return v, true
}

// longText reads a text field within the text limit (description,
// environment).
func (e *editor) longText(field string, raw json.RawMessage) (string, bool) {
	v, ok := e.text(field, raw)
	if ok && units(v) > e.s.textLimit {
		e.fail(field, e.s.tooLong())
		return "", false
	}
	return v, ok
}

// user reads a user field: {"accountId"} (or {"id"}) on Cloud, {"name"} on
// Data Center, null or the "-1" automatic assignee for nobody.
func (e *editor) user(field string, raw json.RawMessage) (string, bool) {
	if isNull(raw) {
		return "", true
	}
	var ref struct {
		AccountID string `json:"accountId"`
		ID        string `json:"id"`
		Name      string `json:"name"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		e.fail(field, "expected Object containing a 'name' property")
		return "", false
	}
	id := ref.Name
	if e.s.mode == Cloud {
		id = cmp.Or(ref.AccountID, ref.ID)
		if id == "" {
			// Cloud dropped usernames (GDPR): a {"name"} reference names no one.
			e.fail(field, fmt.Sprintf("Specify a valid value for %s: users are referenced by accountId", field))
			return "", false
		}
	}
	if id == "-1" {
		return "", true
	}
	u := e.s.userByID(id)
	switch {
	case u == nil && e.s.mode == Cloud:
		e.fail(field, fmt.Sprintf("User with accountId '%s' does not exist", id))
		return "", false
	case u == nil:
		e.fail(field, fmt.Sprintf("User '%s' does not exist.", id))
		return "", false
	case field == "assignee" && !u.Active:
		e.fail(field, fmt.Sprintf("User '%s' cannot be assigned issues.", cmp.Or(u.DisplayName, id)))
		return "", false
	}
	return e.s.userID(u), true
}

func checkLabel(l string) string {
	if l == "" || strings.IndexFunc(l, unicode.IsSpace) >= 0 {
		return fmt.Sprintf("The label '%s' contains spaces which is invalid.", l)
	}
	if utf8.RuneCountInString(l) > maxLabel {
		return fmt.Sprintf("The label '%s' exceeds the maximum length for a single label of %d characters.", l, maxLabel)
	}
	return ""
}

// normalizeLabels sorts and dedupes: Jira keeps labels as a sorted set.
func normalizeLabels(ls []string) []string {
	out := slices.Clone(ls)
	slices.Sort(out)
	return slices.Compact(out)
}

// finish checks what involves several fields or the final values.
func (e *editor) finish() {
	d := e.d
	if _, bad := e.errs["summary"]; !bad {
		switch {
		case strings.TrimSpace(d.Summary) == "":
			e.fail("summary", "You must specify a summary of the issue.")
		case units(d.Summary) > maxSummary:
			e.fail("summary", fmt.Sprintf("Summary must be less than %d characters.", maxSummary))
		}
	}
	if d.Parent == "" {
		if e.s.mode == DataCenter && d.IssueType == epicType && strings.TrimSpace(d.EpicName) == "" {
			e.fail(EpicNameField, "Epic Name is required.")
		}
		return
	}
	p := e.s.issueByKeyOrID(d.Parent)
	if e.s.mode == Cloud {
		// Cloud's hierarchy: an epic (level 1) is the parent of the other
		// types (level 0) and has none itself.
		if d.IssueType == epicType || p.IssueType != epicType || p.Key == e.self {
			e.fail("parent", "Given parent work item does not belong to appropriate hierarchy.")
		}
		return
	}
	if p.IssueType != epicType || p.Key == e.self {
		e.fail(EpicLinkField, fmt.Sprintf("Issue '%s' is not an Epic.", p.Key))
	}
	if d.IssueType == epicType && strings.TrimSpace(d.EpicName) == "" {
		e.fail(EpicNameField, "Epic Name is required.")
	}
}

// sameContent says whether an edit changed nothing Jira would record.
func sameContent(a, b Issue) bool {
	a.Updated, b.Updated = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// readRef reads a {"id"} / {"key"} / {"name"} reference, as project and
// issuetype are given.
func readRef(raw json.RawMessage) (id, keyOrName string, ok bool) {
	var r struct{ ID, Key, Name string }
	if isNull(raw) || json.Unmarshal(raw, &r) != nil {
		return "", "", false
	}
	return r.ID, cmp.Or(r.Key, r.Name), r.ID != "" || r.Key != "" || r.Name != ""
}

// createOne validates one issue to create and stores it. It returns the
// issue, or Jira's field errors, or a request-level message.
func (s *Server) createOne(body []byte, at time.Time, bulk bool) (*issue, map[string]string, string) {
	in, ok := decodeUpdate(body)
	if !ok {
		return nil, nil, invalidPayload
	}
	msgs := map[Mode][4]string{
		Cloud:      {"Specify a valid project ID or key", "Specify a valid project ID or key", "Specify an issue type", "Specify a valid issue type"},
		DataCenter: {"project is required", "valid project is required", "issue type is required", "valid issue type is required"},
	}[s.mode]
	errs := map[string]string{}
	var p *project
	if raw, present := in.Fields["project"]; !present {
		errs["project"] = msgs[0]
	} else if id, key, ok := readRef(raw); !ok {
		errs["project"] = msgs[1]
	} else if p = s.projectByKeyOrID(cmp.Or(key, id)); p == nil {
		errs["project"] = msgs[1]
	}
	var typ string
	if raw, present := in.Fields["issuetype"]; !present {
		errs["issuetype"] = msgs[2]
	} else if id, name, ok := readRef(raw); !ok {
		errs["issuetype"] = msgs[3]
	} else if p != nil {
		for _, t := range p.IssueTypes {
			if strings.EqualFold(t, name) || id != "" && s.issueTypeIDs[t] == id {
				typ = t
			}
		}
		if typ == "" {
			errs["issuetype"] = msgs[3]
		}
	}
	if len(errs) > 0 {
		return nil, errs, ""
	}

	d := &Issue{IssueType: typ, Priority: defaultPriority, Reporter: s.userID(s.me()), Labels: []string{}}
	e := s.newEditor(d, true)
	fields := map[string]json.RawMessage{}
	for k, v := range in.Fields {
		if k != "project" && k != "issuetype" {
			fields[k] = v
		}
	}
	e.apply(fields, in.Update)
	e.finish()
	if len(e.errs) > 0 {
		return nil, e.errs, ""
	}
	if bulk {
		for _, r := range s.rejectBulk {
			if strings.Contains(d.Summary, r) {
				return nil, nil, "The issue could not be created: a workflow validator rejected it (jiratest.RejectBulkItem)."
			}
		}
	}
	return s.insert(p, *d, at), nil, ""
}
