package simkit

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeFault, fakeReply and fakeAPI are a minimal simulator: it answers
// every route with "route|param|body".
type fakeFault struct {
	plan Plan
	body string
}

type fakeReply struct {
	status int
	body   string
}

type fakeAPI struct{ handled atomic.Int32 }

func (*fakeAPI) Authenticate(r *http.Request) (fakeReply, bool) {
	if r.Header.Get("Authorization") != "ok" {
		return fakeReply{http.StatusUnauthorized, "refused"}, false
	}
	return fakeReply{}, true
}

func (*fakeAPI) Invalid(err error) fakeReply {
	return fakeReply{http.StatusBadRequest, "invalid: " + err.Error()}
}

func (*fakeAPI) NotFound(r *http.Request) fakeReply {
	return fakeReply{http.StatusNotFound, "no " + r.URL.Path}
}

func (a *fakeAPI) Handle(_ *http.Request, route, param string, body []byte) fakeReply {
	a.handled.Add(1)
	return fakeReply{http.StatusOK, route + "|" + param + "|" + string(body)}
}

func (*fakeAPI) Plan(f fakeFault) Plan { return f.plan }

func (*fakeAPI) FaultReply(f fakeFault) fakeReply { return fakeReply{f.plan.Status, f.body} }

func (*fakeAPI) Write(w http.ResponseWriter, rep fakeReply) int {
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
	return rep.status
}

var fakeRoutes = []string{"GET /things/{id}", "POST /things", "POST /things/bulk"}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newFake(t *testing.T) (*Server[fakeFault, fakeReply], *fakeAPI) {
	t.Helper()
	api := &fakeAPI{}
	s := NewServer(Config{
		Name:   "fakesim",
		Routes: fakeRoutes,
		Validate: func(_ *http.Request, body []byte) error {
			if strings.Contains(string(body), "bad") {
				return errors.New("body is bad")
			}
			return nil
		},
		Now: func() time.Time { return t0 },
	}, api)
	t.Cleanup(s.Close)
	return s, api
}

// do sends a request to s and returns the status and body answered.
func do(t *testing.T, s *Server[fakeFault, fakeReply], method, target, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, raw, err := Exchange(req, map[string]string{"Authorization": auth, "From": "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(raw)
}

// injection is a fault a test case injects, on route, times times.
type injection[F any] struct {
	route string
	f     F
	times int
}

func TestServerRequestFlow(t *testing.T) {
	type inject = injection[fakeFault]
	cases := []struct {
		name                 string
		inject               []inject
		method, target, auth string
		body                 string
		status               int
		answer               string
		violation            string // "" = none
		handled              int32
	}{
		{name: "handled", method: "GET", target: "/things/T1?x=1", auth: "ok", status: 200, answer: "GET /things/{id}|T1|", handled: 1},
		{name: "literal beats parameter", method: "POST", target: "/things/bulk", auth: "ok", body: "[]", status: 200, answer: "POST /things/bulk||[]", handled: 1},
		{name: "refused before validation", method: "POST", target: "/things", auth: "nope", body: "bad", status: 401, answer: "refused"},
		{name: "refused on an unknown route", method: "GET", target: "/nowhere", auth: "nope", status: 401, answer: "refused"},
		{name: "invalid", method: "POST", target: "/things", auth: "ok", body: "bad", status: 400, answer: "invalid: body is bad", violation: "POST /things: body is bad"},
		{name: "invalid before unknown", method: "GET", target: "/nowhere?q=1", auth: "ok", body: "bad", status: 400, answer: "invalid: body is bad", violation: "GET /nowhere?q=1: body is bad"},
		{name: "unknown route", method: "DELETE", target: "/things/T1", auth: "ok", status: 404, answer: "no /things/T1", violation: "DELETE /things/T1: route not simulated by fakesim"},
		{
			name:   "fault instead of the effect",
			inject: []inject{{"POST /things", fakeFault{Plan{Status: 503}, "busy"}, 0}},
			method: "POST", target: "/things", auth: "ok", body: "{}", status: 503, answer: "busy",
		},
		{
			name:   "fault after the effect",
			inject: []inject{{"POST /things", fakeFault{Plan{Status: 502, AfterApply: true}, "lost"}, 1}},
			method: "POST", target: "/things", auth: "ok", body: "{}", status: 502, answer: "lost", handled: 1,
		},
		{
			name:   "fault on another route",
			inject: []inject{{"POST /things/bulk", fakeFault{Plan{Status: 500}, "x"}, 1}},
			method: "POST", target: "/things", auth: "ok", body: "{}", status: 200, answer: "POST /things||{}", handled: 1,
		},
		{
			name:   "faults are not taken by refused requests",
			inject: []inject{{"POST /things", fakeFault{Plan{Status: 500}, "x"}, 1}},
			method: "POST", target: "/things", auth: "nope", status: 401, answer: "refused",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, api := newFake(t)
			for _, in := range tc.inject {
				s.Inject(in.route, in.f, in.times)
			}
			status, answer := do(t, s, tc.method, tc.target, tc.auth, tc.body)
			if status != tc.status || answer != tc.answer {
				t.Fatalf("answered %d %q, want %d %q", status, answer, tc.status, tc.answer)
			}
			if n := api.handled.Load(); n != tc.handled {
				t.Fatalf("handled %d times, want %d", n, tc.handled)
			}
			var want []string
			if tc.violation != "" {
				want = []string{tc.violation}
			}
			if vs := s.Violations(); !slices.Equal(vs, want) {
				t.Fatalf("violations %q, want %q", vs, want)
			}
			calls := s.Calls()
			if len(calls) != 1 {
				t.Fatalf("calls %+v", calls)
			}
			c := calls[0]
			route, _, _ := MatchRoute(fakeRoutes, tc.method, strings.Split(tc.target, "?")[0])
			if c.Method != tc.method || c.Route != route || c.Status != tc.status || string(c.Body) != tc.body ||
				c.From != "alice@example.com" || !c.At.Equal(t0) || c.Path != strings.Split(tc.target, "?")[0] {
				t.Fatalf("call %+v", c)
			}
		})
	}
}

func TestServerFaultTimesAndOrder(t *testing.T) {
	s, _ := newFake(t)
	s.Inject("GET /things/{id}", fakeFault{Plan{Status: 429}, "slow down"}, 2)
	s.Inject("GET /things/{id}", fakeFault{Plan{Status: 500}, "oops"}, 0)
	var got []int
	for range 4 {
		status, _ := do(t, s, "GET", "/things/T1", "ok", "")
		got = append(got, status)
	}
	if want := []int{429, 429, 500, 200}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if n := s.Count("GET /things/{id}"); n != 4 {
		t.Fatalf("count %d", n)
	}
}

func TestServerInjectUnknownRoutePanics(t *testing.T) {
	s, _ := newFake(t)
	defer func() {
		msg, _ := recover().(string)
		want := `fakesim: Inject: route "GET /thing/{id}" is not simulated (have GET /things/{id}, POST /things, POST /things/bulk)`
		if msg != want {
			t.Fatalf("panic %q, want %q", msg, want)
		}
	}()
	s.Inject("GET /thing/{id}", fakeFault{}, 1)
}

// TestServerClientGone checks that a request whose client leaves during an
// injected latency is recorded unanswered (status 0) and not performed.
func TestServerClientGone(t *testing.T) {
	s, api := newFake(t)
	s.Inject("POST /things", fakeFault{plan: Plan{Latency: time.Minute}}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL()+"/things", strings.NewReader("{}"))
	if _, _, err := Exchange(req, map[string]string{"Authorization": "ok"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	s.Close() // waits for the handler to return
	if calls := s.Calls(); len(calls) != 1 || calls[0].Status != 0 || api.handled.Load() != 0 {
		t.Fatalf("calls %+v, handled %d", calls, api.handled.Load())
	}
}

func TestServerConcurrentRequests(t *testing.T) {
	s, _ := newFake(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if status, _ := do(t, s, "POST", "/things", "ok", "{}"); status != 200 {
					t.Errorf("status %d", status)
				}
				s.Calls()
			}
		})
	}
	wg.Wait()
	if n := s.Count(""); n != 80 {
		t.Fatalf("count %d", n)
	}
}

