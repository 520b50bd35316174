package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/webhook"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/store"
)

// secured is one handlers instance with every admin route, driven through
// ServeHTTP so that each request can come from an address of its own.
type secured struct {
	t     *testing.T
	h     http.Handler
	store *store.Store
	logs  *bytes.Buffer
}

func newSecured(t *testing.T, st *store.Store, edit func(*Options)) *secured {
	t.Helper()
	if st == nil {
		r := redistest.New(t)
		st = store.New(r.Client, r.Prefix)
	}
	logs := &bytes.Buffer{}
	reg := prometheus.NewRegistry()
	o := Options{
		Verifier: webhook.NewVerifier([]string{sampleSecret}), Queue: st, Records: st, Reloader: &fakeReloader{},
		Postmortems: st, Sessions: st, AdminToken: adminToken,
		Registerer: reg, Gatherer: reg, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}
	if edit != nil {
		edit(&o)
	}
	return &secured{t: t, h: New(o), store: st, logs: logs}
}

// do sends a request from remote (host:port) and returns the answer.
func (s *secured) do(method, target, remote string, header map[string]string, body io.Reader) *httptest.ResponseRecorder {
	s.t.Helper()
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = remote
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

func (s *secured) bearer(remote, token string, header ...string) *httptest.ResponseRecorder {
	h := map[string]string{"Authorization": "Bearer " + token}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return s.do(http.MethodGet, "/api/v1/dead-letters", remote, h, nil)
}

func (s *secured) loginForm(remote, token string) *httptest.ResponseRecorder {
	return s.do(http.MethodPost, "/postmortems/login", remote,
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader(url.Values{"token": {token}}.Encode()))
}

func (s *secured) metrics() string {
	return s.do(http.MethodGet, "/metrics", "192.0.2.250:1", nil, nil).Body.String()
}

// countingReader counts what the server read of a body.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// repeatReader is an endless stream of one byte.
type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// The login form is refused before its body is read when it is multipart
// (415) or larger than a few KiB (413): an unauthenticated client can no
// longer make the server read, buffer and spill to temporary files a body
// of any size (issue 24: 800 MiB with token=wrong left 799 MiB of temporary
// files).
func TestLoginFormRefusesLargeAndMultipartBodies(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where multipart parsing would spill its files
	s := newSecured(t, nil, nil)

	// 40 MiB of multipart: past the 32 MiB Echo keeps in memory.
	const fileBytes = 40 << 20
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	_ = mw.WriteField("token", "wrong")
	if _, err := mw.CreateFormFile("f", "big.bin"); err != nil {
		t.Fatal(err)
	}
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	body := &countingReader{r: io.MultiReader(&head, io.LimitReader(repeatReader('A'), fileBytes), strings.NewReader(tail))}
	rec := s.do(http.MethodPost, "/postmortems/login", "192.0.2.1:1000", map[string]string{"Content-Type": mw.FormDataContentType()}, body)
	if read := body.n.Load(); read > SmallBodyBytes+1 {
		t.Errorf("the server read %d bytes of a multipart login before refusing it, want at most %d", read, SmallBodyBytes+1)
	}
	if rec.Code != http.StatusUnsupportedMediaType || !strings.Contains(rec.Body.String(), "application/x-www-form-urlencoded") {
		t.Errorf("multipart login: %d, want 415 saying what to send\n%s", rec.Code, rec.Body)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the multipart login left %d temporary files, want none", len(left))
	}

	// URL-encoded but large: by its Content-Length, or read (chunked).
	big := "token=wrong&pad=" + strings.Repeat("x", 1<<20)
	rec = s.do(http.MethodPost, "/postmortems/login", "192.0.2.1:1000", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader(big))
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "larger than 8192 bytes") {
		t.Errorf("1 MiB login form: %d, want 413\n%s", rec.Code, rec.Body)
	}
	chunked := &countingReader{r: io.MultiReader(strings.NewReader("token=wrong&pad="), io.LimitReader(repeatReader('x'), 64<<20))}
	req := httptest.NewRequest(http.MethodPost, "/postmortems/login", chunked)
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || chunked.n.Load() > SmallBodyBytes+1 {
		t.Errorf("64 MiB chunked login form: %d after reading %d bytes, want 413 after at most %d", rec.Code, chunked.n.Load(), SmallBodyBytes+1)
	}
	// None of these were token guesses: nothing was counted.
	if m := s.metrics(); !strings.Contains(m, `aftermath_admin_auth_failures_total{route="/postmortems/login"} 0`) {
		t.Errorf("refused bodies counted as failures:\n%s", m)
	}
	// The form a browser sends still logs in.
	if rec := s.loginForm("192.0.2.1:1000", adminToken); rec.Code != http.StatusSeeOther {
		t.Errorf("the real form: %d %s", rec.Code, rec.Body)
	}
}

