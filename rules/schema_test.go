package rules

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaFile = "rules.schema.json"

// The shipped schema is what the Go types generate: it cannot drift.
func TestSchemaFileIsUpToDate(t *testing.T) {
	want, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (run go test ./rules -run TestSchemaFileIsUpToDate -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("rules/rules.schema.json is out of date with the Go types: run go test ./rules -run TestSchemaFileIsUpToDate -update")
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func yamlAsJSON(t *testing.T, file string) (any, error) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.TrimPrefix(src, []byte("\ufeff"))
	js, err := yaml.YAMLToJSON(src)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
		js = []byte("{}")
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(js))
}

func TestSchemaAcceptsValidFiles(t *testing.T) {
	s := compileSchema(t)
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	files = append(files, "../config/rules.example.yaml")
	for _, f := range files {
		v, err := yamlAsJSON(t, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%s: the schema rejects a valid file: %v", f, err)
		}
	}
}

// The invalid cases whose problem is structure (keys, types, enums, formats)
// are rejected by the schema too; the rest need the loader's cross-checks.
func TestSchemaRejectsStructuralProblems(t *testing.T) {
	s := compileSchema(t)
	for _, name := range []string{
		"unknown-key-top", "unknown-key-nested", "wrong-type-list", "wrong-type-bool", "wrong-type-mapping",
		"number-for-string", "bad-duration", "unknown-holiday-calendar", "bad-holiday-date", "bad-meeting-due",
		"owner-problems", "jira-problems", "status-map", "crlf-bom-error", "many-problems",
	} {
		t.Run(name, func(t *testing.T) {
			v, err := yamlAsJSON(t, "testdata/invalid/"+name+".yaml")
			if err != nil {
				t.Fatalf("convert to JSON: %v", err)
			}
			if err := s.Validate(v); err == nil {
				t.Fatalf("the schema accepts %s.yaml", name)
			}
		})
	}
}

func validateYAML(t *testing.T, s *jsonschema.Schema, src string) error {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(src))
	if err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(v)
}

// The schema and the loader agree, one value at a time: what the loader
// refuses for its form, the schema refuses; what the loader accepts, the
// schema accepts. (Cross-references, such as a severity named in process
// but not defined, are the loader's alone.)
func TestSchemaAgreesWithLoader(t *testing.T) {
	s := compileSchema(t)
	refused := []string{
		"version: 2",
		"bogus: 1",
		"grouping: {scopes: [{name: a, services: [psvc1]}]}",
		"jira: {project: pm}",
		"jira: {labels: [\"a b\"]}",
		"jira: {epic_link_field: Epic Link}",
		"jira: {deployment: server}",
		"owner: {fallback: nobody}",
		"owner: {from: [on_call]}",
		"notify: [{slack_webhook_env: \"https://hooks.slack.com/x\"}]",
		"notify: [{email: [not-an-address]}]",
		"grouping: {window: 30 minutes}",
		"grouping: {resolve_open_members: \"yes\"}",
		"severities: [{name: S, priorities: [P1], meeting_due: 3 days}]",
		"severities: [{name: S, priorities: [P1], meeting_due: +3 calendar days}]",
		"holidays: {calendar: narnia}",
		"holidays: {dates: [24.12.2026]}",
		"status_map: {Done: Finished}",
		"process: SEV-1",
	}
	for _, src := range refused {
		if _, err := Load("x.yaml", []byte(src)); err == nil {
			t.Errorf("the loader accepts %q", src)
		}
		if err := validateYAML(t, s, src); err == nil {
			t.Errorf("the schema accepts %q, which the loader refuses", src)
		}
	}
	accepted := []string{
		"owner: {fallback: }",
		"severities: [{name: S, priorities: [P1], meeting_due: 3 CALENDAR DAYS, jira_priority: }]",
		"severities: [{name: S, priorities: [P1], meeting_due: \"2\\tbusiness\\tday\"}]",
		"grouping: {window: \"0\"}",
		"grouping: {window: .5h}",
		"grouping: {window: \" 30m \"}",
		"reminders: {review_before_meeting: 1h30m}",
		"holidays: {calendar: us}",
		"holidays: {calendar: \"\"}",
		"jira: {project: PAY_2, labels: [postmortem, \"sev:high\"], epic_link_field: customfield_10014}",
		"notify: [{email: [a@example.com]}, {slack_webhook_env: SLACK_URL}]",
	}
	for _, src := range accepted {
		if _, err := Load("x.yaml", []byte(src)); err != nil {
			t.Errorf("the loader refuses %q: %v", src, err)
		}
		if err := validateYAML(t, s, src); err != nil {
			t.Errorf("the schema refuses %q, which the loader accepts: %v", src, err)
		}
	}
}

func TestSchemaDescribesEveryKey(t *testing.T) {
	b, _ := Schema()
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for k, v := range props {
			ps := v.(map[string]any)
			if ps["description"] == nil {
				t.Errorf("%s.%s has no description", path, k)
			}
			walk(path+"."+k, ps)
			if items, ok := ps["items"].(map[string]any); ok {
				walk(path+"."+k+"[]", items)
			}
		}
	}
	walk("", doc)
}

// docs/rules.md names every key the loader accepts, by its full path.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for typ.Kind() == reflect.Slice {
			typ = typ.Elem()
			prefix += "[]"
		}
		if typ.Kind() != reflect.Struct || scalarSchemas[typ] != nil {
			return
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" {
				continue
			}
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			if !bytes.Contains(doc, []byte("`"+path+"`")) {
				t.Errorf("docs/rules.md does not explain `%s`", path)
			}
			walk(path, f.Type)
		}
	}
	walk("", reflect.TypeOf(Rules{}))
}
