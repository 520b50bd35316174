// Package confluence is aftermath's Confluence client: Confluence Cloud
// through REST v2 (/wiki/api/v2), with v1 (/wiki/rest/api) for what v2 has
// no endpoint for (adding labels, CQL search, the current user), and
// Confluence Data Center through REST v1 (/rest/api) with a personal access
// token. It runs over the same paced, retrying HTTP client as the Jira and
// PagerDuty clients (internal/outbound).
//
// Its writes are made to be exactly once under the workflow's checkpoints:
// every page aftermath creates carries a content property (PropertyKey)
// and a label (IncidentLabel) naming its incident, FindPage looks a page up
// by them and by its title (which Confluence keeps unique in a space)
// before CreatePage makes one, UpdatePage never overwrites a version it did
// not read, and FindComment finds a comment by its marker.
package confluence

import (
	"bytes"
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

	"github.com/aftermath-dev/aftermath/internal/outbound"
)

// Config is what the client needs to reach Confluence.
type Config struct {
	// BaseURL is the site people browse: https://<site>.atlassian.net/wiki
	// (with or without /wiki) on Cloud, the server with its context path
	// (https://wiki.example.com or https://example.com/confluence) on Data
	// Center. Every link aftermath shows is built on it.
	BaseURL string
	// Cloud: basic auth with an account's email and API token.
	Email, APIToken string
	// Data Center: a personal access token (bearer), instead.
	PAT string
	// Deployment is "cloud" or "datacenter"; "" takes Data Center with a
	// PAT and Cloud otherwise.
	Deployment string
	Now        func() time.Time
}

// Client talks to Confluence. It is safe for concurrent use.
type Client struct {
	http       *http.Client
	cfg        Config
	log        *slog.Logger
	deployment string
	root       string // scheme, host and (Data Center) context path
	web        string // what webui links are relative to

	mu     sync.Mutex
	me     string
	spaces map[string]Space
}

// NewHTTPClient returns the paced, retrying http.Client for Confluence (see
// outbound.NewClient).
func NewHTTPClient(cfg outbound.Config, base http.RoundTripper, log *slog.Logger) *http.Client {
	return outbound.NewClient("Confluence", cfg, base, log)
}

// New returns a client; httpClient should come from NewHTTPClient (nil
// makes one). Credentials go on every request's Authorization header and
// are never logged nor put in an error.
func New(cfg Config, log *slog.Logger, httpClient *http.Client) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if httpClient == nil {
		httpClient = NewHTTPClient(outbound.Config{}, nil, log)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("confluence: CONFLUENCE_BASE_URL must be the site's http(s) address, such as https://example.atlassian.net/wiki")
	}
	c := &Client{http: httpClient, cfg: cfg, log: log, spaces: map[string]Space{}}
	switch strings.ToLower(cfg.Deployment) {
	case Cloud:
		c.deployment = Cloud
	case DataCenter, "server":
		c.deployment = DataCenter
	case "":
		c.deployment = Cloud
		if cfg.PAT != "" {
			c.deployment = DataCenter
		}
	default:
		return nil, fmt.Errorf("confluence: deployment %q: want cloud or datacenter", cfg.Deployment)
	}
	switch {
	case c.deployment == Cloud && (cfg.Email == "" || cfg.APIToken == ""):
		return nil, errors.New("confluence: Cloud needs an account's email and API token: set CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN (or Jira's, on the same site)")
	case c.deployment == DataCenter && cfg.PAT == "":
		return nil, errors.New("confluence: Data Center needs a personal access token: set CONFLUENCE_PAT")
	}
	u.RawQuery, u.Fragment = "", ""
	if c.deployment == Cloud {
		u.Path = strings.TrimSuffix(u.Path, "/wiki")
		c.root = u.String()
		c.web = c.root + "/wiki"
	} else {
		c.root = u.String()
		c.web = c.root
	}
	return c, nil
}

// Deployment returns "cloud" or "datacenter".
func (c *Client) Deployment() string { return c.deployment }

// cloud reports whether the client speaks to Confluence Cloud.
func (c *Client) cloud() bool { return c.deployment == Cloud }

// v2 is the address of a Cloud REST v2 path.
func (c *Client) v2(path string) string { return c.root + "/wiki/api/v2" + path }

// v1 is the address of a REST v1 path: under /wiki on Cloud.
func (c *Client) v1(path string) string { return c.web + "/rest/api" + path }

// next is the address of a listing's next page: v2's _links.next is
// relative to the host, v1's to the site's base.
func (c *Client) next(link string, v2 bool) string {
	if v2 {
		return c.root + link
	}
	return c.web + link
}

