// Package simkit is the plumbing shared by the stateful API simulators
// (integrations/pagerduty/pagerdutysim, integrations/jira/jirasim): the
// record of calls and violations, the table of injected faults and how a
// faulted request is served, and route matching.
//
// What an API answers (error bodies, authentication, rate-limit headers)
// stays with its simulator. simkit is built into the production binary
// (aftermath demo runs the simulators), so it depends neither on the
// testing package nor on an OpenAPI library: checking requests against the
// official documents is a test-only feature, in simkit/simspec, plugged in
// through Config.Validate.
package simkit

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Call is one request a simulator received.
type Call struct {
	Method string
	Route  string // "METHOD /path/template" as the simulator lists it, or "METHOD /raw/path" when no route matched
	Path   string
	Query  url.Values
	From   string // the From header (PagerDuty requires it on writes); "" when absent
	Body   []byte
	Status int // status answered; 0 if the client went away first
	At     time.Time
}

// Recorder keeps the calls a Server received and the violations it saw.
// The zero value is ready; every method is safe for concurrent use.
type Recorder struct {
	mu         sync.Mutex
	calls      []*Call
	violations []string
}

// record notes a request as it arrives, before it is answered, and
// returns its Call for answered.
func (rec *Recorder) record(r *http.Request, route string, body []byte, at time.Time) *Call {
	c := &Call{
		Method: r.Method,
		Route:  route,
		Path:   r.URL.Path,
		Query:  r.URL.Query(),
		From:   r.Header.Get("From"),
		Body:   body,
		At:     at,
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.calls = append(rec.calls, c)
	return c
}

// answered sets the status c was answered with.
func (rec *Recorder) answered(c *Call, status int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	c.Status = status
}

// violation records that request r broke a rule, as "METHOD /uri: why".
func (rec *Recorder) violation(r *http.Request, why string) {
	v := fmt.Sprintf("%s %s: %s", r.Method, r.URL.RequestURI(), why)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.violations = append(rec.violations, v)
}

// Calls returns every request recorded, in arrival order, each with its
// own copy of the body.
func (rec *Recorder) Calls() []Call {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]Call, len(rec.calls))
	for i, c := range rec.calls {
		out[i] = *c
		out[i].Body = slices.Clone(c.Body)
	}
	return out
}

// Count is the number of calls to route ("" = all calls).
func (rec *Recorder) Count(route string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if route == "" {
		return len(rec.calls)
	}
	n := 0
	for _, c := range rec.calls {
		if c.Route == route {
			n++
		}
	}
	return n
}

// ResetCalls forgets the calls recorded so far; violations stay.
func (rec *Recorder) ResetCalls() {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.calls = nil
}

// Violations returns the violations recorded, one line each.
func (rec *Recorder) Violations() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.violations)
}
