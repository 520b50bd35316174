package jira

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gojira "github.com/andygrunwald/go-jira"

	"github.com/aftermath-dev/aftermath/internal/outbound"
)

// BulkLimit is the most issues Jira creates in one bulk request.
const BulkLimit = 50

// Config is what the client needs to reach Jira.
type Config struct {
	// BaseURL is the site people browse (https://<site>.atlassian.net):
	// every link aftermath shows is built on it.
	BaseURL string
	// APIURL is where REST calls go, when not BaseURL: Atlassian's API
	// gateway for scoped API tokens, https://api.atlassian.com/ex/jira/{cloudId}.
	APIURL string
	// Cloud: basic auth with an account's email and API token.
	Email, APIToken string
	// Data Center: a personal access token (bearer), instead.
	PAT string
	// Deployment is "cloud" or "datacenter"; "" or "auto" asks
	// GET /rest/api/2/serverInfo once.
	Deployment string
	// Data Center's Epic Link and Epic Name field IDs; "" looks them up in
	// GET /rest/api/2/field once.
	EpicLinkField, EpicNameField string
	// UserTTL is how long an email's user (or the absence of one) is
	// cached (1h).
	UserTTL time.Duration
	// IssueWriteInterval spaces this client's writes to one issue (edits,
	// comments, transitions): Jira Cloud limits writes per issue
	// (RateLimit-Reason jira-per-issue-on-write). Default
	// DefaultIssueWriteInterval; negative: no spacing.
	IssueWriteInterval time.Duration
	Now                func() time.Time
}

// DefaultIssueWriteInterval is the least time between two writes of one
// client to one issue: at most four a second, far under Jira Cloud's
// per-issue write limit, and unnoticeable for aftermath's few writes to an
// issue.
const DefaultIssueWriteInterval = 250 * time.Millisecond

// Client talks to Jira. It is safe for concurrent use.
type Client struct {
	api  *gojira.Client
	http *http.Client
	cfg  Config
	log  *slog.Logger

	mu         sync.Mutex
	deployment string
	epicLink   string
	epicName   string
	users      map[string]cachedUser
	myself     *User // who this client is, once read
	recent     recentWrites
	spacer     issueSpacer
}

type cachedUser struct {
	u     User
	found bool
	at    time.Time
}

// NewHTTPClient returns the paced, retrying http.Client for Jira (see
// outbound.NewClient).
func NewHTTPClient(cfg outbound.Config, base http.RoundTripper, log *slog.Logger) *http.Client {
	return outbound.NewClient("Jira", cfg, base, log)
}