// Every route has a body cap: the ones that take no body refuse one over
// 8 KiB with 413, without reading it, and the webhooks keep their 1 MiB.
func TestEveryRouteCapsItsBody(t *testing.T) {
	s := newSecured(t, nil, nil)
	auth := map[string]string{"Authorization": "Bearer " + adminToken}
	for _, rt := range []struct{ method, path string }{
		{http.MethodGet, "/healthz"}, {http.MethodGet, "/readyz"}, {http.MethodGet, "/metrics"},
		{http.MethodGet, "/api/v1/incidents/Q1"}, {http.MethodGet, "/api/v1/dead-letters"}, {http.MethodGet, "/api/v1/postmortems"},
		{http.MethodGet, "/postmortems"}, {http.MethodGet, "/postmortems/style.css"}, {http.MethodPost, "/postmortems/logout"},
		{http.MethodPost, "/-/reload"}, {http.MethodGet, "/nope"},
	} {
		body := &countingReader{r: io.LimitReader(repeatReader('x'), 1<<20)}
		req := httptest.NewRequest(rt.method, rt.path, body)
		req.ContentLength = 1 << 20
		req.RemoteAddr = "192.0.2.1:1000"
		for k, v := range auth {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || body.n.Load() != 0 {
			t.Errorf("%s %s with 1 MiB: %d after reading %d bytes, want 413 before reading", rt.method, rt.path, rec.Code, body.n.Load())
		}
	}
	rec := s.do(http.MethodPost, "/webhooks/pagerduty", "192.0.2.1:1000", nil, bytes.NewReader(make([]byte, DefaultMaxBodyBytes+1)))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("webhook over 1 MiB: %d", rec.Code)
	}
}

// Ten wrong admin tokens from one address, bearer and login form alike,
// lock that address out: 429 with Retry-After, even for the right token
// (or the lockout would tell which guess was right), while the right token
// from another address still works. Each failure is counted in a metric and
// logged at warn with the address, never the token.
func TestAdminLockoutAfterRepeatedWrongTokens(t *testing.T) {
	s := newSecured(t, nil, nil)
	const attacker, admin = "203.0.113.9:4000", "198.51.100.2:5000"
	for i := range 10 {
		guess := fmt.Sprintf("guess-%02d-not-the-admin-token", i)
		var rec *httptest.ResponseRecorder
		if i%2 == 0 {
			rec = s.bearer(attacker, guess)
		} else {
			rec = s.loginForm(attacker, guess)
		}
		want := http.StatusUnauthorized
		if i == 9 {
			want = http.StatusTooManyRequests
		}
		if rec.Code != want {
			t.Fatalf("wrong token %d: %d, want %d\n%s", i+1, rec.Code, want, rec.Body)
		}
	}
	rec := s.bearer(attacker, adminToken)
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "too many wrong admin tokens from this address") {
		t.Fatalf("right token from the locked address: %d %s, want 429", rec.Code, rec.Body)
	}
	if ra := rec.Header().Get("Retry-After"); ra == "" || ra == "0" || len(ra) > 4 {
		t.Fatalf("Retry-After %q, want the seconds left of the lockout", ra)
	}
	if rec := s.loginForm(attacker, adminToken); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" ||
		!strings.Contains(rec.Body.String(), "Too many wrong tokens from your address") {
		t.Fatalf("login form from the locked address: %d\n%s", rec.Code, rec.Body)
	}
	// Guessing on during the lockout is refused and counted, but not
	// logged line by line: a guesser cannot fill the log.
	for range 50 {
		if rec := s.bearer(attacker, "guess-during-the-lockout"); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("wrong token during the lockout: %d", rec.Code)
		}
	}
	if rec := s.bearer(admin, adminToken); rec.Code != http.StatusOK {
		t.Fatalf("right token from another address: %d %s, want 200", rec.Code, rec.Body)
	}
	if rec := s.loginForm(admin, adminToken); rec.Code != http.StatusSeeOther {
		t.Fatalf("login from another address: %d, want 303", rec.Code)
	}

	m := s.metrics()
	for _, want := range []string{
		`aftermath_admin_auth_failures_total{route="/api/v1/dead-letters"} 55`,
		`aftermath_admin_auth_failures_total{route="/postmortems/login"} 5`,
		`aftermath_admin_auth_lockouts_total{route="/postmortems/login"} 1`,
		`aftermath_admin_auth_failures_total{route="/-/reload"} 0`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	logs := s.logs.String()
	if n := strings.Count(logs, "level=WARN msg=\"admin token refused"); n != 10 {
		t.Errorf("%d warnings of a refused token, want 10 (none during the lockout):\n%s", n, logs)
	}
	if !strings.Contains(logs, "remote=203.0.113.9") || !strings.Contains(logs, "locked out") {
		t.Errorf("the warnings lack the address or the lockout:\n%s", logs)
	}
	if strings.Contains(logs, "guess-") || strings.Contains(logs, adminToken) {
		t.Errorf("a token is in the logs:\n%s", logs)
	}
}

