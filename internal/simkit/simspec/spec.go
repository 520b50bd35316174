// Package simspec loads the APIs' official OpenAPI documents and validates
// a simulator's requests against them, for tests only: a validator it
// returns plugs into simkit.Config.Validate (through the simulators'
// Options.Validate). It is kept out of simkit so that the production
// binary, which runs the simulators in aftermath demo, does not link the
// OpenAPI library.
package simspec

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Spec is an OpenAPI document loaded by a SpecLoader.
type Spec struct {
	Router  routers.Router // matches requests on any host
	Patched []string       // what the loader's patch reported, sorted, for test logs
}

// SpecLoader loads an API's OpenAPI document once per process for the
// same bytes: concurrent first callers wait for a single parse of the
// (megabytes of) JSON, later callers share its result, error included.
type SpecLoader struct {
	name  string
	patch func(*openapi3.T) []string

	mu       sync.Mutex
	cache    map[[sha256.Size]byte]*specEntry
	loads    atomic.Int32 // documents parsed
	lastLoad atomic.Int64 // duration of the last parse
}

type specEntry struct {
	once sync.Once
	spec *Spec
	err  error
}

// NewSpecLoader returns a loader for the documents of the API called name
// (for error messages). patch, when set, repairs or widens a decoded
// document before its refs are resolved and returns notes on what it
// changed (Spec.Patched).
func NewSpecLoader(name string, patch func(*openapi3.T) []string) *SpecLoader {
	return &SpecLoader{name: name, patch: patch, cache: map[[sha256.Size]byte]*specEntry{}}
}

// Load returns the document in spec decoded, patched, resolved and routed.
// The same bytes always give the same *Spec.
func (l *SpecLoader) Load(spec []byte) (*Spec, error) {
	key := sha256.Sum256(spec)
	l.mu.Lock()
	e, ok := l.cache[key]
	if !ok {
		e = &specEntry{}
		l.cache[key] = e
	}
	l.mu.Unlock()
	e.once.Do(func() { e.spec, e.err = l.load(spec) })
	return e.spec, e.err
}

// Loads is the number of documents parsed so far.
func (l *SpecLoader) Loads() int { return int(l.loads.Load()) }

// LastLoadTime is how long the last parse took.
func (l *SpecLoader) LastLoadTime() time.Duration { return time.Duration(l.lastLoad.Load()) }

func (l *SpecLoader) load(spec []byte) (*Spec, error) {
	l.loads.Add(1)
	start := time.Now()
	defer func() { l.lastLoad.Store(int64(time.Since(start))) }()
	doc := &openapi3.T{}
	if err := json.Unmarshal(spec, doc); err != nil {
		return nil, fmt.Errorf("decode %s spec: %w", l.name, err)
	}
	var patched []string
	if l.patch != nil {
		patched = l.patch(doc)
		slices.Sort(patched)
	}
	if err := openapi3.NewLoader().ResolveRefsIn(doc, nil); err != nil {
		return nil, fmt.Errorf("resolve %s spec refs: %w", l.name, err)
	}
	// The documents name the vendor's hosts; a simulator listens on
	// 127.0.0.1, so match paths on any host.
	doc.Servers = nil
	if doc.Paths != nil {
		for _, item := range doc.Paths.Map() {
			item.Servers = nil
		}
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("build %s spec router: %w", l.name, err)
	}
	return &Spec{Router: router, Patched: patched}, nil
}

// ValidateOptions adapts request validation to an API.
type ValidateOptions struct {
	// Authenticate checks the Authorization header against the security
	// scheme an operation names; whether the credentials are right is the
	// simulator's business.
	Authenticate openapi3filter.AuthenticationFunc
	// MapPath maps a request's path onto the document's operation path;
	// nil keeps it.
	MapPath func(string) string
}

// Validator returns ValidateRequest against sp with o, in the shape of a
// simulator's Options.Validate.
func (sp *Spec) Validator(o ValidateOptions) func(*http.Request, []byte) error {
	return func(r *http.Request, body []byte) error {
		return ValidateRequest(sp.Router, r, body, o)
	}
}

// ValidateRequest checks r and its body against the operation router finds
// for it: path, method, parameters (headers included), the security
// requirement and the JSON body. Read-only members in a body are not
// errors (clients send references and echo members back), defaults are
// not filled in, and the error lists every problem found. It names the
// operation's path, after the request's own when MapPath changed it.
func ValidateRequest(router routers.Router, r *http.Request, body []byte, o ValidateOptions) error {
	// The filter may read the body and rewrite the request; give it a copy.
	req := r.Clone(r.Context())
	if o.MapPath != nil {
		u := *r.URL
		u.Path, u.RawPath = o.MapPath(u.Path), ""
		req.URL = &u
	}
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
			MultiError:                 true,
			SkipSettingDefaults:        true,
			AuthenticationFunc:         o.Authenticate,
			ExcludeReadOnlyValidations: true,
		},
	}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		if o.MapPath != nil {
			return fmt.Errorf("%s %s (as %s): %w", r.Method, r.URL.Path, route.Path, err)
		}
		return fmt.Errorf("%s %s: %w", r.Method, route.Path, err)
	}
	return nil
}
