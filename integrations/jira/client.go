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
	"slices"
	"strconv"
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

const opFindEpicFields = "find the Epic Link and Epic Name fields"

// epicFields returns Data Center's Epic Link and Epic Name field IDs.
func (c *Client) epicFields(ctx context.Context) (link, name string, err error) {
	c.mu.Lock()
	link, name = c.epicLink, c.epicName
	c.mu.Unlock()
	if link != "" && name != "" {
		return link, name, nil
	}
	var fields []struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Schema struct {
			Custom string `json:"custom"`
		} `json:"schema"`
	}
	if err := c.do(ctx, "list fields", http.MethodGet, "rest/api/2/field", nil, &fields); err != nil {
		return "", "", err
	}
	for _, f := range fields {
		switch {
		case link == "" && (f.Schema.Custom == "com.pyxis.greenhopper.jira:gh-epic-link" || f.Name == "Epic Link"):
			link = f.ID
		case name == "" && (f.Schema.Custom == "com.pyxis.greenhopper.jira:gh-epic-label" || f.Name == "Epic Name"):
			name = f.ID
		}
	}
	if link == "" || name == "" {
		return "", "", &Error{Op: opFindEpicFields, Message: "this Jira has no such fields; name them in the rules (jira.epic_link_field, jira.epic_name_field)"}
	}
	c.mu.Lock()
	c.epicLink, c.epicName = link, name
	c.mu.Unlock()
	return link, name, nil
}

// UserByEmail finds the Jira user with this email; found is false when there
// is none. Answers are cached for UserTTL.
func (c *Client) UserByEmail(ctx context.Context, email string) (User, bool, error) {
	// The query and the match use the trimmed address, as the cache key
	// does: else " a@x" would be cached as not found for "a@x" too.
	email = strings.TrimSpace(email)
	if email == "" {
		return User{}, false, nil
	}
	key := strings.ToLower(email)
	c.mu.Lock()
	cu, ok := c.users[key]
	c.mu.Unlock()
	if ok && c.cfg.Now().Sub(cu.at) < c.cfg.UserTTL {
		return cu.u, cu.found, nil
	}
	d, err := c.Deployment(ctx)
	if err != nil {
		return User{}, false, err
	}
	q := url.Values{}
	if d == Cloud {
		q.Set("query", email)
	} else {
		q.Set("username", email)
	}
	var users []struct {
		AccountID    string `json:"accountId"`
		Name         string `json:"name"`
		EmailAddress string `json:"emailAddress"`
		DisplayName  string `json:"displayName"`
		Active       bool   `json:"active"`
	}
	if err := c.do(ctx, "find the user of an email", http.MethodGet, "rest/api/2/user/search?"+q.Encode(), nil, &users); err != nil {
		return User{}, false, err
	}
	var u User
	found := false
	var hidden []User // active users whose email Cloud does not show
	for _, ju := range users {
		id := ju.AccountID
		if d != Cloud {
			id = ju.Name
		}
		if !ju.Active {
			continue
		}
		if ju.EmailAddress == "" && d == Cloud {
			hidden = append(hidden, User{ID: id, DisplayName: ju.DisplayName, Email: email})
			continue
		}
		if strings.EqualFold(ju.EmailAddress, email) {
			u, found = User{ID: id, DisplayName: ju.DisplayName, Email: ju.EmailAddress}, true
			break
		}
	}
	if !found && len(hidden) == 1 {
		// Cloud hides emails by users' privacy settings, but searches by
		// them: one active user answering the email is that user.
		u, found = hidden[0], true
	}
	c.mu.Lock()
	c.users[key] = cachedUser{u: u, found: found, at: c.cfg.Now()}
	c.mu.Unlock()
	return u, found, nil
}

// fields builds the fields of an issue to create.
func (c *Client) fields(ctx context.Context, spec IssueSpec) (map[string]any, error) {
	d, err := c.Deployment(ctx)
	if err != nil {
		return nil, err
	}
	f := map[string]any{
		"project":   map[string]string{"key": spec.Project},
		"issuetype": map[string]string{"name": spec.IssueType},
		"summary":   spec.Summary,
	}
	if spec.Description != "" {
		f["description"] = spec.Description
	}
	if len(spec.Labels) > 0 {
		f["labels"] = spec.Labels
	}
	if spec.Assignee != "" {
		if d == Cloud {
			f["assignee"] = map[string]string{"accountId": spec.Assignee}
		} else {
			f["assignee"] = map[string]string{"name": spec.Assignee}
		}
	}
	if !spec.DueDate.IsZero() {
		f["duedate"] = spec.DueDate.Format(time.DateOnly)
	}
	if spec.Priority != "" {
		f["priority"] = map[string]string{"name": spec.Priority}
	}
	if spec.Epic != "" || spec.EpicName != "" {
		if d == Cloud {
			if spec.Epic != "" {
				f["parent"] = map[string]string{"key": spec.Epic}
			}
		} else {
			link, name, err := c.epicFields(ctx)
			if err != nil {
				return nil, err
			}
			if spec.Epic != "" {
				f[link] = spec.Epic
			}
			if spec.EpicName != "" {
				f[name] = spec.EpicName
			}
		}
	}
	return f, nil
}