// Replicas share the count through Redis: five wrong tokens on each of two
// replicas lock the address out on both.
func TestAdminLockoutSharedByReplicas(t *testing.T) {
	r := redistest.New(t)
	st := store.New(r.Client, r.Prefix)
	withLimiter := func(o *Options) { o.AuthLimiter = st.NewAuthLimiter(store.DefaultAuthLimits, nil) }
	a, b := newSecured(t, st, withLimiter), newSecured(t, st, withLimiter)
	const attacker = "203.0.113.9:4000"
	for i := range 5 {
		if rec := a.bearer(attacker, "wrong-a"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("replica a, failure %d: %d", i+1, rec.Code)
		}
		rec := b.loginForm(attacker, "wrong-b")
		if want := map[bool]int{true: http.StatusTooManyRequests, false: http.StatusUnauthorized}[i == 4]; rec.Code != want {
			t.Fatalf("replica b, failure %d (the %dth in all): %d, want %d", i+1, 2*i+2, rec.Code, want)
		}
	}
	for name, rep := range map[string]*secured{"a": a, "b": b} {
		if rec := rep.bearer(attacker, adminToken); rec.Code != http.StatusTooManyRequests {
			t.Errorf("replica %s: right token from the locked address: %d, want 429", name, rec.Code)
		}
		if rec := rep.bearer("198.51.100.2:1", adminToken); rec.Code != http.StatusOK {
			t.Errorf("replica %s: right token from another address: %d", name, rec.Code)
		}
	}
	if n, err := r.Client.Get(context.Background(), r.Prefix+":auth:failures:203.0.113.9").Int(); err != nil || n != 10 {
		t.Fatalf("the shared count: %d %v, want 10 under the key prefix", n, err)
	}
}

// With Redis down the admin token still works (the limiter counts in this
// process until Redis answers): no 503, no lockout of the right token.
func TestAdminTokenWorksWhileRedisIsDown(t *testing.T) {
	down := store.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond}), "down")
	s := newSecured(t, nil, func(o *Options) {
		o.AuthLimiter = down.NewAuthLimiter(store.DefaultAuthLimits, nil)
		o.Postmortems, o.Sessions = nil, nil
	})
	if rec := s.do(http.MethodPost, "/-/reload", "192.0.2.1:1", map[string]string{"Authorization": "Bearer " + adminToken}, nil); rec.Code != http.StatusOK {
		t.Fatalf("reload with the right token while Redis is down: %d %s", rec.Code, rec.Body)
	}
	for i := range 10 {
		rec := s.do(http.MethodPost, "/-/reload", "203.0.113.9:1", map[string]string{"Authorization": "Bearer wrong"}, nil)
		if (rec.Code == http.StatusTooManyRequests) != (i == 9) {
			t.Fatalf("wrong token %d while Redis is down: %d", i+1, rec.Code)
		}
	}
}

