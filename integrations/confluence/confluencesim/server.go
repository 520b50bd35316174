// Package confluencesim is a stateful simulator of Confluence, in its Cloud
// (REST v2, with the v1 endpoints v2 lacks: labels, CQL search, the current
// user) and Data Center (REST v1 with a personal access token) flavours,
// for tests and, later, for aftermath demo. It keeps spaces with their home
// pages, pages with their versions and each version's author, labels,
// content properties and footer comments; it enforces what Confluence
// enforces (a title unique in its space, the next version number on an
// update, well-formed storage format, known spaces and parents, a property
// key once per page); and it can inject 429s, 5xx and latency on a route,
// or be down for a while. Tests edit a page as a person with EditAsPerson.
//
// It is meant to be linked into the production binary like the other
// simulators, so it depends neither on the testing package nor on an
// OpenAPI library: confluencetest wraps NewServer and validates every Cloud
// request and answer against Atlassian's official OpenAPI document.
package confluencesim

import (
	"bytes"
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aftermath-dev/aftermath/internal/simkit"
)

// Server is a stateful Confluence simulator on a loopback port. All
// simulated state sits behind one mutex; every method is safe for
// concurrent use.
type Server struct {
	*kit     // serving, faults; URL, Close, Calls, Count, ResetCalls
	mode     Mode
	email    string
	apiToken string
	pat      string
	now      func() time.Time
	lag      time.Duration
	pageSize int
	validate func(*http.Request, int, http.Header, []byte) error

	mu         sync.Mutex
	downUntil  time.Time
	spaces     []*space
	users      []*User
	pages      map[string]*page
	order      []string // page IDs, creation order
	seq        int      // the last ID given to a space, page, comment, property or label
	labelIDs   map[string]string
	violations []string // answers the response validator refused
}

// NewServer starts a simulator. The user requests authenticate as exists
// from the start (BotAccountID / BotUsername, with Options.Email); spaces
// and other users are added by the caller.
func NewServer(opts Options) *Server {
	s := &Server{
		mode:     cmp.Or(opts.Mode, Cloud),
		email:    cmp.Or(opts.Email, "bot@example.com"),
		apiToken: cmp.Or(opts.APIToken, "confluence-api-token"),
		pat:      cmp.Or(opts.PAT, "confluence-pat"),
		now:      opts.Now,
		lag:      opts.SearchLag,
		pageSize: opts.PageSize,
		validate: opts.ValidateResponse,
		pages:    map[string]*page{},
		labelIDs: map[string]string{},
		seq:      65535,
	}
	if s.mode != Cloud && s.mode != DataCenter {
		panic(fmt.Sprintf("confluencesim: unknown mode %q", s.mode))
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.users = append(s.users, &User{AccountID: BotAccountID, Username: BotUsername, UserKey: BotUserKey, DisplayName: BotDisplayName})
	s.kit = simkit.NewServer(simkit.Config{Name: "confluencesim", Routes: Routes(), Validate: opts.Validate, Now: s.now}, api{s: s})
	return s
}

// Mode is the deployment imitated.
func (s *Server) Mode() Mode { return s.mode }

// Email is the Cloud basic-auth user.
func (s *Server) Email() string { return s.email }

// APIToken is the Cloud basic-auth password.
func (s *Server) APIToken() string { return s.apiToken }

// PAT is the Data Center bearer token.
func (s *Server) PAT() string { return s.pat }

// BaseURL is the site's base as a client is configured with it: the site
// with /wiki on Cloud, the site itself on Data Center.
func (s *Server) BaseURL() string {
	if s.mode == Cloud {
		return s.URL() + "/wiki"
	}
	return s.URL()
}

// Me is the ID of the user requests authenticate as: BotAccountID on Cloud,
// BotUserKey on Data Center.
func (s *Server) Me() string { return s.idOf(s.users[0]) }

// Violations returns the requests the validator refused and the answers the
// response validator refused, one line each.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(s.kit.Violations(), s.violations...)
}

