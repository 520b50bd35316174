// Package jirasim is a stateful simulator of the Jira REST API v2, in its
// Cloud and Data Center flavours, for tests and for aftermath demo. It keeps
// projects, users, issues with their labels, epics, comments and workflow
// statuses, enforces the rules Jira enforces on create and edit (required
// fields, known issue types, users and priorities, labels without spaces,
// epics through parent on Cloud and the Epic Link field on Data Center, at
// most 50 issues per bulk create), searches with a subset of JQL, answers
// in the shapes github.com/andygrunwald/go-jira parses, and can inject
// 429s, 5xx, latency and delayed search indexing.
//
// It is built into the production binary, so it depends neither on the
// testing package nor on an OpenAPI library. Tests use jiratest, whose New
// wraps NewServer and validates every request against Atlassian's official
// OpenAPI document through Options.Validate. The messages it answers with
// still call it jiratest, as clients and tests have always seen them.
package jirasim

import (
	"cmp"
	"crypto/subtle"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aftermath-dev/aftermath/internal/simkit"
)

// Server is a stateful Jira REST API simulator on a loopback port. All
// simulated state sits behind one mutex; every method is safe for
// concurrent use.
type Server struct {
	*kit     // serving, faults; URL, Close, Calls, Count, ResetCalls, Violations
	mode     Mode
	email    string
	apiToken string
	pat      string
	cloudID  string
	now      func() time.Time

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
	textLimit    int
	remoteLinks  map[string][]*RemoteLink // by issue ID (remotelinks.go)
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
		cloudID:      cmp.Or(opts.CloudID, DefaultCloudID),
		now:          opts.Now,
		lag:          opts.SearchLag,
		textLimit:    cmp.Or(opts.TextLimit, MaxText),
		projects:     map[string]*project{},
		issueTypeIDs: map[string]string{},
		byKey:        map[string]*issue{},
		byID:         map[string]*issue{},
	}
	if s.mode == "" {
		s.mode = Cloud
	}
	if s.mode != Cloud && s.mode != DataCenter {
		panic(fmt.Sprintf("jirasim: unknown mode %q", s.mode))
	}
	s.email = cmp.Or(s.email, "bot@example.com")
	s.apiToken = cmp.Or(s.apiToken, "jira-api-token")
	s.pat = cmp.Or(s.pat, "jira-pat")
	if s.now == nil {
		s.now = time.Now
	}
	s.users = append(s.users, &User{AccountID: BotAccountID, Name: BotName, Key: BotKey, Email: s.email, DisplayName: BotDisplayName, Active: true})
	s.kit = simkit.NewServer(simkit.Config{Name: "jirasim", Routes: Routes(), Validate: opts.Validate, Now: s.now, PathPrefix: "/ex/jira/" + s.cloudID}, api{s: s, Replies: replies})
	s.mu.Lock()
	s.base = s.kit.URL()
	s.mu.Unlock()
	return s
}

// APIURL is the site's API as Atlassian's gateway serves it to scoped API
// tokens (https://api.atlassian.com/ex/jira/{cloudId}): the same API under
// /ex/jira/{CloudID}, for a client whose API URL differs from its site.
func (s *Server) APIURL() string { return s.kit.URL() + "/ex/jira/" + s.cloudID }

// CloudID is the site's cloud ID.
func (s *Server) CloudID() string { return s.cloudID }

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
	"GET /rest/api/2/issue/{issueIdOrKey}/remotelink":   (*Server).getRemoteLinks,
	"POST /rest/api/2/issue/{issueIdOrKey}/remotelink":  (*Server).createRemoteLink,
	"GET /rest/api/2/search":                            (*Server).searchDC,
	"POST /rest/api/2/search":                           (*Server).searchDC,
	"GET /rest/api/2/search/jql":                        (*Server).searchCloud,
	"POST /rest/api/2/search/jql":                       (*Server).searchCloud,
}

// Routes lists the simulated routes, sorted.
func Routes() []string { return slices.Sorted(maps.Keys(routes)) }

// request is what a handler sees; handlers run under s.mu.
type request struct {
	r     *http.Request
	param string
	body  []byte
	at    time.Time
}

// kit is the simulator's engine, embedded for the methods every
// simulator has (URL: the site's base URL, for jira.NewClient).
type kit = simkit.Server[Fault, reply]