// X-Forwarded-For is believed only through the proxies the operator
// declared. By default no proxy is trusted, so a client on a private
// network (or this host) cannot dodge the lockout by sending a new
// X-Forwarded-For with each guess; with AFTERMATH_TRUSTED_PROXIES the
// proxy's clients are told apart, and a forged hop before the proxy is not
// believed.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	s := newSecured(t, nil, nil)
	for i := range 10 {
		rec := s.bearer("10.0.0.5:4000", "wrong", "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		if (rec.Code == http.StatusTooManyRequests) != (i == 9) {
			t.Fatalf("guess %d with a new X-Forwarded-For from a private address: %d, want the 10th locked out", i+1, rec.Code)
		}
	}
	if !strings.Contains(s.logs.String(), "remote=10.0.0.5") || strings.Contains(s.logs.String(), "remote=198.51.100.") {
		t.Errorf("log lines carry a forwarded address from an untrusted peer:\n%s", s.logs)
	}

	proxy := netip.MustParsePrefix("10.0.0.0/24")
	p := newSecured(t, nil, func(o *Options) { o.TrustedProxies = []netip.Prefix{proxy} })
	for i := range 10 {
		// The client forges a first hop; the proxy appends the real one.
		p.bearer("10.0.0.5:4000", "wrong", "X-Forwarded-For", fmt.Sprintf("192.0.2.%d, 203.0.113.9", i+1))
	}
	if rec := p.bearer("10.0.0.5:4000", adminToken, "X-Forwarded-For", "203.0.113.9"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("the locked client through the trusted proxy: %d, want 429", rec.Code)
	}
	if rec := p.bearer("10.0.0.5:4000", adminToken, "X-Forwarded-For", "203.0.113.10"); rec.Code != http.StatusOK {
		t.Fatalf("another client through the trusted proxy: %d, want 200", rec.Code)
	}
	// A peer outside the declared proxies is its own client, whatever it forwards.
	for range 10 {
		p.bearer("10.0.1.5:4000", "wrong", "X-Forwarded-For", "203.0.113.77")
	}
	if rec := p.bearer("10.0.1.5:4000", adminToken, "X-Forwarded-For", "203.0.113.78"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("an untrusted peer chose its address: %d, want 429", rec.Code)
	}
}

// The page's forms post only from the page: a logout (or login) posted by
// another site is refused with 403 and clears nothing (issue 24: any site
// could log a manager out). The page's own forms and non-browser clients
// still work.
func TestPageFormsRefuseCrossOriginPosts(t *testing.T) {
	env := newOverview(t, adminToken, nil)
	host := strings.TrimPrefix(env.url, "http://")
	for _, tc := range []struct {
		path   string
		header map[string]string
	}{
		{"/postmortems/logout", map[string]string{"Origin": "https://evil.example"}},
		{"/postmortems/logout", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"/postmortems/logout", map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"/postmortems/login", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"/postmortems/login", map[string]string{"Origin": "http://" + host + ".evil.example"}},
	} {
		resp := postForm(t, env.url+tc.path, url.Values{"token": {adminToken}}, tc.header)
		if body := readBody(resp); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 || !strings.Contains(body, "cross-origin request refused") {
			t.Errorf("%s with %v: %d %v %s, want 403 and no cookie", tc.path, tc.header, resp.StatusCode, resp.Cookies(), body)
		}
	}
	for _, h := range []map[string]string{
		{"Origin": env.url, "Sec-Fetch-Site": "same-origin"},
		{"Origin": env.url},
		nil, // curl
	} {
		resp := postForm(t, env.url+"/postmortems/logout", nil, h)
		if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
			t.Errorf("same-origin logout %v: %d", h, resp.StatusCode)
		}
		resp = postForm(t, env.url+"/postmortems/login", url.Values{"token": {adminToken}}, h)
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("same-origin login %v: %d", h, resp.StatusCode)
		}
	}
}

