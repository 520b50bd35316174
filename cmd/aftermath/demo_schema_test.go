package main

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// demoSchemaFile is the schema of `demo --json`, kept beside the docs that
// describe the report (docs/operations.md#the-demo).
const demoSchemaFile = "../../docs/demo-report.schema.json"

func demoSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, err := os.ReadFile(demoSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", demoSchemaFile, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("demo-report.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("demo-report.schema.json")
	if err != nil {
		t.Fatalf("%s: %v", demoSchemaFile, err)
	}
	return s
}

// `demo --json` is what docs/demo-report.schema.json says: calls nested by
// API and method with a total, violations a list (empty, not null),
// elapsed_ms a number, the owner {name, email}, the messages, the calendar
// hold, the earlier post-mortems and the overview. The schema is not
// vacuous: the shapes the report had before (a flat calls map, a null
// violations list, the owner as one string, elapsed as a string) fail it.
func TestDemoJSONMatchesTheDocumentedSchema(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	schema := demoSchema(t)
	stdout, _, _ := runDemo(t, 50*time.Second, "--json")
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(stdout)))
	if err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("demo --json does not match %s: %v\n%s", demoSchemaFile, err, stdout)
	}
	rep := doc.(map[string]any)
	if v, ok := rep["violations"].([]any); !ok || len(v) != 0 {
		t.Errorf("violations %#v, want []", rep["violations"])
	}
	if _, ok := rep["elapsed_ms"].(json.Number); !ok {
		t.Errorf("elapsed_ms %#v (%T), want a number", rep["elapsed_ms"], rep["elapsed_ms"])
	}

	old := map[string]func(m map[string]any){
		"flat calls":           func(m map[string]any) { m["calls"] = map[string]any{"jira": 4, "jira GET": 1} },
		"null violations":      func(m map[string]any) { m["violations"] = nil },
		"owner as a string":    func(m map[string]any) { m["owner"] = "Alice Ng <alice@shop.example>" },
		"elapsed as a string":  func(m map[string]any) { m["elapsed_ms"] = "1.2s" },
		"no messages":          func(m map[string]any) { delete(m, "messages") },
		"an unknown field":     func(m map[string]any) { m["elapsed"] = "1.2s" },
		"a message of no kind": func(m map[string]any) { m["messages"].([]any)[0].(map[string]any)["kind"] = "other" },
	}
	for name, mutate := range old {
		var m map[string]any
		if err := json.Unmarshal([]byte(stdout), &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		b, _ := json.Marshal(m)
		d, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err := schema.Validate(d); err == nil {
			t.Errorf("the schema accepts the report with %s", name)
		}
	}
}
