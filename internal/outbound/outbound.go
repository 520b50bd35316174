// Package outbound is the HTTP client under aftermath's integrations: it
// paces requests under the service's rate limit, waits out a 429 as long as
// the service asks, backs off on 5xx answers and transport errors for reads,
// and never retries a write that may have taken effect.
package outbound

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"
)

// Config tunes the client. Zero values take the defaults in parentheses.
type Config struct {
	// RequestsPerMinute paces every request, retries included (900: under
	// PagerDuty's 960 per minute per key, leaving room for other tools).
	RequestsPerMinute int
	Burst             int           // requests allowed at once before pacing applies (10)
	MaxRetries        int           // retries of one request (4)
	MinBackoff        time.Duration // first wait after a 5xx or a timeout (500ms)
	MaxBackoff        time.Duration // longest wait, also the cap on Retry-After (60s)
	AttemptTimeout    time.Duration // one HTTP attempt, answer read included, pacing wait excluded (30s)
	// Pacer, when set, paces instead of a limiter of this client alone at
	// RequestsPerMinute: store.Pacer shares one pace among every replica.
	Pacer Pacer
}

// Pacer blocks until a request may go, or ctx ends (rate.Limiter is one).
type Pacer interface {
	Wait(ctx context.Context) error
}

// The default pace: 900 requests a minute, under PagerDuty's 960 per key,
// after a burst of 10.
const (
	DefaultRequestsPerMinute = 900
	DefaultBurst             = 10
)

func (c Config) withDefaults() Config {
	if c.RequestsPerMinute <= 0 {
		c.RequestsPerMinute = DefaultRequestsPerMinute
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 4
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 60 * time.Second
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 30 * time.Second
	}
	return c
}

// NewClient returns an http.Client for the named service (for log lines):
// it paces requests, waits out a 429 as long as Retry-After or
// ratelimit-reset say, and backs off on 5xx answers and transport errors. A
// 429 is retried for every method, because the service did not act on the
// request; a write that failed otherwise is never retried here, because it may
// have taken effect: the workflow looks it up first.
//
// base is the transport underneath (nil: a fresh pooled transport).
func NewClient(service string, cfg Config, base http.RoundTripper, log *slog.Logger) *http.Client {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	// The attempt timeout sits under the pacing: a request waiting its turn
	// is not failed for waiting longer than one attempt may take.
	var pacer Pacer = rate.NewLimiter(rate.Limit(float64(cfg.RequestsPerMinute)/60), cfg.Burst)
	if cfg.Pacer != nil {
		pacer = cfg.Pacer
	}
	paced := &pacedTransport{
		limiter: pacer,
		base:    &countedTransport{api: apiLabel(service), base: &attemptTimeout{d: cfg.AttemptTimeout, base: base}},
	}
	inner := &http.Client{Transport: paced}
	mk := func(policy retryablehttp.CheckRetry) http.RoundTripper {
		rc := retryablehttp.NewClient()
		rc.HTTPClient = inner
		rc.Logger = nil // its messages carry whole URLs; ours below carry what is useful
		rc.RetryMax = cfg.MaxRetries
		rc.RetryWaitMin = cfg.MinBackoff
		rc.RetryWaitMax = cfg.MaxBackoff
		rc.CheckRetry = policy
		rc.Backoff = backoff
		rc.ErrorHandler = lastAnswer
		rc.RequestLogHook = func(_ retryablehttp.Logger, r *http.Request, n int) {
			if n > 0 {
				log.Warn("retrying "+service+" request", "method", r.Method, "path", r.URL.Path, "retry", n)
			}
		}
		rc.ResponseLogHook = func(_ retryablehttp.Logger, resp *http.Response) {
			if resp.StatusCode == http.StatusTooManyRequests {
				// Jira says which limit it applied (RateLimit-Reason):
				// per endpoint, per issue or a quota.
				log.Warn(service+" rate limit", "method", resp.Request.Method, "path", resp.Request.URL.Path,
					"reason", resp.Header.Get("RateLimit-Reason"), "retry_after", resp.Header.Get("Retry-After"))
			}
		}
		return &retryablehttp.RoundTripper{Client: rc}
	}
	return &http.Client{Transport: &byMethod{
		read:  mk(readPolicy),
		write: mk(writePolicy),
	}}
}

// lastAnswer hands the last answer back rather than a generic "giving up"
// error, so the API client reports the service's own status and message. With an
// error (the context ended) it closes the answer it drops: http.Client
// ignores a response that comes with an error, without closing its body.
func lastAnswer(resp *http.Response, err error, _ int) (*http.Response, error) {
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, err
	}
	return resp, nil
}

type readKey struct{}

// AsRead marks the requests made under ctx as reads that change nothing
// whatever their method (Jira's POST /search/jql), so that they are retried
// on a 5xx or a transport error like a GET.
func AsRead(ctx context.Context) context.Context { return context.WithValue(ctx, readKey{}, true) }

func isRead(ctx context.Context) bool { v, _ := ctx.Value(readKey{}).(bool); return v }

// byMethod sends reads and writes through different retry policies.
type byMethod struct{ read, write http.RoundTripper }

func (b *byMethod) RoundTrip(r *http.Request) (*http.Response, error) {
	if isRead(r.Context()) {
		return b.read.RoundTrip(r)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return b.read.RoundTrip(r)
	}
	return b.write.RoundTrip(r)
}

// readPolicy retries a read on 429, 5xx and transport errors.
func readPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return !errors.Is(err, context.Canceled), nil
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, nil
}

// writePolicy retries a write only when the service said it did not act on it.
func writePolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil || resp == nil {
		return false, nil
	}
	return resp.StatusCode == http.StatusTooManyRequests, nil
}

// backoff waits as long as a 429 or 503 asks (Retry-After in seconds or as a
// date, or PagerDuty's ratelimit-reset in seconds), else exponentially with
// full jitter, never longer than max.
func backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	minWait = min(minWait, maxWait) // else the jitter range below is empty
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := serverWait(resp.Header, time.Now()); ok {
			return min(d, maxWait)
		}
	}
	d := minWait << min(attempt, 20)
	if d <= 0 || d > maxWait {
		d = maxWait
	}
	return minWait/2 + rand.N(d-minWait/2+1)
}

// longestServerWait bounds what serverWait returns, far above any sensible
// MaxBackoff, so that a huge value cannot overflow into a negative wait.
const longestServerWait = 24 * time.Hour

// serverWait reads how long the server asked us to wait.
func serverWait(h http.Header, now time.Time) (time.Duration, bool) {
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(min(s, int(longestServerWait/time.Second))) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if v := h.Get("ratelimit-reset"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 { // NaN fails s >= 0
			return time.Duration(min(s, longestServerWait.Seconds()) * float64(time.Second)), true
		}
	}
	return 0, false
}

// pacedTransport waits for the rate limiter before every attempt.
type pacedTransport struct {
	limiter Pacer
	base    http.RoundTripper
}

func (p *pacedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := p.limiter.Wait(r.Context()); err != nil {
		return nil, err
	}
	return p.base.RoundTrip(r)
}

// attemptTimeout bounds one attempt, from sending the request to closing
// the answer's body, as http.Client.Timeout would.
type attemptTimeout struct {
	d    time.Duration
	base http.RoundTripper
}

func (a *attemptTimeout) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(r.Context(), a.d)
	resp, err := a.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases the attempt's context with the body.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
