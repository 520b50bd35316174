// Package pagerdutytest is a stateful simulator of the PagerDuty REST API v2
// for tests and demos. It keeps users, services, priorities, incidents with
// their log entries and notes, enforces the documented rules (the From
// header on writes, an open merge target, pagination bounds), answers in the
// shapes of the official OpenAPI document so github.com/PagerDuty/go-pagerduty
// parses them, and can inject 429s, 5xx and latency per route.
//
// NewServer has no dependency on the testing package; New (testing.go) wraps
// it for tests and validates every request against the official spec.
package pagerdutytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxBody bounds request bodies; PagerDuty rejects far smaller ones, the
// bound only keeps a runaway client from exhausting memory.
const maxBody = 10 << 20

// Server is a stateful PagerDuty REST API simulator on an httptest server.
// All state sits behind one mutex; every method is safe for concurrent use.
type Server struct {
	ts        *httptest.Server
	closeOnce sync.Once
	token     string
	validate  func(*http.Request, []byte) error
	now       func() time.Time

	mu         sync.Mutex
	base       string
	users      map[string]*User
	services   map[string]*Service
	priorities []Priority
	incidents  map[string]*incident
	seq        int
	related    map[string][]string
	noRelated  bool
	refusePrio bool
	faults     map[string][]*pendingFault
	calls      []*Call
	violations []string
}

type pendingFault struct {
	f    Fault
	left int
}

