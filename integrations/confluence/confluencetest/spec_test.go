package confluencetest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/internal/simkit"
	"github.com/aftermath-dev/aftermath/internal/testspecs"
	"github.com/getkin/kin-openapi/openapi3"
)

// answer is a raw exchange's result.
type answer struct {
	status int
	raw    string
}

// send makes a raw request to s with the mode's credentials.
func send(t *testing.T, s *Server, method, target, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"Authorization": "Bearer " + s.PAT()}
	if s.Mode() == Cloud {
		req.SetBasicAuth(s.Email(), s.APIToken())
		hdr = map[string]string{}
	}
	if body != "" {
		hdr["Content-Type"] = "application/json"
	}
	resp, raw, err := simkit.Exchange(req, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, string(raw)}
}

// validators loads the spec for a test whose subject it is.
func validators(t *testing.T) *SpecValidators {
	t.Helper()
	v, err := NewSpecValidators(testspecs.Read(t, SpecFile))
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := specs.Load(testspecs.Read(t, SpecFile))
	t.Logf("oneOf closed at %q", sp.Patched)
	return v
}

func TestSpecViolationsAreRecordedAndRejected(t *testing.T) {
	v := validators(t)
	s := NewServer(Options{Mode: Cloud, Validate: v.Request, ValidateResponse: v.Response})
	t.Cleanup(s.Close)
	spaceID := s.AddSpace(Space{Key: "PM", Name: "Post-mortems"})
	good := `{"spaceId":"` + spaceID + `","status":"current","title":"T","body":{"representation":"storage","value":"<p>x</p>"}}`
	if r := send(t, s, "POST", "/wiki/api/v2/pages", good); r.status != http.StatusOK {
		t.Fatalf("valid create: %d %s", r.status, r.raw)
	}
	if vs := s.Violations(); len(vs) != 0 {
		t.Fatalf("a valid create and its answer were refused: %q", vs)
	}
	id := s.Pages()[0].ID
	cases := []struct {
		name, method, target, body string
		want                       string // in the violation
	}{
		{"space ID not a string", "POST", "/wiki/api/v2/pages", `{"spaceId":65536,"title":"U","body":{"representation":"storage","value":"<p>x</p>"}}`, "spaceId"},
		{"no space ID", "POST", "/wiki/api/v2/pages", `{"title":"U","body":{"representation":"storage","value":"<p>x</p>"}}`, "spaceId"},
		{"unknown representation", "POST", "/wiki/api/v2/pages", `{"spaceId":"` + spaceID + `","title":"U","body":{"representation":"markdown","value":"x"}}`, "representation"},
		{"update without a version", "PUT", "/wiki/api/v2/pages/" + id, `{"id":"` + id + `","status":"current","title":"T","body":{"representation":"storage","value":"<p>y</p>"}}`, "version"},
		{"page ID not a number", "GET", "/wiki/api/v2/pages/abc", "", "id"},
		{"limit not a number", "GET", "/wiki/api/v2/pages/" + id + "/children?limit=ten", "", "limit"},
		{"unknown body format", "GET", "/wiki/api/v2/pages/" + id + "?body-format=markdown", "", "body-format"},
		{"malformed body", "POST", "/wiki/api/v2/footer-comments", `{"pageId":`, "request body"},
		{"route not in the spec", "GET", "/wiki/api/v2/pages/" + id + "/nonsense", "", "no matching operation"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, s, tc.method, tc.target, tc.body)
			if r.status != http.StatusBadRequest || !strings.Contains(r.raw, "OpenAPI validator") {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			vs := s.Violations()
			if len(vs) != i+1 || !strings.Contains(vs[i], tc.want) {
				t.Fatalf("violations %q, want #%d to mention %s", vs, i, tc.want)
			}
		})
	}
	if p, _ := s.Page(id); len(s.Pages()) != 1 || p.Version != 1 || len(p.Comments) != 0 {
		t.Fatalf("rejected requests changed state: %+v", p)
	}
	// v1 (labels) has no spec in the folder: the simulator's own checks
	// refuse a malformed label request, as Confluence does.
	if r := send(t, s, "POST", "/wiki/rest/api/content/"+id+"/label", `{"name":"x"}`); r.status != http.StatusBadRequest {
		t.Fatalf("label body not an array: %d %s", r.status, r.raw)
	}
}

