package confluencesim

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// cond is one clause of a CQL query: field = value.
type cond struct{ field, value string }

// parseCQL reads the CQL subset aftermath sends: clauses `field = value`
// joined by AND, where field is label, space, type or title and value is
// a word or a double-quoted string (\" and \\ escaped). Anything else is
// refused, as Confluence refuses CQL it cannot parse.
func parseCQL(cql string) ([]cond, error) {
	var out []cond
	rest := strings.TrimSpace(cql)
	for rest != "" {
		field, after, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, errors.New("expected field = value")
		}
		field = strings.ToLower(strings.TrimSpace(field))
		switch field {
		case "label", "space", "type", "title":
		default:
			return nil, errors.New("field " + field + " is not simulated")
		}
		after = strings.TrimSpace(after)
		var value string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			if i >= len(after) {
				return nil, errors.New("unterminated string")
			}
			value, rest = b.String(), strings.TrimSpace(after[i+1:])
		} else {
			end := strings.IndexAny(after, " \t")
			if end < 0 {
				end = len(after)
			}
			value, rest = after[:end], strings.TrimSpace(after[end:])
		}
		if value == "" {
			return nil, errors.New("empty value")
		}
		out = append(out, cond{field, value})
		if rest == "" {
			break
		}
		word, tail, _ := strings.Cut(rest, " ")
		if !strings.EqualFold(word, "AND") {
			return nil, errors.New("only AND joins clauses")
		}
		rest = strings.TrimSpace(tail)
		if rest == "" {
			return nil, errors.New("nothing after AND")
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty query")
	}
	return out, nil
}

// matches reports whether p satisfies every clause at time at, with labels
// as the search index knows them (SearchLag late).
func (s *Server) matches(p *page, conds []cond, at time.Time) bool {
	for _, c := range conds {
		var ok bool
		switch c.field {
		case "label":
			ok = slices.ContainsFunc(p.labels, func(l label) bool { return l.name == strings.ToLower(c.value) && !at.Before(l.at.Add(s.lag)) })
		case "space":
			ok = p.spaceKey == c.value
		case "type":
			ok = c.value == "page"
		case "title":
			ok = p.title == c.value
		}
		if !ok {
			return false
		}
	}
	return true
}