// NewServer starts a simulator. Priorities P1..P5 exist from the start with
// IDs PPRIO01..PPRIO05; users, services and incidents are added by the caller.
func NewServer(opts Options) *Server {
	s := &Server{
		token:     opts.Token,
		validate:  opts.Validate,
		now:       opts.Now,
		users:     map[string]*User{},
		services:  map[string]*Service{},
		incidents: map[string]*incident{},
		related:   map[string][]string{},
		faults:    map[string][]*pendingFault{},
	}
	if s.token == "" {
		s.token = "sim-token"
	}
	if s.now == nil {
		s.now = time.Now
	}
	for i := 1; i <= 5; i++ {
		s.priorities = append(s.priorities, Priority{ID: fmt.Sprintf("PPRIO%02d", i), Name: fmt.Sprintf("P%d", i), Order: i})
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.Start()
	s.mu.Lock()
	s.base = s.ts.URL
	s.mu.Unlock()
	return s
}

// URL is the API endpoint, for pagerduty.WithAPIEndpoint.
func (s *Server) URL() string { return s.ts.URL }

// Token is the API token requests must carry.
func (s *Server) Token() string { return s.token }

// Close shuts the server down; it may be called more than once.
func (s *Server) Close() { s.closeOnce.Do(s.ts.Close) }

// routes maps each simulated "METHOD /path/template" to its handler.
var routes = map[string]func(*Server, *request) reply{
	"GET /incidents":                        (*Server).listIncidents,
	"PUT /incidents":                        (*Server).manageIncidents,
	"GET /incidents/{id}":                   (*Server).getIncident,
	"GET /incidents/{id}/log_entries":       (*Server).listLogEntries,
	"GET /incidents/{id}/notes":             (*Server).listNotes,
	"POST /incidents/{id}/notes":            (*Server).createNote,
	"PUT /incidents/{id}/merge":             (*Server).mergeIncidents,
	"GET /incidents/{id}/related_incidents": (*Server).relatedIncidents,
	"GET /priorities":                       (*Server).listPriorities,
	"GET /users":                            (*Server).listUsers,
	"GET /users/{id}":                       (*Server).getUser,
}

// Routes lists the simulated routes, sorted.
func Routes() []string {
	out := make([]string, 0, len(routes))
	for r := range routes {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// matchRoute finds the route template for a request and its {id}.
func matchRoute(method, path string) (route, id string, ok bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for r := range routes {
		m, tmpl, _ := strings.Cut(r, " ")
		if m != method {
			continue
		}
		tsegs := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		var gotID string
		match := true
		for i, t := range tsegs {
			switch {
			case t == "{id}" && segs[i] != "":
				gotID = segs[i]
			case t != segs[i]:
				match = false
			}
			if !match {
				break
			}
		}
		if match {
			return r, gotID, true
		}
	}
	return method + " " + path, "", false
}

// request is what a handler sees; handlers run under s.mu.
type request struct {
	r    *http.Request
	id   string
	body []byte
	at   time.Time
}

// reply is a handler's answer.
type reply struct {
	status int
	body   any
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	route, id, known := matchRoute(r.Method, r.URL.Path)
	call := &Call{
		Method: r.Method,
		Route:  route,
		Path:   r.URL.Path,
		Query:  r.URL.Query(),
		From:   r.Header.Get("From"),
		Body:   body,
		At:     s.now(),
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	answer := func(rep reply, header http.Header) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(rep.status)
		_ = json.NewEncoder(w).Encode(rep.body)
		s.mu.Lock()
		call.Status = rep.status
		s.mu.Unlock()
	}

	if r.Header.Get("Authorization") != "Token token="+s.token {
		answer(apiError(http.StatusUnauthorized, 2006, "Authentication failed"), nil)
		return
	}
	if s.validate != nil {
		if err := s.validate(r, body); err != nil {
			s.addViolation(fmt.Sprintf("%s %s: %v", r.Method, r.URL.RequestURI(), err))
			answer(apiError(http.StatusBadRequest, 2001, "Invalid Input Provided", err.Error()), nil)
			return
		}
	}
	if !known {
		s.addViolation(fmt.Sprintf("%s %s: route not simulated by pagerdutytest", r.Method, r.URL.RequestURI()))
		answer(notFound(), nil)
		return
	}

	handle := func() reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		return routes[route](s, &request{r: r, id: id, body: body, at: s.now()})
	}
	f, faulted := s.takeFault(route)
	if !faulted {
		answer(handle(), nil)
		return
	}
	var rep reply
	if f.AfterApply {
		rep = handle()
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case f.Status != 0:
		answer(faultReply(f), faultHeader(f))
	case f.AfterApply:
		answer(rep, nil)
	default:
		answer(handle(), nil)
	}
}

func (s *Server) addViolation(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, v)
}

// Inject makes the next matching requests to route misbehave. route is
// "METHOD /path/template" exactly as in the spec, e.g.
// "GET /incidents/{id}/log_entries"; Inject panics on a route the simulator
// does not serve, so a typo cannot silently disable a fault. Faults queued on
// one route apply in the order injected.
func (s *Server) Inject(route string, f Fault) {
	if _, ok := routes[route]; !ok {
		panic(fmt.Sprintf("pagerdutytest: Inject: route %q is not simulated (have %s)", route, strings.Join(Routes(), ", ")))
	}
	n := f.Times
	if n <= 0 {
		n = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = append(s.faults[route], &pendingFault{f: f, left: n})
}

func (s *Server) takeFault(route string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[route]
	if len(q) == 0 {
		return Fault{}, false
	}
	p := q[0]
	p.left--
	if p.left == 0 {
		s.faults[route] = q[1:]
	}
	return p.f, true
}

func faultHeader(f Fault) http.Header {
	h := http.Header{}
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	if f.RateLimitReset != "" {
		h.Set("ratelimit-limit", "960")
		h.Set("ratelimit-remaining", "0")
		h.Set("ratelimit-reset", f.RateLimitReset)
	}
	return h
}

// faultReply is PagerDuty's body for an injected status: the documented
// rate-limit body for 429, the error-code table's entries otherwise.
func faultReply(f Fault) reply {
	switch f.Status {
	case http.StatusTooManyRequests:
		return apiError(f.Status, 2020, "Rate Limit Exceeded")
	case http.StatusInternalServerError:
		return apiError(f.Status, 2000, "An internal error has occurred. PagerDuty team has been notified.")
	case http.StatusBadRequest:
		return apiError(f.Status, 2001, "Invalid Input Provided")
	case http.StatusUnauthorized:
		return apiError(f.Status, 2006, "Authentication failed")
	case http.StatusPaymentRequired:
		return apiError(f.Status, 2014, "Missing Account Ability")
	case http.StatusForbidden:
		return apiError(f.Status, 2010, "Access Denied")
	case http.StatusNotFound:
		return notFound()
	case http.StatusRequestTimeout:
		return apiError(f.Status, 2016, "The request took too long to process")
	default:
		return apiError(f.Status, 2000, http.StatusText(f.Status))
	}
}

// apiError is PagerDuty's error body: {"error":{"message","code","errors"}}.
func apiError(status, code int, message string, errs ...string) reply {
	e := map[string]any{"message": message, "code": code}
	if len(errs) > 0 {
		e["errors"] = errs
	}
	return reply{status: status, body: map[string]any{"error": e}}
}

func notFound() reply { return apiError(http.StatusNotFound, 2100, "Not Found") }

// Calls returns every request received, in arrival order, including
// rejected and faulted ones.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
		out[i].Body = slices.Clone(c.Body)
	}
	return out
}

// Count is the number of calls to route ("" = all calls).
func (s *Server) Count(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if route == "" {
		return len(s.calls)
	}
	n := 0
	for _, c := range s.calls {
		if c.Route == route {
			n++
		}
	}
	return n
}

// ResetCalls forgets the calls received so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// Violations returns the requests the validator rejected and those to routes
// the simulator does not serve, one line each.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}