func TestMatchRoute(t *testing.T) {
	routes := []string{
		"GET /issue/{key}",
		"POST /issue/bulk",
		"GET /issue/{key}/comment",
		"GET /issue/picker",
		"PUT /issue/{key}",
	}
	cases := []struct {
		method, path string
		route, param string
		ok           bool
	}{
		{"GET", "/issue/OPS-1", "GET /issue/{key}", "OPS-1", true},
		{"GET", "/issue/picker", "GET /issue/picker", "", true},
		{"GET", "/issue/bulk", "GET /issue/{key}", "bulk", true},
		{"POST", "/issue/bulk", "POST /issue/bulk", "", true},
		{"GET", "/issue/OPS-1/comment", "GET /issue/{key}/comment", "OPS-1", true},
		{"PUT", "/issue/OPS-1", "PUT /issue/{key}", "OPS-1", true},
		{"GET", "/issue/", "GET /issue/", "", false},
		{"GET", "/issue//comment", "GET /issue//comment", "", false},
		{"DELETE", "/issue/OPS-1", "DELETE /issue/OPS-1", "", false},
		{"GET", "/issue/OPS-1/comment/7", "GET /issue/OPS-1/comment/7", "", false},
		{"POST", "/issue", "POST /issue", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			route, param, ok := MatchRoute(routes, tc.method, tc.path)
			if route != tc.route || param != tc.param || ok != tc.ok {
				t.Fatalf("got %q %q %v, want %q %q %v", route, param, ok, tc.route, tc.param, tc.ok)
			}
		})
	}
}

func TestExchange(t *testing.T) {
	s, _ := newFake(t)
	cases := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"sets a header", map[string]string{"Authorization": "ok"}, 200},
		{"replaces a header", map[string]string{"Authorization": "ok", "X-Other": "1"}, 200},
		{"removes a header", map[string]string{"Authorization": "-"}, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL()+"/things/T9", nil)
			req.Header.Set("Authorization", "was set")
			resp, raw, err := Exchange(req, tc.hdr)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || (tc.status == 200) != (string(raw) == "GET /things/{id}|T9|") {
				t.Fatalf("got %d %q", resp.StatusCode, raw)
			}
		})
	}
}
