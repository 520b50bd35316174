// Package pagerdutysim is a stateful simulator of the PagerDuty REST API v2,
// for tests and for aftermath demo. It keeps users, services, priorities,
// incidents with their log entries and notes, enforces the documented rules
// (the From header on writes, an open merge target, pagination bounds),
// answers in the shapes of the official OpenAPI document so
// github.com/PagerDuty/go-pagerduty parses them, and can inject 429s, 5xx
// and latency per route.
//
// It is built into the production binary, so it depends neither on the
// testing package nor on an OpenAPI library. Tests use pagerdutytest, whose
// New wraps NewServer and validates every request against the official
// spec through Options.Validate.
package pagerdutysim

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aftermath-dev/aftermath/internal/simkit"
)

// Server is a stateful PagerDuty REST API simulator on a loopback port.
// All simulated state sits behind one mutex; every method is safe for
// concurrent use.
type Server struct {
	*kit  // serving, faults; URL, Close, Calls, Count, ResetCalls, Violations
	token string
	now   func() time.Time

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
	// statusPages: statuspages.go.
	statusPages statusPageState
}

// NewServer starts a simulator. Priorities P1..P5 exist from the start with
// IDs PPRIO01..PPRIO05; users, services and incidents are added by the caller.
func NewServer(opts Options) *Server {
	s := &Server{
		token:     opts.Token,
		now:       opts.Now,
		users:     map[string]*User{},
		services:  map[string]*Service{},
		incidents: map[string]*incident{},
		related:   map[string][]string{},
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
	s.kit = simkit.NewServer(simkit.Config{Name: "pagerdutysim", Routes: Routes(), Validate: opts.Validate, Now: s.now}, api{s: s, Replies: replies})
	s.mu.Lock()
	s.base = s.kit.URL()
	s.mu.Unlock()
	return s
}

// Token is the API token requests must carry.
func (s *Server) Token() string { return s.token }

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
	"GET /log_entries":                      (*Server).listAccountLogEntries,
	"GET /priorities":                       (*Server).listPriorities,
	"GET /users":                            (*Server).listUsers,
	"GET /users/{id}":                       (*Server).getUser,
}

// Routes lists the simulated routes, sorted.
func Routes() []string { return slices.Sorted(maps.Keys(routes)) }

// request is what a handler sees; handlers run under s.mu.
type request struct {
	r    *http.Request
	id   string
	body []byte
	at   time.Time
}

// kit is the simulator's engine, embedded for the methods every
// simulator has (URL: the API endpoint, for pagerduty.WithAPIEndpoint).
type kit = simkit.Server[Fault, reply]

// reply is a handler's answer, always with a JSON body.
type reply = simkit.Reply

// replies writes them with the content type PagerDuty answers with.
var replies = simkit.Replies{JSONType: "application/json; charset=utf-8"}

// api is PagerDuty's side of the simkit.Server: how it answers; it writes
// its replies with simkit.Replies.
type api struct {
	s *Server
	simkit.Replies
}

// Authenticate wants the token as "Authorization: Token token=<token>".
func (a api) Authenticate(r *http.Request) (reply, bool) {
	if r.Header.Get("Authorization") != "Token token="+a.s.token {
		return apiError(http.StatusUnauthorized, 2006, "Authentication failed"), false
	}
	return reply{}, true
}

func (api) Invalid(err error) reply {
	return apiError(http.StatusBadRequest, 2001, "Invalid Input Provided", err.Error())
}

func (api) NotFound(*http.Request) reply { return notFound() }

func (a api) Handle(r *http.Request, route, id string, body []byte) reply {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return routes[route](a.s, &request{r: r, id: id, body: body, at: a.s.now()})
}

func (api) Plan(f Fault) simkit.Plan {
	return simkit.Plan{Status: f.Status, Latency: f.Latency, AfterApply: f.AfterApply}
}

// FaultReply is the body for f's status with the headers f asks for.
func (api) FaultReply(f Fault) reply {
	rep := faultReply(f)
	rep.Header = faultHeader(f)
	return rep
}

// Inject makes the next matching requests to route misbehave. route is
// "METHOD /path/template" exactly as in the spec, e.g.
// "GET /incidents/{id}/log_entries"; Inject panics on a route the simulator
// does not serve, so a typo cannot silently disable a fault. Faults queued on
// one route apply in the order injected.
func (s *Server) Inject(route string, f Fault) { s.kit.Inject(route, f, f.Times) }

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
	return reply{Status: status, Body: map[string]any{"error": e}}
}

func notFound() reply { return apiError(http.StatusNotFound, 2100, "Not Found") }
