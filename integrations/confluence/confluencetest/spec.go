package confluencetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aftermath-dev/aftermath/internal/simkit/simspec"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// SpecFile is Atlassian's Confluence Cloud REST API v2 document under
// ../shared/specs; see its SOURCES.md.
const SpecFile = "confluence-cloud-openapi-v2.json"

// v2Prefix is where Cloud serves the paths the document lists (its server
// URL is https://{your-domain}/wiki/api/v2).
const v2Prefix = "/wiki/api/v2"

// specs holds the documents loaded in this process, each parsed once.
var specs = simspec.NewSpecLoader("confluence", closeOneOf)

// SpecValidators check the simulator's Cloud REST v2 traffic against the
// official document: Request as Options.Validate, Response as
// Options.ValidateResponse. A request outside /wiki/api/v2 (Data Center,
// and the v1 endpoints Cloud is used through for what v2 lacks) passes
// both: no official spec of v1 is in the specs folder.
type SpecValidators struct {
	sp *simspec.Spec
}

// NewSpecValidators loads spec (parsed, patched by closeOneOf and resolved
// once per process for the same bytes).
func NewSpecValidators(spec []byte) (*SpecValidators, error) {
	sp, err := specs.Load(spec)
	if err != nil {
		return nil, err
	}
	return &SpecValidators{sp: sp}, nil
}

// Request checks a request: path, method, parameters, the security
// requirement and the JSON body.
func (v *SpecValidators) Request(r *http.Request, body []byte) error {
	if !strings.HasPrefix(r.URL.Path, v2Prefix+"/") {
		return nil
	}
	return simspec.ValidateRequest(v.sp.Router, r, body, simspec.ValidateOptions{Authenticate: specAuthenticate, MapPath: v2Path})
}

// Response checks an answer to a request against the operation's response
// of that status: its content type and its JSON body. A status the
// operation does not list is not an error (the document lists few of the
// refusals Confluence gives).
func (v *SpecValidators) Response(r *http.Request, status int, header http.Header, body []byte) error {
	if !strings.HasPrefix(r.URL.Path, v2Prefix+"/") {
		return nil
	}
	req := r.Clone(context.Background())
	u := *r.URL
	u.Path, u.RawPath = v2Path(u.Path), ""
	req.URL = &u
	route, params, err := v.sp.Router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{MultiError: true, ExcludeWriteOnlyValidations: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s (as %s): %w", r.Method, route.Path, err)
	}
	return nil
}

// v2Path maps a request's path onto the document's, which are relative to
// /wiki/api/v2.
func v2Path(p string) string { return strings.TrimPrefix(p, v2Prefix) }

// specAuthenticate checks the shape of the Authorization header for the
// scheme the operation names: "Basic ..." for basicAuth (API tokens),
// "Bearer ..." for OAuth 2. Whether the credentials are right is the
// simulator's business; it answers 401 first.
func specAuthenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	switch in.SecurityScheme.Type {
	case "http":
		if strings.EqualFold(in.SecurityScheme.Scheme, "basic") && strings.HasPrefix(h, "Basic ") {
			return nil
		}
	case "oauth2":
		if strings.HasPrefix(h, "Bearer ") {
			return nil
		}
	}
	return errors.New(`authorization header must be "Basic <email:token>" or "Bearer <token>"`)
}

// closeOneOf makes the alternatives of a oneOf tell apart when no value
// could: objects without a discriminator, required members or closed
// properties, such as a page's body, PageBodyWrite ({"representation",
// "value"}) or PageNestedBodyWrite ({"storage": ...}). Any object matches
// both, so as written oneOf refuses every body Confluence accepts. Each
// such alternative is replaced by a copy closed to members it does not
// name, so a flat body matches the first alone and a nested one the
// second; the components themselves are left as they are. It runs before
// refs are resolved and returns where it patched, for the test log.
func closeOneOf(doc *openapi3.T) []string {
	var patched []string
	lookup := func(ref *openapi3.SchemaRef) *openapi3.Schema {
		if ref.Ref == "" {
			return ref.Value
		}
		if doc.Components == nil {
			return nil
		}
		if s, ok := doc.Components.Schemas[strings.TrimPrefix(ref.Ref, "#/components/schemas/")]; ok {
			return s.Value
		}
		return nil
	}
	indistinct := func(sc *openapi3.Schema) bool {
		if len(sc.OneOf) < 2 || sc.Discriminator != nil {
			return false
		}
		for _, alt := range sc.OneOf {
			a := lookup(alt)
			if a == nil || !a.Type.Is(openapi3.TypeObject) || len(a.Required) > 0 || len(a.Properties) == 0 ||
				a.AdditionalProperties.Has != nil && !*a.AdditionalProperties.Has {
				return false
			}
		}
		return true
	}
	closed := false
	var walk func(ref *openapi3.SchemaRef, at string)
	walk = func(ref *openapi3.SchemaRef, at string) {
		if ref == nil || ref.Ref != "" || ref.Value == nil {
			return
		}
		sc := ref.Value
		for name, p := range sc.Properties {
			walk(p, at+"/properties/"+name)
		}
		walk(sc.Items, at+"/items")
		for i, list := range []openapi3.SchemaRefs{sc.AllOf, sc.AnyOf, sc.OneOf} {
			for j, s := range list {
				walk(s, fmt.Sprintf("%s/%s/%d", at, []string{"allOf", "anyOf", "oneOf"}[i], j))
			}
		}
		if indistinct(sc) {
			alts := make(openapi3.SchemaRefs, len(sc.OneOf))
			for i, alt := range sc.OneOf {
				c := *lookup(alt)
				c.AdditionalProperties = openapi3.AdditionalProperties{Has: &closed}
				alts[i] = &openapi3.SchemaRef{Value: &c}
			}
			sc.OneOf = alts
			patched = append(patched, at)
		}
	}
	content := func(c openapi3.Content, at string) {
		for mt, m := range c {
			walk(m.Schema, at+"/content/"+mt+"/schema")
		}
	}
	if doc.Components != nil {
		for name, s := range doc.Components.Schemas {
			walk(s, "#/components/schemas/"+name)
		}
		for name, rb := range doc.Components.RequestBodies {
			if rb != nil && rb.Value != nil {
				content(rb.Value.Content, "#/components/requestBodies/"+name)
			}
		}
	}
	if doc.Paths != nil {
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				at := "#/paths/" + path + "/" + strings.ToLower(method)
				if op.RequestBody != nil && op.RequestBody.Value != nil {
					content(op.RequestBody.Value.Content, at+"/requestBody")
				}
				if op.Responses != nil {
					for code, resp := range op.Responses.Map() {
						if resp != nil && resp.Value != nil {
							content(resp.Value.Content, at+"/responses/"+code)
						}
					}
				}
			}
		}
	}
	return patched
}