// CreateIssue creates one issue. It is not retried when the answer is lost:
// the caller searches for it (by its unique label) before creating again.
func (c *Client) CreateIssue(ctx context.Context, spec IssueSpec) (string, error) {
	op := "create " + spec.IssueType + " in " + spec.Project
	f, err := c.fields(ctx, spec)
	if err != nil {
		return "", err
	}
	var out struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := c.do(ctx, op, http.MethodPost, "rest/api/2/issue", map[string]any{"fields": f}, &out); err != nil {
		return "", err
	}
	c.recent.created(out.Key, out.ID, spec.Labels, c.cfg.Now())
	return out.Key, nil
}

// CreateIssues creates issues with bulk requests of at most 50. Jira creates
// what it can and refuses the rest item by item: every spec gets a result.
// err is set only when a whole request failed; the results of the requests
// before it stand.
func (c *Client) CreateIssues(ctx context.Context, specs []IssueSpec) ([]BulkResult, error) {
	var out []BulkResult
	for start := 0; start < len(specs); start += BulkLimit {
		chunk := specs[start:min(start+BulkLimit, len(specs))]
		res, err := c.bulk(ctx, start, chunk)
		out = append(out, res...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (c *Client) bulk(ctx context.Context, offset int, specs []IssueSpec) ([]BulkResult, error) {
	op := fmt.Sprintf("bulk-create %d issues", len(specs))
	updates := make([]map[string]any, 0, len(specs))
	for _, s := range specs {
		f, err := c.fields(ctx, s)
		if err != nil {
			return nil, err
		}
		updates = append(updates, map[string]any{"fields": f})
	}
	status, h, body, err := c.raw(ctx, op, http.MethodPost, "rest/api/2/issue/bulk", map[string]any{"issueUpdates": updates})
	if err != nil {
		return nil, err
	}
	var res struct {
		Issues []struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		} `json:"issues"`
		Errors []struct {
			Status        int      `json:"status"`
			ElementErrors apiError `json:"elementErrors"`
			FailedElement int      `json:"failedElementNumber"`
		} `json:"errors"`
		apiError
	}
	if jerr := json.Unmarshal(body, &res); jerr != nil && status < 300 {
		return nil, &Error{Op: op, Status: status, Message: "decode answer: " + jerr.Error()}
	}
	if status >= 300 && len(res.Errors) == 0 {
		// res.Errors shadows the error collection's "errors" map: decode it
		// on its own so that Jira's field messages are kept.
		var ae apiError
		_ = json.Unmarshal(body, &ae)
		return nil, c.refusal(statusError(op, status, ae), h)
	}
	// Jira lists the created issues in request order, skipping the failed
	// elements, which it numbers from 0 in this request; the message names
	// the item by its place in the caller's list, as Index does.
	failed := map[int]error{}
	for _, e := range res.Errors {
		failed[e.FailedElement] = statusError(fmt.Sprintf("%s: item %d", op, offset+e.FailedElement), max(e.Status, 400), e.ElementErrors)
	}
	out := make([]BulkResult, 0, len(specs))
	next := 0
	for i := range specs {
		r := BulkResult{Index: offset + i}
		if ferr, ok := failed[i]; ok {
			r.Err = ferr
		} else if next < len(res.Issues) {
			r.Key = res.Issues[next].Key
			c.recent.created(r.Key, res.Issues[next].ID, specs[i].Labels, c.cfg.Now())
			next++
		} else {
			r.Err = &Error{Op: op, Status: status, Message: "Jira neither created nor refused this item"}
		}
		out = append(out, r)
	}
	return out, nil
}

// Search returns the issues that match jql (at most max), with the fields
// aftermath reads. Cloud uses the enhanced search (SearchV2JQL), because it
// answers 410 to /rest/api/2/search; Data Center uses /rest/api/2/search.
func (c *Client) Search(ctx context.Context, jql string, limit int) ([]Issue, error) {
	return c.search(ctx, jql, limit, nil)
}

// search is Search that, on Cloud, has Jira reconcile the issues with the
// ids in reconcile (at most 50): its eventually consistent search shows
// them as they are now, though they changed moments ago. Data Center's
// search is consistent and takes no such parameter.
func (c *Client) search(ctx context.Context, jql string, limit int, reconcile []int64) ([]Issue, error) {
	op := "search " + jql
	d, err := c.Deployment(ctx)
	if err != nil {
		return nil, err
	}
	fields := []string{"summary", "issuetype", "status", "labels", "parent", "assignee"}
	link := ""
	if d != Cloud {
		// A Jira without epic fields has no epics to report; any other
		// failure must not pass for "no epic", or a caller matching on Epic
		// would miss an issue it made and make it again.
		link, _, err = c.epicFields(ctx)
		var e *Error
		switch {
		case err == nil:
			fields = append(fields, link)
		case errors.As(err, &e) && e.Op == opFindEpicFields:
			// No epic fields, so no epics.
		default:
			return nil, err
		}
	}
	var issues []gojira.Issue
	var resp *gojira.Response
	switch {
	case d == Cloud && len(reconcile) > 0:
		// go-jira sends reconcileIssues as one comma-separated value, the
		// spec as an array: the POST form's JSON body says it plainly.
		issues, err = c.searchReconciled(ctx, op, jql, limit, fields, reconcile)
		if err != nil {
			return nil, err
		}
	case d == Cloud:
		issues, resp, err = c.api.Issue.SearchV2JQLWithContext(ctx, jql, &gojira.SearchOptionsV2{MaxResults: limit, Fields: fields})
	default:
		issues, resp, err = c.api.Issue.SearchWithContext(ctx, jql, &gojira.SearchOptions{MaxResults: limit, Fields: fields})
	}
	if err != nil {
		return nil, c.goJiraError(ctx, op, resp, err)
	}
	out := make([]Issue, 0, len(issues))
	for _, is := range issues {
		c.recent.learn(is.Key, is.ID)
		i := Issue{ID: is.ID, Key: is.Key}
		if f := is.Fields; f != nil {
			i.Summary, i.Labels = f.Summary, f.Labels
			if a := f.Assignee; a != nil {
				i.Assignee = a.AccountID
				if d != Cloud {
					i.Assignee = a.Name
				}
			}
			i.IssueType = f.Type.Name
			if f.Status != nil {
				i.Status = f.Status.Name
			}
			// On Data Center parent is a sub-task's parent, not an epic.
			if f.Parent != nil && d == Cloud {
				i.Epic = f.Parent.Key
			}
			if v, ok := f.Unknowns[link].(string); ok && link != "" {
				i.Epic = v
			}
		}
		out = append(out, i)
	}
	return out, nil
}

// searchReconciled is Cloud's POST /search/jql with reconcileIssues.
func (c *Client) searchReconciled(ctx context.Context, op, jql string, limit int, fields []string, reconcile []int64) ([]gojira.Issue, error) {
	body := map[string]any{"jql": jql, "fields": fields, "reconcileIssues": reconcile}
	if limit > 0 {
		body["maxResults"] = limit
	}
	var out struct {
		Issues []gojira.Issue `json:"issues"`
	}
	if err := c.do(outbound.AsRead(ctx), op, http.MethodPost, "rest/api/2/search/jql", body, &out); err != nil {
		return nil, err
	}
	return out.Issues, nil
}

// AddComment comments on an issue.
func (c *Client) AddComment(ctx context.Context, key, body string) error {
	return c.write(ctx, key, nil, "comment on "+key, http.MethodPost, "rest/api/2/issue/"+url.PathEscape(key)+"/comment", map[string]string{"body": body})
}

// UpdateDescription replaces an issue's description.
func (c *Client) UpdateDescription(ctx context.Context, key, description string) error {
	return c.write(ctx, key, nil, "update the description of "+key, http.MethodPut, "rest/api/2/issue/"+url.PathEscape(key),
		map[string]any{"fields": map[string]string{"description": description}})
}

// write sends a write to the issue key, and remembers that the issue
// changed (with labels added, if any) for the searches that must see it.
func (c *Client) write(ctx context.Context, key string, labels []string, op, method, path string, body any) error {
	if err := c.spacer.wait(ctx, key, c.cfg.IssueWriteInterval); err != nil {
		return fmt.Errorf("jira: %s: %w", op, err)
	}
	if err := c.do(ctx, op, method, path, body, nil); err != nil {
		return err
	}
	c.recent.changed(key, labels, c.cfg.Now())
	return nil
}

// Comment is a comment on an issue, as aftermath reads it.
type Comment struct {
	ID     string
	Author string // the author's user ID (User.ID)
	Body   string
}

// commentPage is how many comments one request asks for: the spec's
// default page.
const commentPage = 100

// Comments returns the bodies of an issue's comments, newest first: every
// page of them.
func (c *Client) Comments(ctx context.Context, key string) ([]string, error) {
	var bodies []string
	err := c.eachComment(ctx, key, func(cm Comment) bool {
		bodies = append(bodies, cm.Body)
		return true
	})
	slices.Reverse(bodies)
	return bodies, err
}

// eachComment calls f with each of an issue's comments, oldest first,
// reading them a page at a time (startAt, maxResults, total) until f
// returns false or there are no more. Oldest first, a comment added while
// the pages are read comes last instead of shifting the pages.
func (c *Client) eachComment(ctx context.Context, key string, f func(Comment) bool) error {
	d, err := c.Deployment(ctx)
	if err != nil {
		return err
	}
	op := "read the comments of " + key
	for start := 0; ; {
		var out struct {
			StartAt  int `json:"startAt"`
			Total    int `json:"total"`
			Comments []struct {
				ID     string `json:"id"`
				Body   string `json:"body"`
				Author *struct {
					AccountID string `json:"accountId"`
					Name      string `json:"name"`
				} `json:"author"`
			} `json:"comments"`
		}
		q := url.Values{"startAt": {strconv.Itoa(start)}, "maxResults": {strconv.Itoa(commentPage)}, "orderBy": {"created"}}
		if err := c.do(ctx, op, http.MethodGet, "rest/api/2/issue/"+url.PathEscape(key)+"/comment?"+q.Encode(), nil, &out); err != nil {
			return err
		}
		for _, cm := range out.Comments {
			x := Comment{ID: cm.ID, Body: cm.Body}
			if a := cm.Author; a != nil {
				x.Author = a.AccountID
				if d != Cloud {
					x.Author = a.Name
				}
			}
			if !f(x) {
				return nil
			}
		}
		start += len(out.Comments)
		if len(out.Comments) == 0 || start >= out.Total {
			return nil
		}
	}
}

// Myself is the Jira user this client authenticates as (GET
// /rest/api/2/myself), read once: the author of every comment aftermath
// writes.
func (c *Client) Myself(ctx context.Context) (User, error) {
	c.mu.Lock()
	me := c.myself
	c.mu.Unlock()
	if me != nil {
		return *me, nil
	}
	d, err := c.Deployment(ctx)
	if err != nil {
		return User{}, err
	}
	var out struct {
		AccountID    string `json:"accountId"`
		Name         string `json:"name"`
		EmailAddress string `json:"emailAddress"`
		DisplayName  string `json:"displayName"`
	}
	if err := c.do(ctx, "read the user aftermath is", http.MethodGet, "rest/api/2/myself", nil, &out); err != nil {
		return User{}, err
	}
	u := User{ID: out.AccountID, DisplayName: out.DisplayName, Email: out.EmailAddress}
	if d != Cloud {
		u.ID = out.Name
	}
	c.mu.Lock()
	c.myself = &u
	c.mu.Unlock()
	return u, nil
}

// AddLabels adds labels to an issue (those it has stay).
func (c *Client) AddLabels(ctx context.Context, key string, labels []string) error {
	ops := make([]map[string]string, 0, len(labels))
	for _, l := range labels {
		ops = append(ops, map[string]string{"add": l})
	}
	return c.write(ctx, key, labels, "label "+key, http.MethodPut, "rest/api/2/issue/"+url.PathEscape(key), map[string]any{"update": map[string]any{"labels": ops}})
}

// Status returns the name of an issue's status.
func (c *Client) Status(ctx context.Context, key string) (string, error) {
	var out struct {
		Fields struct {
			Status struct {
				Name string `json:"name"`
			} `json:"status"`
		} `json:"fields"`
	}
	if err := c.do(ctx, "read the status of "+key, http.MethodGet, "rest/api/2/issue/"+url.PathEscape(key)+"?fields=status", nil, &out); err != nil {
		return "", err
	}
	return out.Fields.Status.Name, nil
}

// Transition moves an issue to the named status, through the transition
// that leads there.
func (c *Client) Transition(ctx context.Context, key, status string) error {
	var out struct {
		Transitions []struct {
			ID string `json:"id"`
			To struct {
				Name string `json:"name"`
			} `json:"to"`
		} `json:"transitions"`
	}
	path := "rest/api/2/issue/" + url.PathEscape(key) + "/transitions"
	if err := c.do(ctx, "list transitions of "+key, http.MethodGet, path, nil, &out); err != nil {
		return err
	}
	for _, t := range out.Transitions {
		if strings.EqualFold(t.To.Name, status) {
			return c.write(ctx, key, nil, "move "+key+" to "+status, http.MethodPost, path, map[string]any{"transition": map[string]string{"id": t.ID}})
		}
	}
	return &Error{Op: "move " + key + " to " + status, Message: "no transition leads there"}
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