// TestResponseValidationCatchesAMalformedAnswer feeds the response
// validator answers the spec refuses, as a simulator bug would produce.
func TestResponseValidationCatchesAMalformedAnswer(t *testing.T) {
	v := validators(t)
	req, _ := http.NewRequest("GET", "http://127.0.0.1:1/wiki/api/v2/pages/65536?body-format=storage", nil)
	hdr := http.Header{"Content-Type": {"application/json"}}
	good := map[string]any{"id": "65536", "status": "current", "title": "T", "spaceId": "65535",
		"version": map[string]any{"number": 1, "authorId": "x", "createdAt": "2026-03-02T09:00:00.000Z"},
		"body":    map[string]any{"storage": map[string]any{"representation": "storage", "value": "<p>x</p>"}}}
	encode := func(m map[string]any) []byte {
		var b bytes.Buffer
		_ = json.NewEncoder(&b).Encode(m)
		return b.Bytes()
	}
	if err := v.Response(req, 200, hdr, encode(good)); err != nil {
		t.Fatalf("a valid answer: %v", err)
	}
	for name, change := range map[string]func(m map[string]any){
		"id a number":             func(m map[string]any) { m["id"] = 65536 },
		"unknown status":          func(m map[string]any) { m["status"] = "published" },
		"version number a string": func(m map[string]any) { m["version"].(map[string]any)["number"] = "1" },
	} {
		t.Run(name, func(t *testing.T) {
			bad := map[string]any{}
			for k, v := range good {
				bad[k] = v
			}
			bad["version"] = map[string]any{"number": 1, "authorId": "x", "createdAt": "2026-03-02T09:00:00.000Z"}
			change(bad)
			if err := v.Response(req, 200, hdr, encode(bad)); err == nil {
				t.Fatal("the validator took it")
			}
		})
	}
	// Paths outside v2 are not the document's: they pass.
	v1, _ := http.NewRequest("GET", "http://127.0.0.1:1/rest/api/content/1", nil)
	if err := v.Response(v1, 200, hdr, []byte(`{"id":1}`)); err != nil {
		t.Fatalf("v1 answer: %v", err)
	}
}

// TestCloseOneOf checks the patch on a small document: as written, a body
// matches both alternatives and oneOf refuses it; patched, either shape is
// taken, and a member of the wrong type or an unknown one is refused.
func TestCloseOneOf(t *testing.T) {
	const doc = `{
	  "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
	  "paths": {"/pages": {"post": {
	    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
	      "body": {"oneOf": [{"$ref": "#/components/schemas/Flat"}, {"$ref": "#/components/schemas/Nested"}]},
	      "kind": {"oneOf": [{"$ref": "#/components/schemas/Flat"}, {"$ref": "#/components/schemas/Tagged"}]}}}}}},
	    "responses": {"200": {"description": "ok"}}}}},
	  "components": {"schemas": {
	    "Flat": {"type": "object", "properties": {"representation": {"type": "string"}, "value": {"type": "string"}}},
	    "Nested": {"type": "object", "properties": {"storage": {"$ref": "#/components/schemas/Flat"}}},
	    "Tagged": {"type": "object", "required": ["tag"], "properties": {"tag": {"type": "string"}}}}}
	}`
	var unpatched openapi3.T
	if err := unpatched.UnmarshalJSON([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := openapi3.NewLoader().ResolveRefsIn(&unpatched, nil); err != nil {
		t.Fatal(err)
	}
	body := unpatched.Paths.Find("/pages").Post.RequestBody.Value.Content["application/json"].Schema.Value.Properties["body"].Value
	if err := body.VisitJSON(map[string]any{"representation": "storage", "value": "<p>x</p>"}); err == nil {
		t.Fatal("the unpatched oneOf takes a body; the test no longer reproduces the document's problem")
	}

	v, err := NewSpecValidators([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	post := func(b string) error {
		r, _ := http.NewRequest("POST", "http://x/wiki/api/v2/pages", strings.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		return v.Request(r, []byte(b))
	}
	if err := post(`{"body":{"representation":"storage","value":"<p>x</p>"}}`); err != nil {
		t.Fatalf("flat body after the patch: %v", err)
	}
	if err := post(`{"body":{"storage":{"representation":"storage","value":"<p>x</p>"}}}`); err != nil {
		t.Fatalf("nested body after the patch: %v", err)
	}
	for _, bad := range []string{`{"body":{"value":7}}`, `{"body":{"representation":"storage","value":"x","storage":{}}}`, `{"body":{"text":"x"}}`} {
		if err := post(bad); err == nil {
			t.Fatalf("%s passed", bad)
		}
	}
	sp, _ := specs.Load([]byte(doc))
	if len(sp.Patched) != 1 || !strings.HasSuffix(sp.Patched[0], "/properties/body") {
		t.Fatalf("patched %q; a oneOf with a required member must stay", sp.Patched)
	}
}
