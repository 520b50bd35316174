package jiratest

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
	"github.com/getkin/kin-openapi/openapi3"
)

// specValidator returns the shared validator, logging how long the first
// load took and what relaxADF patched.
func specValidator(t *testing.T) func(*http.Request, []byte) error {
	t.Helper()
	spec := testspecs.Read(t, SpecFile)
	start := time.Now()
	v, err := SpecValidator(spec)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := specs.Load(spec)
	t.Logf("SpecValidator took %v (the process's one parse took %v); ADF relaxed at %q", time.Since(start), specs.LastLoadTime(), sp.Patched)
	return v
}

func TestSpecViolationsAreRecordedAndRejected(t *testing.T) {
	testspecs.Require(t, SpecFile)
	forModes(t, func(t *testing.T, mode Mode) {
		s := NewServer(Options{Mode: mode, Validate: specValidator(t)})
		t.Cleanup(s.Close)
		seed(s)
		if r := send(t, s, "POST", "/rest/api/2/issue", `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"x"}}`, nil); r.status != 201 {
			t.Fatalf("valid create: %d %s", r.status, r.raw)
		}
		cases := []struct {
			name, method, target, body string
			want                       string // in the violation
		}{
			{"issueUpdates not an array", "POST", "/rest/api/2/issue/bulk", `{"issueUpdates":{"fields":{}}}`, "issueUpdates"},
			{"update operation not a list", "PUT", "/rest/api/2/issue/OPS-1", `{"update":{"labels":{"add":"x"}}}`, "update"},
			{"unknown update verb", "PUT", "/rest/api/2/issue/OPS-1", `{"update":{"labels":[{"append":"x"}]}}`, "append"},
			{"missing body", "POST", "/rest/api/2/issue/OPS-1/comment", ``, "request body"},
			{"malformed body", "POST", "/rest/api/2/issue", `{"fields":`, "request body"},
			{"maxResults not a number", "GET", "/rest/api/2/search/jql?jql=labels%3Dx&maxResults=ten", "", `"maxResults"`},
			{"bad validateQuery", "GET", "/rest/api/2/search?jql=labels%3Dx&validateQuery=sometimes", "", `"validateQuery"`},
			{"bad orderBy", "GET", "/rest/api/2/issue/OPS-1/comment?orderBy=author", "", `"orderBy"`},
			{"unknown search member", "POST", "/rest/api/2/search/jql", `{"jql":"labels = x","startAt":0}`, "startAt"},
			{"route not in the spec", "GET", "/rest/api/2/issue/OPS-1/nonsense", "", "no matching operation"},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := send(t, s, tc.method, tc.target, tc.body, nil)
				if r.status != http.StatusBadRequest || len(r.messages()) != 1 {
					t.Fatalf("got %d %s", r.status, r.raw)
				}
				vs := s.Violations()
				if len(vs) != i+1 || !strings.Contains(vs[i], tc.want) {
					t.Fatalf("violations %q, want #%d to mention %s", vs, i, tc.want)
				}
			})
		}
		if x, _ := s.Issue("OPS-1"); len(x.Labels) != 0 || len(x.Comments) != 0 || len(s.Issues()) != 1 {
			t.Fatalf("rejected requests changed state: %+v", x)
		}
	})
}

