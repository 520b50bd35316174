package simkit

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxBody bounds request bodies; the APIs reject far smaller ones, the
// bound only keeps a runaway client from exhausting memory.
const maxBody = 10 << 20

// API is a simulator's side of a Server: how the API it imitates answers.
// F is the simulator's fault description, R its reply type. The methods
// are called without any Server lock held, from the request's goroutine.
type API[F, R any] interface {
	// Authenticate returns ok for a request with the right credentials,
	// and otherwise the answer refusing it.
	Authenticate(r *http.Request) (refusal R, ok bool)
	// Invalid is the answer to a request the validator rejected with err.
	Invalid(err error) R
	// NotFound is the answer to a request to a route not simulated.
	NotFound(r *http.Request) R
	// Handle performs a request to route, whose path parameter is param.
	Handle(r *http.Request, route, param string, body []byte) R
	// Plan says what the injected fault f does to the request it hits.
	Plan(f F) Plan
	// FaultReply is the answer for the status of the injected fault f.
	FaultReply(f F) R
	// Write sends rep and returns the status it sent.
	Write(w http.ResponseWriter, rep R) (status int)
}

// Validator checks a request and its body against a contract the
// simulator does not enforce itself: in tests, the API's official OpenAPI
// document (see simspec). It returns nil for a conforming request.
type Validator func(r *http.Request, body []byte) error

// Config describes a simulator to NewServer.
type Config struct {
	// Name is the simulator's, for messages: "pagerdutysim".
	Name string
	// Routes are the routes simulated, "METHOD /path/template" (see
	// MatchRoute), in the order Inject lists them.
	Routes []string
	// Validate, when set, sees every authenticated request with its body;
	// an error is recorded as a violation and answered with API.Invalid.
	Validate Validator
	// Now is the clock for Call.At; default time.Now.
	Now func() time.Time
	// PathPrefix, when set, is a prefix the API is also served under
	// (Jira Cloud's gateway: /ex/jira/{cloudId}). A request under it is
	// served, recorded and validated as if the prefix were not there.
	PathPrefix string
}

// Server runs a simulator on a loopback port. Every request is
// recorded as it arrives (Calls) and then, in this order: refused when
// API.Authenticate says so; answered API.Invalid, and recorded as a
// violation, when Config.Validate rejects it; answered API.NotFound, and
// recorded as a violation, when it matches no route; otherwise performed
// by API.Handle, under the next fault injected on its route if any (see
// Plan). Its methods are safe for concurrent use.
type Server[F, R any] struct {
	Recorder // calls and violations

	cfg    Config
	api    API[F, R]
	faults *faultTable[F]
	ts     *loopback
}

// NewServer starts a simulator.
func NewServer[F, R any](cfg Config, api API[F, R]) *Server[F, R] {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server[F, R]{cfg: cfg, api: api, faults: newFaultTable[F](cfg.Name, cfg.Routes)}
	s.ts = serveLoopback(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the server's base URL.
func (s *Server[F, R]) URL() string { return s.ts.url }

// Close shuts the server down; it may be called more than once.
func (s *Server[F, R]) Close() { s.ts.close() }

// Inject makes the next times requests to route (times <= 0 means one)
// misbehave as f says. Faults queued on one route apply in the order
// injected. Inject panics on a route the simulator does not serve, so a
// typo cannot silently disable a fault.
func (s *Server[F, R]) Inject(route string, f F, times int) { s.faults.inject(route, f, times) }

func (s *Server[F, R]) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if p := s.cfg.PathPrefix; p != "" {
		if rest, ok := strings.CutPrefix(r.URL.Path, p); ok && strings.HasPrefix(rest, "/") {
			// As http.StripPrefix does: a shallow copy with its own URL.
			r2 := new(http.Request)
			*r2 = *r
			r2.URL = new(url.URL)
			*r2.URL = *r.URL
			r2.URL.Path, r2.URL.RawPath = rest, ""
			r = r2.WithContext(context.WithValue(r2.Context(), prefixedKey{}, true))
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	route, param, known := MatchRoute(s.cfg.Routes, r.Method, r.URL.Path)
	call := s.record(r, route, body, s.cfg.Now())
	answer := func(rep R) { s.answered(call, s.api.Write(w, rep)) }

	if refusal, ok := s.api.Authenticate(r); !ok {
		answer(refusal)
		return
	}
	if s.cfg.Validate != nil {
		if err := s.cfg.Validate(r, body); err != nil {
			s.violation(r, err.Error())
			answer(s.api.Invalid(err))
			return
		}
	}
	if !known {
		s.violation(r, "route not simulated by "+s.cfg.Name)
		answer(s.api.NotFound(r))
		return
	}
	handle := func() R { return s.api.Handle(r, route, param, body) }
	f, _ := s.faults.take(route)
	if rep, ok := apply(r.Context(), s.api.Plan(f), handle, func() R { return s.api.FaultReply(f) }); ok {
		answer(rep)
	}
}

type prefixedKey struct{}

// Prefixed reports whether r came under Config.PathPrefix (now stripped):
// an API answers it with links under that prefix, as Jira's gateway does.
func Prefixed(r *http.Request) bool {
	p, _ := r.Context().Value(prefixedKey{}).(bool)
	return p
}

// MatchRoute finds the route for a request among routes, each "METHOD
// /path/template" with parameters such as {id} standing for one non-empty
// segment, and returns it with the value of its parameter. A literal
// segment beats a parameter, so POST /issue/bulk is not the issue "bulk".
// When nothing matches, route is "METHOD /path".
func MatchRoute(routes []string, method, path string) (route, param string, ok bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	best, bestLiterals := "", -1
	for _, r := range routes {
		m, tmpl, _ := strings.Cut(r, " ")
		if m != method {
			continue
		}
		tsegs := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		literals, p, match := 0, "", true
		for i, t := range tsegs {
			switch {
			case strings.HasPrefix(t, "{") && segs[i] != "":
				p = segs[i]
			case t == segs[i]:
				literals++
			default:
				match = false
			}
			if !match {
				break
			}
		}
		if match && literals > bestLiterals {
			best, bestLiterals, param = r, literals, p
		}
	}
	if best == "" {
		return method + " " + path, "", false
	}
	return best, param, true
}