// routes maps each simulated "METHOD /path/template" to its handler. The
// Cloud routes answer 404 on Data Center and the Data Center ones 404 on
// Cloud, as a site of the other kind would.
var routes = map[string]func(*Server, *request) reply{
	"GET /wiki/api/v2/spaces":                     (*Server).cloudSpaces,
	"GET /wiki/api/v2/pages":                      (*Server).cloudPages,
	"POST /wiki/api/v2/pages":                     (*Server).cloudCreatePage,
	"GET /wiki/api/v2/pages/{id}":                 (*Server).cloudGetPage,
	"PUT /wiki/api/v2/pages/{id}":                 (*Server).cloudUpdatePage,
	"GET /wiki/api/v2/pages/{id}/children":        (*Server).cloudChildren,
	"GET /wiki/api/v2/pages/{id}/labels":          (*Server).cloudLabels,
	"GET /wiki/api/v2/pages/{id}/properties":      (*Server).cloudProperties,
	"POST /wiki/api/v2/pages/{id}/properties":     (*Server).cloudCreateProperty,
	"GET /wiki/api/v2/pages/{id}/footer-comments": (*Server).cloudComments,
	"POST /wiki/api/v2/footer-comments":           (*Server).cloudCreateComment,
	"POST /wiki/rest/api/content/{id}/label":      (*Server).v1AddLabels,
	"GET /wiki/rest/api/content/search":           (*Server).v1Search,
	"GET /wiki/rest/api/user/current":             (*Server).v1CurrentUser,
	"GET /rest/api/space/{spaceKey}":              (*Server).dcSpace,
	"GET /rest/api/content":                       (*Server).dcListContent,
	"POST /rest/api/content":                      (*Server).dcCreateContent,
	"GET /rest/api/content/{id}":                  (*Server).dcGetContent,
	"PUT /rest/api/content/{id}":                  (*Server).dcUpdateContent,
	"GET /rest/api/content/{id}/child/page":       (*Server).dcChildren,
	"GET /rest/api/content/{id}/child/comment":    (*Server).dcComments,
	"GET /rest/api/content/{id}/label":            (*Server).dcLabels,
	"POST /rest/api/content/{id}/label":           (*Server).v1AddLabels,
	"GET /rest/api/content/{id}/property/{key}":   (*Server).dcProperty,
	"POST /rest/api/content/{id}/property":        (*Server).dcCreateProperty,
	"GET /rest/api/content/search":                (*Server).v1Search,
	"GET /rest/api/user/current":                  (*Server).v1CurrentUser,
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

// segment is the path's i-th segment from the end (0: the last).
func (q *request) segment(i int) string {
	segs := strings.Split(strings.Trim(q.r.URL.Path, "/"), "/")
	if i >= len(segs) {
		return ""
	}
	return segs[len(segs)-1-i]
}

type kit = simkit.Server[Fault, reply]

// reply is a handler's answer, with the request it answers (nil for
// refusals and faults) so that Write can have the answer validated.
type reply struct {
	simkit.Reply
	req *http.Request
}

func answer(status int, body any) reply {
	return reply{Reply: simkit.Reply{Status: status, Body: body}}
}

// api is Confluence's side of the simkit.Server: how it answers.
type api struct{ s *Server }

func (a api) Authenticate(r *http.Request) (reply, bool) {
	if a.s.authenticated(r) {
		return reply{}, true
	}
	h := http.Header{}
	if a.s.mode == Cloud {
		h.Set("WWW-Authenticate", `Basic realm="Protected"`)
	} else {
		h.Set("WWW-Authenticate", `Bearer realm="Confluence"`)
		h.Set("X-Seraph-LoginReason", "AUTHENTICATED_FAILED")
	}
	rep := a.s.refusal(http.StatusUnauthorized, "Unauthorized; scope does not match")
	rep.Header = h
	return rep, false
}

func (a api) Invalid(err error) reply {
	return a.s.refusal(http.StatusBadRequest, "Request rejected by the OpenAPI validator: "+err.Error())
}

func (a api) NotFound(r *http.Request) reply {
	return a.s.refusal(http.StatusNotFound, "No route for "+r.Method+" "+r.URL.Path)
}

func (a api) Handle(r *http.Request, route, param string, body []byte) reply {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	at := a.s.now()
	if at.Before(a.s.downUntil) {
		rep := a.s.refusal(http.StatusServiceUnavailable, "Service Unavailable")
		rep.Header = http.Header{"Retry-After": {strconv.Itoa(int(a.s.downUntil.Sub(at).Seconds()) + 1)}}
		return rep
	}
	cloudRoute := strings.HasPrefix(route, r.Method+" /wiki/")
	if cloudRoute != (a.s.mode == Cloud) {
		return a.NotFound(r)
	}
	rep := routes[route](a.s, &request{r: r, param: param, body: body, at: at})
	rep.req = r
	return rep
}

func (api) Plan(f Fault) simkit.Plan {
	return simkit.Plan{Status: f.Status, Latency: f.Latency, AfterApply: f.AfterApply}
}

func (a api) FaultReply(f Fault) reply {
	rep := a.s.refusal(f.Status, http.StatusText(f.Status))
	if f.RetryAfter != "" {
		rep.Header = http.Header{"Retry-After": {f.RetryAfter}}
	}
	return rep
}

// Write sends rep as JSON and has a handled request's answer validated.
func (a api) Write(w http.ResponseWriter, rep reply) int {
	for k, v := range rep.Header {
		w.Header()[k] = v
	}
	var body []byte
	if rep.Body != nil {
		var buf bytes.Buffer
		_ = json.NewEncoder(&buf).Encode(rep.Body)
		body = buf.Bytes()
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	}
	if rep.req != nil && a.s.validate != nil {
		if err := a.s.validate(rep.req, rep.Status, w.Header(), body); err != nil {
			a.s.mu.Lock()
			a.s.violations = append(a.s.violations, fmt.Sprintf("%s %s: answer %d: %v", rep.req.Method, rep.req.URL.RequestURI(), rep.Status, err))
			a.s.mu.Unlock()
		}
	}
	w.WriteHeader(rep.Status)
	_, _ = w.Write(body)
	return rep.Status
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

// refusal is an error answer in the mode's shape: v2's list of errors on
// Cloud, v1's status and message on Data Center (and on Cloud's v1 routes,
// which refusal cannot tell apart; clients read both shapes).
func (s *Server) refusal(status int, msg string) reply {
	if s.mode == Cloud {
		return answer(status, map[string]any{"errors": []map[string]any{{
			"status": status, "code": strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_")), "title": msg, "detail": nil,
		}}})
	}
	return answer(status, map[string]any{"statusCode": status, "data": map[string]any{"authorized": status != http.StatusUnauthorized, "valid": true, "errors": []any{}, "successful": false}, "message": msg})
}

// v1Refusal is the v1 error shape, which Cloud's /wiki/rest/api answers too.
func v1Refusal(status int, msg string) reply {
	return answer(status, map[string]any{"statusCode": status, "data": map[string]any{"authorized": true, "valid": false, "errors": []any{}, "successful": false}, "message": msg})
}

// Inject makes the next matching requests to route misbehave. route is
// "METHOD /template" as listed by Routes; Inject panics on a route the
// simulator does not serve, so a typo cannot silently disable a fault.
func (s *Server) Inject(route string, f Fault) { s.kit.Inject(route, f, f.Times) }

// Down makes the whole site answer 503, with a Retry-After of the time
// left, for d from now (by Options.Now): Confluence during an outage or a
// maintenance window. Nothing is done meanwhile.
func (s *Server) Down(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downUntil = s.now().Add(d)
}