// reply is a handler's answer. A string body is sent as text/plain, a nil
// body as no body at all.
type reply = simkit.Reply

// replies writes them with the content types Jira answers with.
var replies = simkit.Replies{JSONType: "application/json;charset=UTF-8", TextType: "text/plain;charset=UTF-8"}

// api is Jira's side of the simkit.Server: how it answers; it writes its
// replies with simkit.Replies.
type api struct {
	s *Server
	simkit.Replies
}

func (a api) Authenticate(r *http.Request) (reply, bool) {
	if !a.s.authenticated(r) {
		return a.s.unauthorized(), false
	}
	return reply{}, true
}

func (api) Invalid(err error) reply {
	return errorMessages(http.StatusBadRequest, "Request rejected by the OpenAPI validator: "+err.Error())
}

func (a api) NotFound(r *http.Request) reply { return a.s.noSuchResource(r) }

func (a api) Handle(r *http.Request, route, param string, body []byte) reply {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	// Through the gateway, Jira's links (self) name the gateway, not the
	// site: a client must not take them for links people open.
	a.s.base = a.s.kit.URL()
	if simkit.Prefixed(r) {
		a.s.base = a.s.APIURL()
	}
	return routes[route](a.s, &request{r: r, param: param, body: body, at: a.s.now()})
}

func (api) Plan(f Fault) simkit.Plan {
	return simkit.Plan{Status: f.Status, Latency: f.Latency, AfterApply: f.AfterApply}
}

func (a api) FaultReply(f Fault) reply { return a.s.faultReply(f) }

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
		return reply{Status: http.StatusUnauthorized, Body: "Client must be authenticated to access this resource.", Header: h}
	}
	h.Set("WWW-Authenticate", `Bearer realm="jira"`)
	rep := errorMessages(http.StatusUnauthorized, "You are not authenticated. Authentication required to perform this operation.")
	rep.Header = h
	return rep
}

// noSuchResource is the 404 Jira's REST layer gives a path it does not
// serve.
func (s *Server) noSuchResource(r *http.Request) reply {
	s.mu.Lock()
	uri := s.base + r.URL.RequestURI()
	s.mu.Unlock()
	return reply{Status: http.StatusNotFound, Body: map[string]any{"message": "null for uri: " + uri, "status-code": http.StatusNotFound}}
}

// Inject makes the next matching requests to route misbehave. route is
// "METHOD /rest/api/2/template" as listed by Routes, e.g.
// "POST /rest/api/2/issue/bulk" or "GET /rest/api/2/issue/{issueIdOrKey}";
// Inject panics on a route the simulator does not serve, so a typo cannot
// silently disable a fault. Faults queued on one route apply in the order
// injected.
func (s *Server) Inject(route string, f Fault) { s.kit.Inject(route, f, f.Times) }

// faultReply is the answer for an injected status, with the body Jira
// sends for it.
func (s *Server) faultReply(f Fault) reply {
	var rep reply
	switch f.Status {
	case http.StatusUnauthorized:
		rep = s.unauthorized()
	case http.StatusTooManyRequests:
		rep = errorMessages(f.Status, "Rate limit exceeded.")
		rep.Header = http.Header{}
		rep.Header.Set("X-RateLimit-Remaining", "0")
		if f.RateLimitReason != "" {
			rep.Header.Set("RateLimit-Reason", f.RateLimitReason)
		}
	case http.StatusInternalServerError:
		rep = errorMessages(f.Status, "Internal server error")
	case http.StatusForbidden:
		rep = errorMessages(f.Status, "You do not have permission to perform this operation.")
	default:
		rep = errorMessages(f.Status, http.StatusText(f.Status))
	}
	if f.RetryAfter != "" {
		if rep.Header == nil {
			rep.Header = http.Header{}
		}
		rep.Header.Set("Retry-After", f.RetryAfter)
	}
	return rep
}

// errorMessages is Jira's error collection with request-level messages.
func errorMessages(status int, msgs ...string) reply {
	if msgs == nil {
		msgs = []string{}
	}
	return reply{Status: status, Body: map[string]any{"errorMessages": msgs, "errors": map[string]string{}}}
}

// fieldErrors is Jira's error collection with one message per field.
func fieldErrors(status int, errs map[string]string) reply {
	return reply{Status: status, Body: map[string]any{"errorMessages": []string{}, "errors": errs}}
}
