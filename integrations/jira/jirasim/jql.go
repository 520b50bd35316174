package jirasim

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// The simulated JQL is the subset aftermath needs: clauses joined by AND
// and OR (AND binding tighter, as in Jira; no parentheses),
//
//	labels = x | labels in (x, y) | project = KEY | issuetype = Epic |
//	key = KEY-1 | key in (...) | parent = KEY (Cloud) | "Epic Link" = KEY (Data Center)
//
// each with = or IN, then an optional ORDER BY created|updated|key [ASC|DESC].
// Field names and keywords are case-insensitive; values may be bare words
// or quoted with " or '. Anything else Jira would accept (parentheses, NOT,
// functions, other fields and operators) is refused with a 400 that says
// the simulator does not support it, so a test cannot pass by accident.

// jqlQuery is a parsed query.
type jqlQuery struct {
	clauses []jqlClause
	// ors are the indices in clauses where an OR starts a new group of
	// clauses joined by AND.
	ors   []int
	order []jqlOrder
}

type jqlClause struct {
	field  string // canonical: labels, project, issuetype, key, parent, epiclink
	name   string // as written, for messages
	values []string
}

type jqlOrder struct {
	field string // created, updated or key
	desc  bool
}

// jqlError is a JQL problem; its message is Jira's errorMessages entry,
// and more are the further entries of the same refusal (Jira lists every
// value that names no issue, one message each).
type jqlError struct {
	msg  string
	more []string
}

func (e *jqlError) Error() string { return e.msg }

func syntaxError(pos int, format string, args ...any) error {
	return &jqlError{msg: fmt.Sprintf("Error in the JQL Query: "+format+" (line 1, character %d)", append(args, pos)...)}
}

type tokKind int

const (
	tokWord tokKind = iota
	tokString
	tokOp
	tokPunct
	tokEOF
)

type token struct {
	kind tokKind
	text string
	pos  int // 1-based character
}

func (t token) is(word string) bool { return t.kind == tokWord && strings.EqualFold(t.text, word) }

func (t token) show() string {
	if t.kind == tokEOF {
		return "EOF"
	}
	return "'" + t.text + "'"
}

func lexJQL(s string) ([]token, error) {
	var toks []token
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '"' || r == '\'':
			start := i
			var b strings.Builder
			i++
			for ; i < len(rs) && rs[i] != r; i++ {
				if rs[i] == '\\' && i+1 < len(rs) {
					i++
				}
				b.WriteRune(rs[i])
			}
			if i == len(rs) {
				return nil, syntaxError(start+1, "The quoted string starting at %s has not been completed.", string(rs[start:]))
			}
			i++
			toks = append(toks, token{tokString, b.String(), start + 1})
		case strings.ContainsRune("(),", r):
			toks = append(toks, token{tokPunct, string(r), i + 1})
			i++
		case strings.ContainsRune("=!~<>", r):
			start := i
			for i < len(rs) && strings.ContainsRune("=!~<>", rs[i]) {
				i++
			}
			toks = append(toks, token{tokOp, string(rs[start:i]), start + 1})
		default:
			start := i
			for i < len(rs) && !unicode.IsSpace(rs[i]) && !strings.ContainsRune(`(),=!~<>"'`, rs[i]) {
				i++
			}
			toks = append(toks, token{tokWord, string(rs[start:i]), start + 1})
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(rs) + 1}), nil
}

// realFields are JQL fields Jira has that the simulator does not evaluate;
// they get "not simulated" rather than Jira's "does not exist".
var realFields = map[string]bool{
	"affectedversion": true, "assignee": true, "attachments": true, "category": true, "comment": true,
	"component": true, "created": true, "createddate": true, "creator": true, "description": true,
	"due": true, "duedate": true, "environment": true, "filter": true, "fixversion": true,
	"issuelinktype": true, "priority": true, "reporter": true, "resolution": true, "resolved": true,
	"resolutiondate": true, "sprint": true, "status": true, "statuscategory": true, "summary": true,
	"text": true, "updated": true, "updateddate": true, "voter": true, "watcher": true, "worklogdate": true,
}