// Logging out revokes the session: a copy of the cookie stops working at
// once, on every replica, though it has not expired (issue 24: it stayed
// valid 12 hours after logout); another session is untouched.
func TestLogoutRevokesTheSession(t *testing.T) {
	env := newOverview(t, adminToken, overviewSeeds())
	login := func() *http.Cookie {
		resp := postForm(t, env.url+"/postmortems/login", url.Values{"token": {adminToken}}, nil)
		if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		return resp.Cookies()[0]
	}
	ck, other := login(), login()
	if ck.Value == other.Value {
		t.Fatal("two logins got the same session")
	}
	copied := *ck
	req, _ := http.NewRequest(http.MethodPost, env.url+"/postmortems/logout", nil)
	req.AddCookie(ck)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if code, _, body := get(t, env.url+"/postmortems", "", &copied); code != http.StatusUnauthorized || strings.Contains(body, "Checkout down") ||
		!strings.Contains(body, "You logged out of this session") {
		t.Fatalf("the copied cookie after logout: %d\n%s", code, body)
	}
	// Another replica on the same Redis refuses it too.
	replica := httptest.NewServer(New(Options{Postmortems: env.store, Sessions: env.store, AdminToken: adminToken, Now: env.clock.Now,
		Severities: func() []string { return []string{"SEV-1", "SEV-2"} }}))
	t.Cleanup(replica.Close)
	if code, _, _ := get(t, replica.URL+"/postmortems", "", &copied); code != http.StatusUnauthorized {
		t.Fatalf("the copied cookie on another replica: %d, want 401", code)
	}
	if code, _, body := get(t, env.url+"/postmortems", "", other); code != http.StatusOK || !strings.Contains(body, "Checkout down") {
		t.Fatalf("the other session after the logout: %d", code)
	}
}

// A proxy that writes its hops as ip:port (Azure's Application Gateway
// does) still tells its clients apart: an unreadable hop used to make every
// client the proxy itself, so one guesser locked everyone out.
func TestForwardedHopsWithPortsAreTheirClients(t *testing.T) {
	p := newSecured(t, nil, func(o *Options) { o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")} })
	for range 10 {
		p.bearer("10.0.0.5:4000", "wrong", "X-Forwarded-For", "192.0.2.66:51234")
	}
	if rec := p.bearer("10.0.0.5:4000", adminToken, "X-Forwarded-For", "192.0.2.66:51300"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("the guesser, from another port: %d, want 429", rec.Code)
	}
	if rec := p.bearer("10.0.0.5:4000", adminToken, "X-Forwarded-For", "198.51.100.7:40000"); rec.Code != http.StatusOK {
		t.Fatalf("another client through the same proxy: %d, want 200", rec.Code)
	}
	if rec := p.bearer("10.0.0.5:4000", adminToken, "X-Forwarded-For", "[2001:db8::7]:443"); rec.Code != http.StatusOK {
		t.Fatalf("an IPv6 client with a port: %d, want 200", rec.Code)
	}
	if !strings.Contains(p.logs.String(), "remote=192.0.2.66") {
		t.Errorf("the log does not name the guesser:\n%s", p.logs)
	}
}

// Behind an ingress that asks for HTTP basic auth, the browser sends
// "Authorization: Basic ..." on every request: the login cookie still opens
// the page (a non-bearer header is not a wrong admin token).
func TestLoginCookieWorksBehindBasicAuth(t *testing.T) {
	s := newSecured(t, nil, nil)
	login := s.loginForm("192.0.2.1:1000", adminToken)
	var ck *http.Cookie
	for _, c := range login.Result().Cookies() {
		if c.Name == sessionCookie {
			ck = c
		}
	}
	if ck == nil {
		t.Fatalf("login: %d, no session cookie", login.Code)
	}
	rec := s.do(http.MethodGet, "/postmortems", "192.0.2.1:1000",
		map[string]string{"Authorization": "Basic " + "aW5ncmVzczpwYXNz", "Cookie": ck.Name + "=" + ck.Value}, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("the page with the cookie and a basic-auth header: %d %s", rec.Code, rec.Body.String()[:min(200, rec.Body.Len())])
	}
	if !strings.Contains(rec.Body.String(), "Post-mortems") || strings.Contains(rec.Body.String(), "<title>Log in") {
		t.Fatalf("the page with the cookie is not the overview:\n%s", rec.Body.String()[:min(300, rec.Body.Len())])
	}
	if rec := s.do(http.MethodGet, "/postmortems", "192.0.2.1:1000", map[string]string{"Authorization": "Basic aW5ncmVzczpwYXNz"}, nil); !strings.Contains(rec.Body.String(), "<title>Log in") {
		t.Fatalf("a basic-auth header alone: %d, not the login form", rec.Code)
	}
}