func TestSpecAcceptsV2AndDataCenterShapes(t *testing.T) {
	validate := specValidator(t)
	cases := []struct {
		name, method, target, auth, body string
	}{
		{"string comment body", "POST", "/rest/api/2/issue/OPS-1/comment", "Basic eDp5", `{"body":"plain *wiki* text"}`},
		{"string description", "POST", "/rest/api/2/issue", "Basic eDp5", `{"fields":{"project":{"key":"OPS"},"issuetype":{"name":"Task"},"summary":"x","description":"plain text","environment":"prod"}}`},
		{"assignee by name", "PUT", "/rest/api/2/issue/OPS-1", "Bearer pat", `{"fields":{"assignee":{"name":"alice"},"customfield_10014":"OPS-2"}}`},
		{"user search by username", "GET", "/rest/api/2/user/search?query=&username=alice", "Bearer pat", ""},
		{"search", "GET", "/rest/api/2/search?jql=labels%3Dx&startAt=0&maxResults=50&fields=summary,labels", "Bearer pat", ""},
		{"search by POST", "POST", "/rest/api/2/search", "Bearer pat", `{"jql":"labels = x","startAt":0,"maxResults":50,"fields":["summary"],"validateQuery":"strict"}`},
		{"myself with a PAT", "GET", "/rest/api/2/myself", "Bearer pat", ""},
		{"myself with basic", "GET", "/rest/api/latest/myself", "Basic eDp5", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.target, bytes.NewReader([]byte(tc.body)))
			r.Header.Set("Authorization", tc.auth)
			if tc.body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			if err := validate(r, []byte(tc.body)); err != nil {
				t.Fatal(err)
			}
		})
	}
	r, _ := http.NewRequest("GET", "http://127.0.0.1:1/rest/api/2/myself", nil)
	if err := validate(r, nil); err == nil || !strings.Contains(err.Error(), "security") {
		t.Fatalf("myself without credentials: %v", err)
	}
}

// TestSpecLoadedOncePerProcess checks that SpecValidator and New share one
// parse; simspec's tests cover the cache itself (concurrent first callers,
// equal bytes).
func TestSpecLoadedOncePerProcess(t *testing.T) {
	before := specs.Loads()
	specValidator(t)
	New(t, Cloud)
	New(t, DataCenter)
	// One parse if this test was the first to ask, none if an earlier one was.
	if n := specs.Loads() - before; n > 1 {
		t.Fatalf("spec parsed %d times", n)
	}
}

// TestRelaxADF types a comment body as ADF, as a v3 document may, and
// checks a v2 string is rejected before the patch and accepted after it.
func TestRelaxADF(t *testing.T) {
	const doc = `{
	  "openapi": "3.0.1", "info": {"title": "t", "version": "1"},
	  "paths": {"/rest/api/3/issue/{issueIdOrKey}/comment": {"post": {
	    "parameters": [{"name": "issueIdOrKey", "in": "path", "required": true, "schema": {"type": "string"}}],
	    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Comment"}}}},
	    "responses": {"201": {"description": "created"}}}}},
	  "components": {"schemas": {"Comment": {"type": "object", "properties": {
	    "body": {"type": "object", "description": "The comment text in Atlassian Document Format."},
	    "visibility": {"type": "object", "description": "Who sees it."}}}}}
	}`
	send := func(validate func(*http.Request, []byte) error, body string) error {
		r, _ := http.NewRequest("POST", "http://x/rest/api/2/issue/OPS-1/comment", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return validate(r, []byte(body))
	}

	var unpatched openapi3.T
	if err := unpatched.UnmarshalJSON([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := openapi3.NewLoader().ResolveRefsIn(&unpatched, nil); err != nil {
		t.Fatal(err)
	}
	if err := unpatched.Components.Schemas["Comment"].Value.VisitJSON(map[string]any{"body": "text"}); err == nil {
		t.Fatal("the unpatched schema accepts a string body; the test no longer reproduces v3's typing")
	}

	validate, err := SpecValidator([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := send(validate, `{"body":"plain text"}`); err != nil {
		t.Fatalf("string body after the patch: %v", err)
	}
	if err := send(validate, `{"body":{"type":"doc","version":1,"content":[]}}`); err != nil {
		t.Fatalf("ADF body after the patch: %v", err)
	}
	if err := send(validate, `{"body":7}`); err == nil {
		t.Fatal("a number body passed")
	}
	if err := send(validate, `{"body":"x","visibility":"everyone"}`); err == nil {
		t.Fatal("a schema without ADF was relaxed too")
	}
	if sp, _ := specs.Load([]byte(doc)); len(sp.Patched) != 1 || sp.Patched[0] != "#/components/schemas/Comment/properties/body" {
		t.Fatalf("relaxed %q", sp.Patched)
	}
}
