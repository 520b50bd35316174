package pagerdutytest

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/aftermath-dev/aftermath/internal/simkit/simspec"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// specs holds the documents loaded in this process, each parsed once (the
// official one is 2.7 MB).
var specs = simspec.NewSpecLoader("pagerduty", patchSpec)

// SpecValidator returns a request validator for the PagerDuty REST OpenAPI
// document in spec, usable as Options.Validate. The document is parsed,
// patched (see patchSpec) and resolved once per process for the same bytes:
// later calls share the result, so tests may call it freely.
//
// The validator checks path, method, parameters (headers included), the
// security requirement and the JSON body. It returns nil for a conforming
// request and otherwise an error listing every problem found. Read-only
// members are not checked: the spec marks id and type of every reference
// readOnly (Tag's first allOf), yet requests must send references, as its
// own examples for merge and PUT /incidents do.
func SpecValidator(spec []byte) (func(*http.Request, []byte) error, error) {
	sp, err := specs.Load(spec)
	if err != nil {
		return nil, err
	}
	return sp.Validator(simspec.ValidateOptions{Authenticate: specAuthenticate}), nil
}

// patchSpec repairs the document before its refs are resolved.
//
// The official document (api-schema @ 91a06fb3) has two responses, the 200 of
// PUT /event_orchestrations/{id}/cache_variables/{cache_variable_id}/data and
// of PUT /event_orchestrations/services/{service_id}/cache_variables/{cache_variable_id}/data,
// whose $ref points at #/components/requestBodies/OrchestrationCacheVariableDataPutResponse,
// a request body, so kin-openapi refuses to load it ("expecting ref to
// response object"). A request body and a response share description and
// content, so each such ref is replaced by an inline response carrying the
// request body's description and content. The patch is generic: any
// response ref into #/components/requestBodies/ is repaired the same way,
// and a document without the mistake is left untouched. It returns the
// responses it repaired, for the test log.
func patchSpec(doc *openapi3.T) []string {
	const prefix = "#/components/requestBodies/"
	if doc.Paths == nil {
		return nil
	}
	var patched []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Responses == nil {
				continue
			}
			for status, rr := range op.Responses.Map() {
				if rr == nil || !strings.HasPrefix(rr.Ref, prefix) {
					continue
				}
				body := doc.Components.RequestBodies[strings.TrimPrefix(rr.Ref, prefix)]
				if body == nil || body.Value == nil {
					continue
				}
				desc := body.Value.Description
				rr.Ref = ""
				rr.Value = &openapi3.Response{Description: &desc, Content: body.Value.Content}
				patched = append(patched, "#/paths/"+path+"/"+strings.ToLower(method)+"/responses/"+status)
			}
		}
	}
	return patched
}

// specAuthenticate checks the shape of the Authorization header the spec's
// api_key scheme asks for; whether the token is the right one is the
// simulator's business (it answers 401 first).
func specAuthenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if strings.HasPrefix(h, "Token token=") || strings.HasPrefix(h, "Bearer ") {
		return nil
	}
	return errors.New(`authorization header must be "Token token=<key>" or "Bearer <token>"`)
}
