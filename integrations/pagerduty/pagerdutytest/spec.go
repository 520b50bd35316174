package pagerdutytest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specEntry is one loaded document; the Once makes concurrent first callers
// wait for a single load instead of parsing 2.7 MB each.
type specEntry struct {
	once   sync.Once
	router routers.Router
	err    error
}

var (
	specMu       sync.Mutex
	specCache    = map[[sha256.Size]byte]*specEntry{}
	specLoads    atomic.Int32 // documents parsed, for the load-once test
	specLoadTime atomic.Int64 // duration of the last parse, for the test log
)

// SpecValidator returns a request validator for the PagerDuty REST OpenAPI
// document in spec, usable as Options.Validate. The document is parsed,
// patched (see patchSpec) and resolved once per process for the same bytes:
// later calls share the result, so tests may call it freely.
//
// The validator checks path, method, parameters (headers included), the
// security requirement and the JSON body. It returns nil for a conforming
// request and otherwise an error listing every problem found.
func SpecValidator(spec []byte) (func(*http.Request, []byte) error, error) {
	key := sha256.Sum256(spec)
	specMu.Lock()
	e, ok := specCache[key]
	if !ok {
		e = &specEntry{}
		specCache[key] = e
	}
	specMu.Unlock()

	e.once.Do(func() { e.router, e.err = loadSpec(spec) })
	if e.err != nil {
		return nil, e.err
	}
	router := e.router
	return func(r *http.Request, body []byte) error {
		return validateRequest(router, r, body)
	}, nil
}

func loadSpec(spec []byte) (routers.Router, error) {
	specLoads.Add(1)
	start := time.Now()
	defer func() { specLoadTime.Store(int64(time.Since(start))) }()
	doc := &openapi3.T{}
	if err := json.Unmarshal(spec, doc); err != nil {
		return nil, fmt.Errorf("decode pagerduty spec: %w", err)
	}
	patchSpec(doc)
	loader := openapi3.NewLoader()
	if err := loader.ResolveRefsIn(doc, nil); err != nil {
		return nil, fmt.Errorf("resolve pagerduty spec refs: %w", err)
	}
	// The document names https://api.pagerduty.com; the simulator listens on
	// 127.0.0.1, so match paths on any host.
	doc.Servers = nil
	for _, item := range doc.Paths.Map() {
		item.Servers = nil
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("build pagerduty spec router: %w", err)
	}
	return router, nil
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
// and a document without the mistake is left untouched.
func patchSpec(doc *openapi3.T) {
	const prefix = "#/components/requestBodies/"
	if doc.Paths == nil {
		return
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.Responses == nil {
				continue
			}
			for _, rr := range op.Responses.Map() {
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
			}
		}
	}
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

func validateRequest(router routers.Router, r *http.Request, body []byte) error {
	// The filter may read the body and rewrite the request; give it a copy.
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	route, params, err := router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:          true,
			SkipSettingDefaults: true,
			AuthenticationFunc:  specAuthenticate,
			// The spec marks id and type of every reference readOnly (Tag's
			// first allOf), yet requests must send references, as its own
			// examples for merge and PUT /incidents do.
			ExcludeReadOnlyValidations: true,
		},
	}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		return fmt.Errorf("%s %s: %w", r.Method, route.Path, err)
	}
	return nil
}