// New returns a client; httpClient should come from NewHTTPClient (nil makes
// one). Credentials go on every request through go-jira's auth transports
// and are never logged.
func New(cfg Config, log *slog.Logger, httpClient *http.Client) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if httpClient == nil {
		httpClient = NewHTTPClient(outbound.Config{}, nil, log)
	}
	if cfg.UserTTL <= 0 {
		cfg.UserTTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IssueWriteInterval == 0 {
		cfg.IssueWriteInterval = DefaultIssueWriteInterval
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	cfg.APIURL = strings.TrimRight(cmp.Or(cfg.APIURL, cfg.BaseURL), "/")
	var auth http.RoundTripper
	switch {
	case cfg.PAT != "":
		auth = &gojira.PATAuthTransport{Token: cfg.PAT, Transport: httpClient.Transport}
	case cfg.Email != "" || cfg.APIToken != "":
		auth = &gojira.BasicAuthTransport{Username: cfg.Email, Password: cfg.APIToken, Transport: httpClient.Transport}
	default:
		return nil, errors.New("jira: no credentials: set JIRA_EMAIL and JIRA_API_TOKEN (Cloud) or JIRA_PAT (Data Center)")
	}
	// A copy keeps the caller's Timeout and Jar.
	hc := *httpClient
	hc.Transport = auth
	// Redirects are followed by the http.Client inside the retrying
	// transport, which, like every Go http.Client, drops the Authorization
	// header when a redirect leaves the host. go-jira resolves every path
	// against the API URL with a trailing slash, so the gateway's
	// /ex/jira/{cloudId} prefix is kept.
	api, err := gojira.NewClient(&hc, cfg.APIURL)
	if err != nil {
		return nil, fmt.Errorf("jira: API URL: %w", err)
	}
	c := &Client{api: api, http: &hc, cfg: cfg, log: log, users: map[string]cachedUser{}}
	switch strings.ToLower(cfg.Deployment) {
	case Cloud:
		c.deployment = Cloud
	case DataCenter, "server":
		c.deployment = DataCenter
	default:
		// Every Jira Cloud site is served under atlassian.net, and only
		// Cloud behind Atlassian's API gateway: no need to ask. Anything
		// else is asked once.
		site, err1 := url.Parse(cfg.BaseURL)
		api, err2 := url.Parse(cfg.APIURL)
		if err1 == nil && strings.HasSuffix(strings.ToLower(site.Hostname()), ".atlassian.net") ||
			err2 == nil && strings.EqualFold(api.Hostname(), "api.atlassian.com") {
			c.deployment = Cloud
		}
	}
	c.epicLink, c.epicName = cfg.EpicLinkField, cfg.EpicNameField
	return c, nil
}

// BrowseURL is where people open an issue: on the site (BaseURL), never on
// the API URL, nor from the "self" links Jira's answers carry, which point
// at the API host.
func (c *Client) BrowseURL(key string) string { return c.cfg.BaseURL + "/browse/" + key }

// Deployment returns "cloud" or "datacenter", asking the server once when the
// configuration does not say.
func (c *Client) Deployment(ctx context.Context) (string, error) {
	c.mu.Lock()
	d := c.deployment
	c.mu.Unlock()
	if d != "" {
		return d, nil
	}
	var info struct {
		DeploymentType string `json:"deploymentType"`
	}
	if err := c.do(ctx, "read server info", http.MethodGet, "rest/api/2/serverInfo", nil, &info); err != nil {
		return "", err
	}
	d = DataCenter
	if strings.EqualFold(info.DeploymentType, "cloud") {
		d = Cloud
	}
	c.mu.Lock()
	c.deployment = d
	c.mu.Unlock()
	return d, nil
}

// do sends a request and decodes a 2xx answer into out.
func (c *Client) do(ctx context.Context, op, method, path string, body, out any) error {
	status, h, b, err := c.raw(ctx, op, method, path, body)
	if err != nil {
		return err
	}
	if status >= 300 {
		var ae apiError
		_ = json.Unmarshal(b, &ae)
		return c.refusal(statusError(op, status, ae), h)
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return &Error{Op: op, Status: status, Message: "decode answer: " + err.Error()}
		}
	}
	return nil
}

// raw sends a request built by go-jira and returns the status, headers and
// body.
func (c *Client) raw(ctx context.Context, op, method, path string, body any) (int, http.Header, []byte, error) {
	req, err := c.api.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return 0, nil, nil, &Error{Op: op, Message: err.Error()}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, resp.Header, nil, transportError(ctx, op, err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// refusal completes a refusal with what a 429's or 503's headers say (why,
// and when to retry) and logs a rate limit with its reason, after the HTTP
// client's own retries gave up.
func (c *Client) refusal(e *Error, h http.Header) *Error {
	e = e.withRetryAfter(h, c.cfg.Now())
	if e.Status == http.StatusTooManyRequests {
		c.log.Warn("Jira rate limit: giving up for now", "op", e.Op, "reason", e.RateLimitReason, "retry_after", e.RetryAfter)
	}
	return e
}

func transportError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("jira: %s: %w", op, ctx.Err())
	}
	return &Error{Op: op, Message: err.Error(), Transient: true}
}

// goJiraError turns what go-jira's search returns into an *Error.
func (c *Client) goJiraError(ctx context.Context, op string, resp *gojira.Response, err error) error {
	if resp == nil {
		return transportError(ctx, op, err)
	}
	msg := err.Error()
	var je *gojira.Error
	if errors.As(err, &je) {
		msg = apiError{ErrorMessages: je.ErrorMessages, Errors: je.Errors}.String()
	}
	return c.refusal(&Error{Op: op, Status: resp.StatusCode, Message: msg, Transient: resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500}, resp.Header)
}