// webURL is where people open what webui names: on the configured site,
// never on a host an answer names, which a proxy may have rewritten.
func (c *Client) webURL(webui string) string {
	if webui == "" {
		return ""
	}
	return c.web + webui
}

// PageURL is where people open a page, from its space's key and its ID
// alone (for a page known from a checkpoint, without reading it):
// Confluence redirects these addresses to the page's full one.
func (c *Client) PageURL(spaceKey, id string) string {
	if c.cloud() {
		return c.web + "/spaces/" + url.PathEscape(spaceKey) + "/pages/" + url.PathEscape(id)
	}
	return c.web + "/pages/viewpage.action?pageId=" + url.QueryEscape(id)
}

// do sends a JSON request and decodes a 2xx answer into out.
func (c *Client) do(ctx context.Context, op, method, target string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &Error{Op: op, Message: "encode request: " + err.Error()}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return &Error{Op: op, Message: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cloud() {
		req.SetBasicAuth(c.cfg.Email, c.cfg.APIToken)
	} else {
		req.Header.Set("Authorization", "Bearer "+c.cfg.PAT)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return transportError(ctx, op, err)
	}
	if resp.StatusCode >= 300 {
		var ae apiError
		_ = json.Unmarshal(b, &ae)
		e := statusError(op, resp.StatusCode, ae).withRetryAfter(resp.Header, c.cfg.Now())
		if e.Status == http.StatusTooManyRequests {
			c.log.Warn("Confluence rate limit: giving up for now", "op", op, "retry_after", e.RetryAfter)
		}
		return e
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return &Error{Op: op, Status: resp.StatusCode, Message: "decode answer: " + err.Error()}
		}
	}
	return nil
}

// transportError is a request that got no answer. The URL is left out of
// the message: http.Client's errors quote it, and it says nothing a reader
// needs that op does not.
func transportError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("confluence: %s: %w", op, ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &Error{Op: op, Message: err.Error(), Transient: true}
}

// Myself is the ID of the account the client acts as: an account ID on
// Cloud, a user key on Data Center. It is read once.
func (c *Client) Myself(ctx context.Context) (string, error) {
	c.mu.Lock()
	me := c.me
	c.mu.Unlock()
	if me != "" {
		return me, nil
	}
	var out struct {
		AccountID string `json:"accountId"`
		UserKey   string `json:"userKey"`
	}
	if err := c.do(ctx, "read the current user", http.MethodGet, c.v1("/user/current"), nil, &out); err != nil {
		return "", err
	}
	me = out.UserKey
	if c.cloud() {
		me = out.AccountID
	}
	if me == "" {
		return "", &Error{Op: "read the current user", Message: "Confluence named no account: check the credentials' account"}
	}
	c.mu.Lock()
	c.me = me
	c.mu.Unlock()
	return me, nil
}

// Space returns the space with key; it is read once.
func (c *Client) Space(ctx context.Context, key string) (Space, error) {
	c.mu.Lock()
	sp, ok := c.spaces[key]
	c.mu.Unlock()
	if ok {
		return sp, nil
	}
	op := "read space " + key
	if c.cloud() {
		var out struct {
			Results []struct {
				ID         string `json:"id"`
				Key        string `json:"key"`
				Name       string `json:"name"`
				HomepageID string `json:"homepageId"`
			} `json:"results"`
		}
		if err := c.do(ctx, op, http.MethodGet, c.v2("/spaces?"+url.Values{"keys": {key}}.Encode()), nil, &out); err != nil {
			return Space{}, err
		}
		for _, r := range out.Results {
			if r.Key == key {
				sp, ok = Space{ID: r.ID, Key: r.Key, Name: r.Name, HomepageID: r.HomepageID}, true
			}
		}
		if !ok {
			return Space{}, &Error{Op: op, Status: http.StatusNotFound, Message: "no space with this key, or the account cannot see it", kind: ErrNotFound}
		}
	} else {
		var out struct {
			ID       json.Number `json:"id"`
			Key      string      `json:"key"`
			Name     string      `json:"name"`
			Homepage struct {
				ID string `json:"id"`
			} `json:"homepage"`
		}
		if err := c.do(ctx, op, http.MethodGet, c.v1("/space/"+url.PathEscape(key)), nil, &out); err != nil {
			return Space{}, err
		}
		sp = Space{ID: out.ID.String(), Key: out.Key, Name: out.Name, HomepageID: out.Homepage.ID}
	}
	c.mu.Lock()
	c.spaces[key] = sp
	c.mu.Unlock()
	return sp, nil
}
