package jiratest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aftermath-dev/aftermath/internal/simkit/simspec"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// SpecFile is Atlassian's Jira Cloud platform REST API document (v3) under
// ../shared/specs; see its SOURCES.md.
const SpecFile = "jira-platform-openapi.json"

// specs holds the documents loaded in this process, each parsed once (the
// official one is 2.4 MB).
var specs = simspec.NewSpecLoader("jira", relaxADF)

// SpecValidator returns a request validator for Atlassian's Jira platform
// OpenAPI document (REST v3) in spec, usable as Options.Validate. The
// document is parsed, patched (see relaxADF) and resolved once per process
// for the same bytes; later calls share the result.
//
// The simulator speaks v2, which has the same operations as v3 under
// /rest/api/2 (Atlassian publishes both from one model). Each request is
// therefore validated as the v3 operation at the same path under
// /rest/api/3: path, method, parameters, the security requirement and the
// JSON body. The v2-only shapes fit that operation as follows:
//
//   - Plain-string rich text (description, environment, textarea custom
//     fields, comment bodies) where v3 takes Atlassian Document Format: the
//     document leaves those values untyped (Comment.body, Worklog.comment)
//     or inside the free-form IssueUpdateDetails.fields map, so a string
//     validates; relaxADF widens any ADF-described schema that is typed
//     (in document 1001.0.0, MandatoryFieldValueForADF.value) to accept a
//     string too.
//   - Data Center shapes need no relaxation: assignee {"name": ...} and the
//     Epic Link / Epic Name custom fields sit in that free-form map, user
//     search's username parameter is still declared (deprecated), and so
//     is /search, which Cloud has removed (the simulator answers 410 there
//     in Cloud mode).
//   - Data Center authenticates with "Bearer <PAT>", which the document
//     does not describe: it is accepted as the OAuth2 scheme's bearer token.
//
// Read-only members are not checked: clients echo them back (go-jira sends
// a comment's author as an empty object) and Jira ignores them. It returns
// nil for a conforming request and otherwise an error listing every
// problem found.
func SpecValidator(spec []byte) (func(*http.Request, []byte) error, error) {
	sp, err := specs.Load(spec)
	if err != nil {
		return nil, err
	}
	return sp.Validator(simspec.ValidateOptions{Authenticate: specAuthenticate, MapPath: v3Path}), nil
}

// relaxADF lets every object schema described as taking Atlassian Document
// Format accept a plain string as well, as API v2 sends one where v3 sends
// ADF.
// Such a schema becomes anyOf [string, the original]. It runs before refs
// are resolved, so each schema is visited once where it is defined, and
// returns where it patched, for the test log.
func relaxADF(doc *openapi3.T) []string {
	var patched []string
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
		walk(sc.AdditionalProperties.Schema, at+"/additionalProperties")
		for i, list := range []openapi3.SchemaRefs{sc.AllOf, sc.AnyOf, sc.OneOf} {
			for j, s := range list {
				walk(s, fmt.Sprintf("%s/%s/%d", at, []string{"allOf", "anyOf", "oneOf"}[i], j))
			}
		}
		// An ADF document is an object; an array described as holding ADF
		// (JiraIssueFields.richTextFields) is not one itself.
		if !strings.Contains(sc.Description, "Atlassian Document Format") || !sc.Type.Is(openapi3.TypeObject) {
			return
		}
		ref.Value = &openapi3.Schema{
			Description: sc.Description,
			AnyOf:       openapi3.SchemaRefs{{Value: openapi3.NewStringSchema()}, {Value: sc}},
		}
		patched = append(patched, at)
	}
	if doc.Components != nil {
		for name, s := range doc.Components.Schemas {
			walk(s, "#/components/schemas/"+name)
		}
		for name, rb := range doc.Components.RequestBodies {
			if rb != nil && rb.Value != nil {
				for mt, m := range rb.Value.Content {
					walk(m.Schema, "#/components/requestBodies/"+name+"/content/"+mt+"/schema")
				}
			}
		}
	}
	if doc.Paths != nil {
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				if op.RequestBody == nil || op.RequestBody.Value == nil {
					continue
				}
				for mt, m := range op.RequestBody.Value.Content {
					walk(m.Schema, "#/paths/"+path+"/"+strings.ToLower(method)+"/requestBody/content/"+mt+"/schema")
				}
			}
		}
	}
	return patched
}

// specAuthenticate checks the shape of the Authorization header for the
// scheme the operation names: "Basic ..." for basicAuth (Cloud's API
// tokens), "Bearer ..." for OAuth2 (and Data Center's PATs). Whether the
// credentials are right is the simulator's business; it answers 401 first.
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

// v3Path maps a REST v2 path onto the v3 operation at the same place.
func v3Path(p string) string {
	for _, prefix := range []string{"/rest/api/2/", "/rest/api/latest/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			return "/rest/api/3/" + rest
		}
	}
	return p
}