// canonicalField maps a JQL field name onto what the simulator evaluates.
func canonicalField(name string, mode Mode, pos int) (string, error) {
	switch n := strings.ToLower(name); n {
	case "labels", "project":
		return n, nil
	case "issuetype", "type":
		return "issuetype", nil
	case "key", "issuekey", "id", "issue":
		return "key", nil
	case "parent":
		return "parent", nil
	case "epic link", "cf[10014]":
		if mode == DataCenter {
			return "epiclink", nil
		}
	default:
		if realFields[n] {
			return "", syntaxError(pos, "jiratest does not simulate the field '%s'; it evaluates labels, project, issuetype, key, parent and \"Epic Link\".", name)
		}
	}
	return "", &jqlError{msg: fmt.Sprintf("Field '%s' does not exist or you do not have permission to view it.", name)}
}

func parseJQL(jql string, mode Mode) (jqlQuery, error) {
	var q jqlQuery
	toks, err := lexJQL(jql)
	if err != nil {
		return q, err
	}
	i := 0
	next := func() token { t := toks[i]; i = min(i+1, len(toks)-1); return t }
	peek := func() token { return toks[i] }
	value := func() (string, error) {
		t := next()
		if t.kind != tokWord && t.kind != tokString {
			return "", syntaxError(t.pos, "Expecting either a value, list or function but got %s.", t.show())
		}
		if t.kind == tokWord && peek().kind == tokPunct && peek().text == "(" {
			return "", syntaxError(t.pos, "jiratest does not simulate JQL functions.")
		}
		return t.text, nil
	}

	for peek().kind != tokEOF && !peek().is("order") {
		if len(q.clauses) > 0 {
			t := next()
			switch {
			case t.is("and"):
			case t.is("or"):
				q.ors = append(q.ors, len(q.clauses))
			case t.is("not") || t.text == "(" || t.text == ")":
				return q, syntaxError(t.pos, "jiratest does not simulate %s; join clauses with AND or OR.", t.show())
			default:
				return q, syntaxError(t.pos, "Expecting either 'OR' or 'AND' but got %s.", t.show())
			}
		}
		f := next()
		if f.is("order") {
			return q, syntaxError(f.pos, "Expecting a field name but got %s.", f.show())
		}
		if f.kind != tokWord && f.kind != tokString || f.is("not") {
			if f.text == "(" || f.is("not") {
				return q, syntaxError(f.pos, "jiratest does not simulate %s; join clauses with AND or OR.", f.show())
			}
			return q, syntaxError(f.pos, "Expecting a field name but got %s.", f.show())
		}
		field, err := canonicalField(f.text, mode, f.pos)
		if err != nil {
			return q, err
		}
		c := jqlClause{field: field, name: f.text}
		op := next()
		switch {
		case op.kind == tokOp && op.text == "=":
			v, err := value()
			if err != nil {
				return q, err
			}
			c.values = []string{v}
		case op.is("in"):
			if t := next(); t.text != "(" {
				return q, syntaxError(t.pos, "Expecting '(' but got %s.", t.show())
			}
			for {
				v, err := value()
				if err != nil {
					return q, err
				}
				c.values = append(c.values, v)
				t := next()
				if t.text == ")" {
					break
				}
				if t.text != "," {
					return q, syntaxError(t.pos, "Expecting ',' or ')' but got %s.", t.show())
				}
			}
		case op.kind == tokOp || op.is("not") || op.is("is") || op.is("was") || op.is("changed"):
			return q, syntaxError(op.pos, "jiratest does not simulate the operator %s; use = or IN.", op.show())
		default:
			return q, syntaxError(op.pos, "Expecting operator but got %s. The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.", op.show())
		}
		q.clauses = append(q.clauses, c)
	}
	if n := len(q.ors); n > 0 && q.ors[n-1] == len(q.clauses) {
		t := peek()
		return q, syntaxError(t.pos, "Expecting a field name but got %s.", t.show())
	}
	if peek().is("order") {
		next()
		if t := next(); !t.is("by") {
			return q, syntaxError(t.pos, "Expecting 'by' but got %s.", t.show())
		}
		for {
			f := next()
			if f.kind != tokWord && f.kind != tokString {
				return q, syntaxError(f.pos, "Expecting a field name but got %s.", f.show())
			}
			o := jqlOrder{field: strings.ToLower(f.text)}
			switch o.field {
			case "created", "updated", "key":
			case "issuekey":
				o.field = "key"
			default:
				return q, syntaxError(f.pos, "jiratest does not simulate ordering by '%s'; use created, updated or key.", f.text)
			}
			if t := peek(); t.is("asc") || t.is("desc") {
				o.desc = next().is("desc")
			}
			q.order = append(q.order, o)
			if peek().text != "," {
				break
			}
			next()
		}
	}
	if t := peek(); t.kind != tokEOF {
		return q, syntaxError(t.pos, "Expecting either 'OR' or 'AND' but got %s.", t.show())
	}
	return q, nil
}

var issueKeyPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*-[0-9]+$`)

// resolve checks the values against the database, as Jira does before it
// searches (so an issue not yet indexed is still a valid value), and
// canonicalizes them: project and issue keys, issue type names. A value
// naming no issue (deleted, never made) does not stop the check: Jira's
// 400 has one message for each such value, clause by clause.
func (s *Server) resolve(q *jqlQuery) error {
	var missing []string
	for ci := range q.clauses {
		c := &q.clauses[ci]
		for vi, v := range c.values {
			switch c.field {
			case "project":
				p := s.projectByKeyOrID(v)
				if p == nil {
					for _, cand := range s.projects {
						if strings.EqualFold(cand.Name, v) {
							p = cand
						}
					}
				}
				if p == nil {
					return &jqlError{msg: fmt.Sprintf("The value '%s' does not exist for the field '%s'.", v, c.name)}
				}
				c.values[vi] = p.Key
			case "issuetype":
				found := ""
				for name, id := range s.issueTypeIDs {
					if strings.EqualFold(name, v) || id == v {
						found = name
					}
				}
				if found == "" {
					return &jqlError{msg: fmt.Sprintf("The value '%s' does not exist for the field '%s'.", v, c.name)}
				}
				c.values[vi] = found
			case "key", "parent", "epiclink":
				x := s.issueByKeyOrID(v)
				switch {
				case x != nil:
					c.values[vi] = x.Key
				case !issueKeyPattern.MatchString(v) && !isDigits(v):
					missing = append(missing, fmt.Sprintf("The issue key '%s' for field '%s' is invalid.", v, c.name))
				default:
					missing = append(missing, fmt.Sprintf("An issue with key '%s' does not exist for field '%s'.", v, c.name))
				}
			}
		}
	}
	if len(missing) > 0 {
		return &jqlError{msg: missing[0], more: missing[1:]}
	}
	return nil
}

func isDigits(v string) bool {
	return v != "" && strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// matches evaluates the query on an issue as the index sees it: any group
// of clauses joined by AND that all match.
func (q *jqlQuery) matches(x *Issue, mode Mode) bool {
	bounds := append(append([]int{0}, q.ors...), len(q.clauses))
	for i := 1; i < len(bounds); i++ {
		if allMatch(q.clauses[bounds[i-1]:bounds[i]], x, mode) {
			return true
		}
	}
	return false
}

func allMatch(clauses []jqlClause, x *Issue, mode Mode) bool {
	for _, c := range clauses {
		ok := false
		for _, v := range c.values {
			switch c.field {
			case "labels":
				ok = ok || slices.Contains(x.Labels, v)
			case "project":
				ok = ok || x.Project == v
			case "issuetype":
				ok = ok || x.IssueType == v
			case "key":
				ok = ok || x.Key == v
			case "parent":
				// On Data Center parent is the sub-task parent, which the
				// simulated issue types never have; epics are linked with
				// Epic Link there.
				ok = ok || mode == Cloud && x.Parent == v
			case "epiclink":
				ok = ok || x.Parent == v
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// unbounded is search/jql's refusal of a query without a restriction.
const unbounded = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
