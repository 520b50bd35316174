package simspec

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// thingsDoc names a host the tests do not use, on the document and on the
// path, so that a match proves the loader dropped both.
const thingsDoc = `{
  "openapi": "3.0.3", "info": {"title": "things", "version": "1"},
  "servers": [{"url": "https://api.example.com"}],
  "security": [{"key": []}],
  "components": {
    "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "Authorization"}},
    "schemas": {"Thing": {"type": "object", "required": ["name"], "additionalProperties": false, "properties": {
      "name": {"type": "string"},
      "id": {"type": "string", "readOnly": true}}}}
  },
  "paths": {"/v3/things/{id}": {
    "servers": [{"url": "https://eu.api.example.com"}],
    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
    "get": {"parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "ok"}}},
    "put": {"requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
            "responses": {"200": {"description": "ok"}}}
  }}
}`

func authKey(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Key ") {
		return nil
	}
	return errors.New("want a key")
}

func TestSpecLoaderLoadsOncePerBytes(t *testing.T) {
	l := NewSpecLoader("things", nil)
	var wg sync.WaitGroup
	specs := make([]*Spec, 8)
	for i := range specs {
		wg.Go(func() {
			sp, err := l.Load([]byte(thingsDoc))
			if err != nil {
				t.Error(err)
			}
			specs[i] = sp
		})
	}
	wg.Wait()
	for _, sp := range specs {
		if sp == nil || sp != specs[0] {
			t.Fatal("concurrent loads of the same bytes got different specs")
		}
	}
	if again, _ := l.Load(bytes.Clone([]byte(thingsDoc))); again != specs[0] || l.Loads() != 1 {
		t.Fatalf("equal bytes: same spec %v, %d loads", again == specs[0], l.Loads())
	}
	if l.LastLoadTime() <= 0 {
		t.Fatalf("last load time %v", l.LastLoadTime())
	}
	other, err := l.Load([]byte(thingsDoc + "\n"))
	if err != nil || other == specs[0] || l.Loads() != 2 {
		t.Fatalf("other bytes: %v, same spec %v, %d loads", err, other == specs[0], l.Loads())
	}
	if other := NewSpecLoader("things", nil); other.Loads() != 0 {
		t.Fatal("loaders share a cache")
	}
}

func TestSpecLoaderPatch(t *testing.T) {
	var sawUnresolved bool
	l := NewSpecLoader("things", func(doc *openapi3.T) []string {
		// Refs are not resolved yet: the body still points at Thing.
		body := doc.Paths.Value("/v3/things/{id}").Put.RequestBody.Value.Content.Get("application/json").Schema
		sawUnresolved = body.Ref != "" && body.Value == nil
		doc.Components.Schemas["Thing"].Value.Required = nil
		return []string{"#/components/schemas/Thing/required", "#/a"}
	})
	sp, err := l.Load([]byte(thingsDoc))
	if err != nil {
		t.Fatal(err)
	}
	if !sawUnresolved {
		t.Fatal("the patch ran after refs were resolved")
	}
	if want := []string{"#/a", "#/components/schemas/Thing/required"}; strings.Join(sp.Patched, " ") != strings.Join(want, " ") {
		t.Fatalf("patched %q, want %q (sorted)", sp.Patched, want)
	}
	r, _ := http.NewRequest("PUT", "http://127.0.0.1:1/v3/things/7", strings.NewReader(`{}`))
	r.Header.Set("Authorization", "Key k")
	r.Header.Set("Content-Type", "application/json")
	if err := ValidateRequest(sp.Router, r, []byte(`{}`), ValidateOptions{Authenticate: authKey}); err != nil {
		t.Fatalf("patched document still requires name: %v", err)
	}
}

func TestSpecLoaderErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"not JSON", `{"openapi":`, "decode things spec: "},
		{"dangling ref", `{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/x": {"get": {
		  "responses": {"200": {"$ref": "#/components/responses/Missing"}}}}}}`, "resolve things spec refs: "},
		{"bad path template", `{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/x/{id": {"get": {
		  "responses": {"200": {"description": "ok"}}}}}}`, "build things spec router: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := NewSpecLoader("things", nil)
			for range 2 {
				sp, err := l.Load([]byte(tc.doc))
				if sp != nil || err == nil || !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("got %v, %v; want an error starting %q", sp, err, tc.want)
				}
			}
			if l.Loads() != 1 {
				t.Fatalf("a failed document was parsed %d times", l.Loads())
			}
		})
	}
}

func TestValidateRequest(t *testing.T) {
	sp, err := NewSpecLoader("things", nil).Load([]byte(thingsDoc))
	if err != nil {
		t.Fatal(err)
	}
	v2to3 := func(p string) string { return strings.Replace(p, "/v2/", "/v3/", 1) }
	cases := []struct {
		name, method, target, auth, body string
		mapPath                          func(string) string
		want, alsoWant                   string // in the error; "" = valid
	}{
		{name: "valid get", method: "GET", target: "/v3/things/7?limit=5", auth: "Key k"},
		{name: "valid put", method: "PUT", target: "/v3/things/7", auth: "Key k", body: `{"name":"n"}`},
		{name: "read-only member sent", method: "PUT", target: "/v3/things/7", auth: "Key k", body: `{"name":"n","id":"7"}`},
		{name: "bad query", method: "GET", target: "/v3/things/7?limit=ten", auth: "Key k", want: `GET /v3/things/{id}: parameter "limit"`},
		{name: "unknown member", method: "PUT", target: "/v3/things/7", auth: "Key k", body: `{"name":"n","size":1}`, want: `property "size" is unsupported`},
		{name: "every problem", method: "GET", target: "/v3/things/7?limit=ten", auth: "Bearer b", want: "want a key", alsoWant: `parameter "limit"`},
		{name: "malformed body", method: "PUT", target: "/v3/things/7", auth: "Key k", body: `{"name":`, want: "request body"},
		{name: "authentication", method: "GET", target: "/v3/things/7", auth: "Bearer b", want: "want a key"},
		{name: "no route", method: "GET", target: "/v3/widgets", auth: "Key k", want: "GET /v3/widgets: no matching operation"},
		{name: "mapped path", method: "GET", target: "/v2/things/7", auth: "Key k", mapPath: v2to3},
		{name: "mapped path error names both", method: "GET", target: "/v2/things/7?limit=ten", auth: "Key k", mapPath: v2to3, want: "GET /v2/things/7 (as /v3/things/{id}): "},
		{name: "unmapped v2 path", method: "GET", target: "/v2/things/7", auth: "Key k", want: "GET /v2/things/7: no matching operation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.target, strings.NewReader(tc.body))
			r.Header.Set("Authorization", tc.auth)
			if tc.body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			err := sp.Validator(ValidateOptions{Authenticate: authKey, MapPath: tc.mapPath})(r, []byte(tc.body))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid request: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.alsoWant)):
				t.Fatalf("got %v, want an error mentioning %q and %q", err, tc.want, tc.alsoWant)
			}
			if r.URL.Path != strings.Split(tc.target, "?")[0] {
				t.Fatalf("the caller's request was rewritten to %s", r.URL.Path)
			}
		})
	}
}
