package e2ekit

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftermath-dev/aftermath/internal/simkit"
)

// Flavor says whose error answers a Proxy imitates.
type Flavor int

// The APIs a Proxy can stand in front of.
const (
	PagerDuty Flavor = iota
	Jira
)

// Faults are the answers a Proxy makes up instead of the API's, each a
// fraction of the requests (together at most 1).
type Faults struct {
	// Unavailable requests are answered 503 without being forwarded: the
	// API did nothing.
	Unavailable float64
	// LostAnswer requests are forwarded, then answered 500: the API did
	// the work, the client does not know it.
	LostAnswer float64
	// RateLimited requests are answered 429 with Retry-After (and, for
	// Jira, RateLimit-Reason) without being forwarded.
	RateLimited float64
	// RetryAfter is what the 429 answers ask the client to wait; default 1s.
	RetryAfter time.Duration
}

// What a Proxy did instead of forwarding a request normally, as counted in
// Stats.Injected.
const (
	InjectedUnavailable = "503 not forwarded"
	InjectedLostAnswer  = "500 after forwarding"
	InjectedRateLimited = "429 fault"
	InjectedRPMLimit    = "429 over the per-minute limit"
)

// Stats is what a Proxy saw.
type Stats struct {
	Requests int
	// ByRoute counts requests by "METHOD /route/{template}", as the
	// simulator names its routes.
	ByRoute map[string]int
	// ByIncident counts requests whose route names a PagerDuty incident
	// (or a Jira issue) by its ID (or key).
	ByIncident map[string]int
	// Injected counts the made-up answers by kind (Injected* constants).
	Injected map[string]int
}

// Proxy is a reverse proxy in front of a simulator, on its own loopback
// listener, that makes the API slow, failing or rate limited while a test
// runs. Its setters take effect for the next request; it is safe for
// concurrent use.
type Proxy struct {
	// URL is the proxy's base URL: give it to aftermath instead of the
	// simulator's.
	URL string

	flavor Flavor
	routes []string
	rp     *httputil.ReverseProxy
	srv    *http.Server

	mu      sync.Mutex
	rng     *rand.Rand
	latency time.Duration
	faults  Faults
	rpm     int
	window  []time.Time // times of the requests let through in the last minute
	stats   Stats
}

// NewProxy starts a proxy to target (a simulator's base URL) whose routes
// ("METHOD /path/{param}", the simulator's Routes()) name what it counts.
// Its faults are drawn from a generator seeded with seed. It is closed at
// the end of the test.
func NewProxy(t testing.TB, flavor Flavor, target string, routes []string, seed uint64) *Proxy {
	t.Helper()
	to, err := url.Parse(target)
	if err != nil {
		t.Fatalf("proxy target %q: %v", target, err)
	}
	p := &Proxy{flavor: flavor, routes: routes, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	p.stats = Stats{ByRoute: map[string]int{}, ByIncident: map[string]int{}, Injected: map[string]int{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite:  func(pr *httputil.ProxyRequest) { pr.SetURL(to) },
		ErrorLog: nil,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p.URL = "http://" + ln.Addr().String()
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

// SetLatency delays every request by d before it is answered (0: none).
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// SetFaults replaces the faults; Faults{} turns them off.
func (p *Proxy) SetFaults(f Faults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = f
}

// SetRateLimit answers 429 to requests beyond perMinute in any sliding
// minute, as PagerDuty does past 960 (0: no limit).
func (p *Proxy) SetRateLimit(perMinute int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rpm = perMinute
}

// Reset turns off latency, faults and the rate limit; the counts stay.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency, p.faults, p.rpm, p.window = 0, Faults{}, 0, nil
}

// Stats returns a copy of the counts.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := Stats{Requests: p.stats.Requests, ByRoute: map[string]int{}, ByIncident: map[string]int{}, Injected: map[string]int{}}
	for k, v := range p.stats.ByRoute {
		out.ByRoute[k] = v
	}
	for k, v := range p.stats.ByIncident {
		out.ByIncident[k] = v
	}
	for k, v := range p.stats.Injected {
		out.Injected[k] = v
	}
	return out
}

// ResetStats zeroes the counts.
func (p *Proxy) ResetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = Stats{ByRoute: map[string]int{}, ByIncident: map[string]int{}, Injected: map[string]int{}}
}

// decide counts the request and says what to do with it: "" forwards it.
func (p *Proxy) decide(r *http.Request) (latency time.Duration, action string, retryAfter time.Duration) {
	route, param, _ := simkit.MatchRoute(p.routes, r.Method, r.URL.Path)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	p.stats.ByRoute[route]++
	if param != "" && (strings.Contains(route, "/incidents/{") || strings.Contains(route, "/issue/{")) {
		p.stats.ByIncident[param]++
	}
	retryAfter = p.faults.RetryAfter
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	now := time.Now()
	if p.rpm > 0 {
		cut := 0
		for cut < len(p.window) && now.Sub(p.window[cut]) >= time.Minute {
			cut++
		}
		p.window = p.window[cut:]
		if len(p.window) >= p.rpm {
			p.stats.Injected[InjectedRPMLimit]++
			return p.latency, InjectedRPMLimit, time.Minute - now.Sub(p.window[0])
		}
		p.window = append(p.window, now)
	}
	x := p.rng.Float64()
	switch f := p.faults; {
	case x < f.Unavailable:
		action = InjectedUnavailable
	case x < f.Unavailable+f.LostAnswer:
		action = InjectedLostAnswer
	case x < f.Unavailable+f.LostAnswer+f.RateLimited:
		action = InjectedRateLimited
	}
	if action != "" {
		p.stats.Injected[action]++
	}
	return p.latency, action, retryAfter
}

// ServeHTTP forwards the request, or answers in its place.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	latency, action, retryAfter := p.decide(r)
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	switch action {
	case "":
		p.rp.ServeHTTP(w, r)
	case InjectedLostAnswer:
		p.rp.ServeHTTP(discard{h: http.Header{}}, r)
		p.writeError(w, http.StatusInternalServerError, 0)
	case InjectedUnavailable:
		_, _ = io.Copy(io.Discard, r.Body)
		p.writeError(w, http.StatusServiceUnavailable, 0)
	default:
		_, _ = io.Copy(io.Discard, r.Body)
		p.writeError(w, http.StatusTooManyRequests, retryAfter)
	}
}

// writeError answers as the API does: PagerDuty's error object or Jira's
// errorMessages, with the rate-limit headers each sends on 429.
func (p *Proxy) writeError(w http.ResponseWriter, status int, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	secs := strconv.Itoa(max(1, int((retryAfter+time.Second-1)/time.Second)))
	var body string
	switch p.flavor {
	case Jira:
		if status == http.StatusTooManyRequests {
			h.Set("Retry-After", secs)
			h.Set("RateLimit-Reason", "jira-burst-based")
		}
		body = fmt.Sprintf(`{"errorMessages":["%s (injected by the e2e proxy)"],"errors":{}}`, http.StatusText(status))
	default:
		code := 2001
		if status == http.StatusTooManyRequests {
			h.Set("Retry-After", secs)
			h.Set("Ratelimit-Limit", "960")
			h.Set("Ratelimit-Remaining", "0")
			h.Set("Ratelimit-Reset", secs)
			code = 2020
		}
		body = fmt.Sprintf(`{"error":{"message":"%s (injected by the e2e proxy)","code":%d}}`, http.StatusText(status), code)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// discard is a ResponseWriter that throws the answer away.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
