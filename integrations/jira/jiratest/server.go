// Package jiratest is a stateful simulator of the Jira REST API v2, in its
// Cloud and Data Center flavours, for tests and demos. It keeps projects,
// users, issues with their labels, epics, comments and workflow statuses,
// enforces the rules Jira enforces on create and edit (required fields,
// known issue types, users and priorities, labels without spaces, epics
// through parent on Cloud and the Epic Link field on Data Center, at most 50
// issues per bulk create), searches with a subset of JQL, answers in the
// shapes github.com/andygrunwald/go-jira parses, and can inject 429s, 5xx,
// latency and delayed search indexing.
//
// NewServer has no dependency on the testing package; New (testing.go) wraps
// it for tests and validates every request against Atlassian's official
// OpenAPI document.
package jiratest

import (
	"cmp"
	"crypto/subtle"
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

// maxBody bounds request bodies; it only keeps a runaway client from
// exhausting memory.
const maxBody = 10 << 20

// Server is a stateful Jira REST API simulator on an httptest server. All
// state sits behind one mutex; every method is safe for concurrent use.
type Server struct {
	ts        *httptest.Server
	closeOnce sync.Once
	mode      Mode
	email     string
	apiToken  string
	pat       string
	validate  func(*http.Request, []byte) error
	now       func() time.Time

	mu           sync.Mutex
	lag          time.Duration
	base         string
	projects     map[string]*project // by key
	issueTypeIDs map[string]string   // name -> id, shared by all projects
	users        []*User
	issues       []*issue // creation order
	byKey        map[string]*issue
	byID         map[string]*issue
	issueSeq     int
	commentSeq   int
	rejectBulk   []string
	faults       map[string][]*pendingFault
	calls        []*Call
	violations   []string
}

type pendingFault struct {
	f    Fault
	left int
}

// NewServer starts a simulator. Priorities Highest, High, Medium, Low and
// Lowest exist from the start, and so does the user requests authenticate
// as (BotAccountID / BotName, with Options.Email); projects, other users and
// issues are added by the caller.
func NewServer(opts Options) *Server {
	s := &Server{
		mode:         opts.Mode,
		email:        opts.Email,
		apiToken:     opts.APIToken,
		pat:          opts.PAT,
		validate:     opts.Validate,
		now:          opts.Now,
		lag:          opts.SearchLag,
		projects:     map[string]*project{},
		issueTypeIDs: map[string]string{},
		byKey:        map[string]*issue{},
		byID:         map[string]*issue{},
		faults:       map[string][]*pendingFault{},
	}
	if s.mode == "" {
		s.mode = Cloud
	}
	if s.mode != Cloud && s.mode != DataCenter {
		panic(fmt.Sprintf("jiratest: unknown mode %q", s.mode))
	}
	s.email = cmp.Or(s.email, "bot@example.com")
	s.apiToken = cmp.Or(s.apiToken, "jira-api-token")
	s.pat = cmp.Or(s.pat, "jira-pat")
	if s.now == nil {
		s.now = time.Now
	}
	s.users = append(s.users, &User{AccountID: BotAccountID, Name: BotName, Key: BotKey, Email: s.email, DisplayName: BotDisplayName, Active: true})
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.Start()
	s.mu.Lock()
	s.base = s.ts.URL
	s.mu.Unlock()
	return s
}

// URL is the site's base URL, for jira.NewClient.
func (s *Server) URL() string { return s.ts.URL }

// Close shuts the server down; it may be called more than once.
func (s *Server) Close() { s.closeOnce.Do(s.ts.Close) }

// Mode is the deployment imitated.
func (s *Server) Mode() Mode { return s.mode }

// Email is the Cloud basic-auth user.
func (s *Server) Email() string { return s.email }

// APIToken is the Cloud basic-auth password.
func (s *Server) APIToken() string { return s.apiToken }

// PAT is the Data Center bearer token.
func (s *Server) PAT() string { return s.pat }

// routes maps each simulated "METHOD /path/template" to its handler. Some
// exist in one mode only; the handler answers as the other mode's Jira
// does (410 for /search on Cloud, 404 for /search/jql on Data Center).
var routes = map[string]func(*Server, *request) reply{
	"GET /rest/api/2/serverInfo":                        (*Server).serverInfo,
	"GET /rest/api/2/myself":                            (*Server).myself,
	"GET /rest/api/2/field":                             (*Server).listFields,
	"GET /rest/api/2/priority":                          (*Server).listPriorities,
	"GET /rest/api/2/project/{projectIdOrKey}":          (*Server).getProject,
	"GET /rest/api/2/user/search":                       (*Server).findUsers,
	"POST /rest/api/2/issue":                            (*Server).createIssue,
	"POST /rest/api/2/issue/bulk":                       (*Server).createIssues,
	"GET /rest/api/2/issue/{issueIdOrKey}":              (*Server).getIssue,
	"PUT /rest/api/2/issue/{issueIdOrKey}":              (*Server).editIssue,
	"GET /rest/api/2/issue/{issueIdOrKey}/comment":      (*Server).getComments,
	"POST /rest/api/2/issue/{issueIdOrKey}/comment":     (*Server).addComment,
	"GET /rest/api/2/issue/{issueIdOrKey}/transitions":  (*Server).getTransitions,
	"POST /rest/api/2/issue/{issueIdOrKey}/transitions": (*Server).doTransition,
	"GET /rest/api/2/search":                            (*Server).searchDC,
	"POST /rest/api/2/search":                           (*Server).searchDC,
	"GET /rest/api/2/search/jql":                        (*Server).searchCloud,
	"POST /rest/api/2/search/jql":                       (*Server).searchCloud,
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

// matchRoute finds the route template for a request and its path parameter.
// A literal segment beats a parameter, so POST /issue/bulk is not an issue
// key.
func matchRoute(method, path string) (route, param string, ok bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	best, bestLiterals := "", -1
	for r := range routes {
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

// request is what a handler sees; handlers run under s.mu.
type request struct {
	r     *http.Request
	param string
	body  []byte
	at    time.Time
}

// reply is a handler's answer. A string body is sent as text/plain, a nil
// body as no body at all.
type reply struct {
	status int
	body   any
	header http.Header
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	route, param, known := matchRoute(r.Method, r.URL.Path)
	call := &Call{
		Method: r.Method,
		Route:  route,
		Path:   r.URL.Path,
		Query:  r.URL.Query(),
		Body:   body,
		At:     s.now(),
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	answer := func(rep reply) {
		for k, v := range rep.header {
			w.Header()[k] = v
		}
		switch b := rep.body.(type) {
		case nil:
			w.WriteHeader(rep.status)
		case string:
			w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
			w.WriteHeader(rep.status)
			_, _ = io.WriteString(w, b)
		default:
			w.Header().Set("Content-Type", "application/json;charset=UTF-8")
			w.WriteHeader(rep.status)
			_ = json.NewEncoder(w).Encode(b)
		}
		s.mu.Lock()
		call.Status = rep.status
		s.mu.Unlock()
	}

	if !s.authenticated(r) {
		answer(s.unauthorized())
		return
	}
	if s.validate != nil {
		if err := s.validate(r, body); err != nil {
			s.addViolation(fmt.Sprintf("%s %s: %v", r.Method, r.URL.RequestURI(), err))
			answer(errorMessages(http.StatusBadRequest, "Request rejected by the OpenAPI validator: "+err.Error()))
			return
		}
	}
	if !known {
		s.addViolation(fmt.Sprintf("%s %s: route not simulated by jiratest", r.Method, r.URL.RequestURI()))
		answer(s.noSuchResource(r))
		return
	}

	handle := func() reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		return routes[route](s, &request{r: r, param: param, body: body, at: s.now()})
	}
	f, faulted := s.takeFault(route)
	if !faulted {
		answer(handle())
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
		answer(s.faultReply(f))
	case f.AfterApply:
		answer(rep)
	default:
		answer(handle())
	}
}

// authenticated checks the credentials of the mode: Basic email:APIToken on
// Cloud, Bearer PAT on Data Center. Each mode refuses the other's scheme.
func (s *Server) authenticated(r *http.Request) bool {
	if s.mode == Cloud {
		user, pass, ok := r.BasicAuth()
		return ok && user == s.email && subtle.ConstantTimeCompare([]byte(pass), []byte(s.apiToken)) == 1
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(token), []byte(s.pat)) == 1
}

// unauthorized is Jira's 401: Cloud answers a plain-text line, Data Center
// its JSON error collection; both say why in X-Seraph-LoginReason.
func (s *Server) unauthorized() reply {
	h := http.Header{}
	h.Set("X-Seraph-LoginReason", "AUTHENTICATED_FAILED")
	if s.mode == Cloud {
		h.Set("WWW-Authenticate", `Basic realm="protected-area"`)
		return reply{status: http.StatusUnauthorized, body: "Client must be authenticated to access this resource.", header: h}
	}
	h.Set("WWW-Authenticate", `Bearer realm="jira"`)
	rep := errorMessages(http.StatusUnauthorized, "You are not authenticated. Authentication required to perform this operation.")
	rep.header = h
	return rep
}

// noSuchResource is the 404 Jira's REST layer gives a path it does not
// serve.
func (s *Server) noSuchResource(r *http.Request) reply {
	s.mu.Lock()
	uri := s.base + r.URL.RequestURI()
	s.mu.Unlock()
	return reply{status: http.StatusNotFound, body: map[string]any{"message": "null for uri: " + uri, "status-code": http.StatusNotFound}}
}

func (s *Server) addViolation(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, v)
}

// Inject makes the next matching requests to route misbehave. route is
// "METHOD /rest/api/2/template" as listed by Routes, e.g.
// "POST /rest/api/2/issue/bulk" or "GET /rest/api/2/issue/{issueIdOrKey}";
// Inject panics on a route the simulator does not serve, so a typo cannot
// silently disable a fault. Faults queued on one route apply in the order
// injected.
func (s *Server) Inject(route string, f Fault) {
	if _, ok := routes[route]; !ok {
		panic(fmt.Sprintf("jiratest: Inject: route %q is not simulated (have %s)", route, strings.Join(Routes(), ", ")))
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

// faultReply is the answer for an injected status, with the body Jira
// sends for it.
func (s *Server) faultReply(f Fault) reply {
	var rep reply
	switch f.Status {
	case http.StatusUnauthorized:
		rep = s.unauthorized()
	case http.StatusTooManyRequests:
		rep = errorMessages(f.Status, "Rate limit exceeded.")
		rep.header = http.Header{}
		rep.header.Set("X-RateLimit-Remaining", "0")
	case http.StatusInternalServerError:
		rep = errorMessages(f.Status, "Internal server error")
	case http.StatusForbidden:
		rep = errorMessages(f.Status, "You do not have permission to perform this operation.")
	default:
		rep = errorMessages(f.Status, http.StatusText(f.Status))
	}
	if f.RetryAfter != "" {
		if rep.header == nil {
			rep.header = http.Header{}
		}
		rep.header.Set("Retry-After", f.RetryAfter)
	}
	return rep
}

// errorMessages is Jira's error collection with request-level messages.
func errorMessages(status int, msgs ...string) reply {
	if msgs == nil {
		msgs = []string{}
	}
	return reply{status: status, body: map[string]any{"errorMessages": msgs, "errors": map[string]string{}}}
}

// fieldErrors is Jira's error collection with one message per field.
func fieldErrors(status int, errs map[string]string) reply {
	return reply{status: status, body: map[string]any{"errorMessages": []string{}, "errors": errs}}
}

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
