package rules

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
)

// SchemaID is the schema's $id; the file ships as rules/rules.schema.json.
const SchemaID = "https://github.com/aftermath-dev/aftermath/rules/rules.schema.json"

// scalarSchemas describe the types written as one string.
// The patterns accept what the loader's parsers accept: time.ParseDuration
// after trimming spaces; "N calendar|business day(s)" in any case; a date.
var scalarSchemas = map[reflect.Type]map[string]any{
	reflect.TypeOf(Duration(0)): {"type": "string", "pattern": `^\s*(0|([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+)\s*$`, "examples": []string{"30m", "24h"}},
	reflect.TypeOf(Due{}): {"type": "string", "pattern": `^\s*[0-9]+\s+([Cc][Aa][Ll][Ee][Nn][Dd][Aa][Rr]|[Bb][Uu][Ss][Ii][Nn][Ee][Ss][Ss])\s+[Dd][Aa][Yy][Ss]?\s*$`,
		"examples": []string{"3 calendar days", "5 business days"}},
	reflect.TypeOf(Every{}): {"type": "string", "pattern": `^\s*((0|([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+)|[A-Za-z]+\s+[0-9]{1,2}:[0-9]{2})\s*$`, "examples": []string{"168h", "monday 09:00"}},
	reflect.TypeOf(Date{}):  {"type": "string", "pattern": `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, "examples": []string{"2026-12-24"}},
}

// patterns are the value formats named by the pattern tags of types.go.
var patterns = map[string]string{
	"service":     serviceIDPattern,
	"pd_id":       serviceIDPattern,
	"project":     projectKeyPattern,
	"customfield": customFldPattern,
	"envname":     envNamePattern,
	"email":       emailPattern,
	"label":       labelPattern,
	"space":       spaceKeyPattern,
}

// Schema returns the JSON Schema of the rules file, derived from the Go types
// so that it cannot drift from what the loader accepts structurally.
func Schema() ([]byte, error) {
	s := schemaOf(reflect.TypeOf(Rules{}), "", "")
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = SchemaID
	s["title"] = "aftermath rules"
	s["description"] = "The rules file of aftermath: which PagerDuty incidents get the post-incident process and how. See docs/rules.md."
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func schemaOf(t reflect.Type, enum, pattern string) map[string]any {
	if s, ok := scalarSchemas[t]; ok {
		out := map[string]any{}
		for k, v := range s {
			out[k] = v
		}
		return out
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || !f.IsExported() {
				continue
			}
			ps := schemaOf(f.Type, f.Tag.Get("enum"), f.Tag.Get("pattern"))
			if doc := f.Tag.Get("doc"); doc != "" {
				ps["description"] = doc
			}
			props[name] = ps
		}
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": false, "properties": props}
	case reflect.Slice:
		return map[string]any{"type": []string{"array", "null"}, "items": schemaOf(t.Elem(), enum, pattern)}
	case reflect.Map:
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": schemaOf(t.Elem(), enum, pattern)}
	case reflect.String:
		// null is allowed: the loader reports an empty required value itself.
		s := map[string]any{"type": []string{"string", "null"}}
		if values := enumValues(enum); len(values) > 0 {
			s["enum"] = append(values, nil)
		}
		if p := patterns[pattern]; p != "" {
			s["pattern"] = p
		}
		return s
	case reflect.Int:
		s := map[string]any{"type": "integer"}
		if enum != "" {
			s["enum"] = []int{1}
		}
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	}
	panic("rules: no schema for " + t.String())
}

func enumValues(enum string) []any {
	var out []any
	switch enum {
	case "":
		return nil
	case "holiday-calendars":
		names := make([]string, 0, len(HolidayCalendars)+1)
		names = append(names, "") // none
		for k := range HolidayCalendars {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, n)
		}
		return out
	}
	for _, v := range strings.Split(enum, ",") {
		out = append(out, v)
	}
	return out
}
