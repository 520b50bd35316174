package pagerduty

import (
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

	pd "github.com/PagerDuty/go-pagerduty"
)

// PageSize is how many objects one list request asks for: PagerDuty's maximum.
const PageSize = 100

// maxPages bounds one listing, so a misbehaving API cannot keep us paging
// forever (100,000 objects).
const maxPages = 1000

// Config is what the client needs to reach PagerDuty.
type Config struct {
	APIURL string // default https://api.pagerduty.com
	Token  string // REST API token; never logged
	// From is the email of the PagerDuty user that writes are made as
	// (PagerDuty requires a From header on notes, updates and merges).
	From string
	// PriorityTTL is how long the priority list is cached (10m). Users are
	// cached for the process lifetime: their email rarely changes.
	PriorityTTL time.Duration
	Now         func() time.Time
}

// Client talks to the PagerDuty REST API. It is safe for concurrent use.
type Client struct {
	api  *pd.Client
	http *http.Client
	cfg  Config
	log  *slog.Logger

	mu          sync.Mutex
	priorities  []Priority
	prioritiesT time.Time
	users       map[string]User
	fromUser    *User // the From user, once found
}

// New returns a client. httpClient should come from NewHTTPClient; nil makes
// one with the default pacing and retries.
func New(cfg Config, log *slog.Logger, httpClient *http.Client) *Client {
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.pagerduty.com"
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if cfg.PriorityTTL <= 0 {
		cfg.PriorityTTL = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if httpClient == nil {
		httpClient = NewHTTPClient(TransportConfig{}, nil, log)
	}
	api := pd.NewClient(cfg.Token, pd.WithAPIEndpoint(cfg.APIURL))
	api.HTTPClient = httpClient
	return &Client{api: api, http: httpClient, cfg: cfg, log: log, users: map[string]User{}}
}

// From is the email writes are made as.
func (c *Client) From() string { return c.cfg.From }

// Incident reads one incident, with its conference bridge (which PagerDuty
// returns only when asked; go-pagerduty's GetIncident cannot ask).
func (c *Client) Incident(ctx context.Context, id string) (Incident, error) {
	var res struct {
		Incident pd.Incident `json:"incident"`
	}
	q := url.Values{"include[]": {includeConference}}
	if err := c.getJSON(ctx, "get incident "+id, "/incidents/"+url.PathEscape(id), q, &res); err != nil {
		return Incident{}, err
	}
	return fromIncident(res.Incident), nil
}

// includeConference asks PagerDuty for the incidents' conference bridges.
const includeConference = "conference_bridge"

// Incidents lists the incidents of the given services created in
// [since, until), whatever their status, fetching every page.
func (c *Client) Incidents(ctx context.Context, serviceIDs []string, since, until time.Time) ([]Incident, error) {
	op := fmt.Sprintf("list incidents of %d services", len(serviceIDs))
	var out []Incident
	for page := 0; page < maxPages; page++ {
		res, err := c.api.ListIncidentsWithContext(ctx, pd.ListIncidentsOptions{
			Limit: PageSize, Offset: uint(page * PageSize), ServiceIDs: serviceIDs,
			Since: since.UTC().Format(time.RFC3339), Until: until.UTC().Format(time.RFC3339),
			Statuses: []string{StatusTriggered, StatusAcknowledged, StatusResolved},
			SortBy:   "created_at:asc", Includes: []string{includeConference},
		})
		if err != nil {
			return nil, wrap(ctx, op, err)
		}
		for _, in := range res.Incidents {
			out = append(out, fromIncident(in))
		}
		if !res.More || len(res.Incidents) == 0 {
			return out, nil
		}
	}
	return nil, &Error{Op: op, Message: fmt.Sprintf("more than %d pages", maxPages)}
}

// LogEntries lists every entry of an incident's log, oldest first. overview
// asks PagerDuty for the key entries only.
//
// The request is made here rather than through go-pagerduty, whose LogEntry
// drops the entry's note (the text of an annotate entry).
func (c *Client) LogEntries(ctx context.Context, incidentID string, overview bool) ([]LogEntry, error) {
	op := "list log entries of incident " + incidentID
	path := "/incidents/" + url.PathEscape(incidentID) + "/log_entries"
	var out []LogEntry
	for page := 0; page < maxPages; page++ {
		q := url.Values{
			"limit": {strconv.Itoa(PageSize)}, "offset": {strconv.Itoa(page * PageSize)},
			"is_overview": {strconv.FormatBool(overview)}, "time_zone": {"UTC"},
		}
		var res struct {
			LogEntries []logEntryWire `json:"log_entries"`
			More       bool           `json:"more"`
		}
		if err := c.getJSON(ctx, op, path, q, &res); err != nil {
			return nil, err
		}
		for _, e := range res.LogEntries {
			out = append(out, fromLogEntry(incidentID, e))
		}
		if !res.More || len(res.LogEntries) == 0 {
			sortEntries(out)
			return out, nil
		}
	}
	return nil, &Error{Op: op, Message: fmt.Sprintf("more than %d pages", maxPages)}
}

// Notes lists an incident's notes.
func (c *Client) Notes(ctx context.Context, incidentID string) ([]Note, error) {
	ns, err := c.api.ListIncidentNotesWithContext(ctx, url.PathEscape(incidentID))
	if err != nil {
		return nil, wrap(ctx, "list notes of incident "+incidentID, err)
	}
	out := make([]Note, 0, len(ns))
	for _, n := range ns {
		out = append(out, fromNote(n))
	}
	return out, nil
}

// AddNote writes a note on an incident as the From user. It is not retried
// when the answer is lost: the caller looks for the note before writing it
// again.
func (c *Client) AddNote(ctx context.Context, incidentID, content string) (Note, error) {
	op := "add note to incident " + incidentID
	if err := c.needFrom(op); err != nil {
		return Note{}, err
	}
	// go-pagerduty takes the From header from the note's user summary.
	n, err := c.api.CreateIncidentNoteWithContext(ctx, url.PathEscape(incidentID), pd.IncidentNote{
		Content: content, User: pd.APIObject{Summary: c.cfg.From},
	})
	if err != nil {
		return Note{}, wrap(ctx, op, err)
	}
	return fromNote(*n), nil
}

// SetPriority sets an incident's priority.
func (c *Client) SetPriority(ctx context.Context, incidentID, priorityID string) error {
	op := "set priority of incident " + incidentID
	if err := c.needFrom(op); err != nil {
		return err
	}
	_, err := c.api.ManageIncidentsWithContext(ctx, c.cfg.From, []pd.ManageIncidentsOptions{{
		ID: incidentID, Priority: &pd.APIReference{ID: priorityID, Type: "priority_reference"},
	}})
	return wrap(ctx, op, err)
}

// Resolve resolves incidents in one bulk update.
func (c *Client) Resolve(ctx context.Context, incidentIDs []string) error {
	if len(incidentIDs) == 0 {
		return nil
	}
	op := "resolve incidents " + strings.Join(incidentIDs, ",")
	if err := c.needFrom(op); err != nil {
		return err
	}
	opts := make([]pd.ManageIncidentsOptions, 0, len(incidentIDs))
	for _, id := range incidentIDs {
		opts = append(opts, pd.ManageIncidentsOptions{ID: id, Status: StatusResolved})
	}
	_, err := c.api.ManageIncidentsWithContext(ctx, c.cfg.From, opts)
	return wrap(ctx, op, err)
}

// Merge merges the sources into the target, which must be open.
func (c *Client) Merge(ctx context.Context, targetID string, sourceIDs []string) (Incident, error) {
	op := "merge " + strings.Join(sourceIDs, ",") + " into incident " + targetID
	if err := c.needFrom(op); err != nil {
		return Incident{}, err
	}
	src := make([]pd.MergeIncidentsOptions, 0, len(sourceIDs))
	for _, id := range sourceIDs {
		src = append(src, pd.MergeIncidentsOptions{ID: id, Type: "incident_reference"})
	}
	in, err := c.api.MergeIncidentsWithContext(ctx, c.cfg.From, url.PathEscape(targetID), src)
	if err != nil {
		return Incident{}, wrap(ctx, op, err)
	}
	return fromIncident(*in), nil
}

// Priorities lists the account's priorities, highest first, from a cache
// refreshed every PriorityTTL.
func (c *Client) Priorities(ctx context.Context) ([]Priority, error) {
	c.mu.Lock()
	if c.priorities != nil && c.cfg.Now().Sub(c.prioritiesT) < c.cfg.PriorityTTL {
		// A copy: a caller changing its slice must not change the cache.
		p := slices.Clone(c.priorities)
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()
	res, err := c.api.ListPrioritiesWithContext(ctx, pd.ListPrioritiesOptions{Limit: PageSize})
	if err != nil {
		return nil, wrap(ctx, "list priorities", err)
	}
	out := make([]Priority, 0, len(res.Priorities))
	for _, p := range res.Priorities {
		out = append(out, Priority{ID: p.ID, Name: p.Name})
	}
	c.mu.Lock()
	c.priorities, c.prioritiesT = out, c.cfg.Now()
	c.mu.Unlock()
	return slices.Clone(out), nil
}

// PriorityByName finds a priority by its name (case-insensitive).
func (c *Client) PriorityByName(ctx context.Context, name string) (Priority, error) {
	ps, err := c.Priorities(ctx)
	if err != nil {
		return Priority{}, err
	}
	for _, p := range ps {
		if strings.EqualFold(p.Name, name) {
			return p, nil
		}
	}
	return Priority{}, &Error{Op: "find priority " + name, Status: http.StatusNotFound, Message: "no priority of that name on this account"}
}

// User reads a user, from a cache kept for the process lifetime.
func (c *Client) User(ctx context.Context, id string) (User, error) {
	c.mu.Lock()
	u, ok := c.users[id]
	c.mu.Unlock()
	if ok {
		return u, nil
	}
	pu, err := c.api.GetUserWithContext(ctx, url.PathEscape(id), pd.GetUserOptions{})
	if err != nil {
		return User{}, wrap(ctx, "get user "+id, err)
	}
	u = User{ID: pu.ID, Name: pu.Name, Email: pu.Email, HTMLURL: pu.HTMLURL}
	c.mu.Lock()
	c.users[id] = u
	c.mu.Unlock()
	return u, nil
}

// FromUser is the PagerDuty user writes are made as: the user whose email
// is Config.From (PAGERDUTY_FROM_EMAIL), and so the author of every note
// aftermath writes. It is looked up once (GET /users?query=, every page)
// and kept for the process lifetime. found is false without From, or when
// no user has that email (PagerDuty then refuses aftermath's writes too).
func (c *Client) FromUser(ctx context.Context) (u User, found bool, err error) {
	c.mu.Lock()
	cached := c.fromUser
	c.mu.Unlock()
	if cached != nil {
		return *cached, true, nil
	}
	if c.cfg.From == "" {
		return User{}, false, nil
	}
	op := "find the user of PAGERDUTY_FROM_EMAIL"
	for page := 0; page < maxPages; page++ {
		res, err := c.api.ListUsersWithContext(ctx, pd.ListUsersOptions{Limit: PageSize, Offset: uint(page * PageSize), Query: c.cfg.From})
		if err != nil {
			return User{}, false, wrap(ctx, op, err)
		}
		for _, pu := range res.Users {
			if strings.EqualFold(strings.TrimSpace(pu.Email), strings.TrimSpace(c.cfg.From)) {
				u = User{ID: pu.ID, Name: pu.Name, Email: pu.Email, HTMLURL: pu.HTMLURL}
				c.mu.Lock()
				c.fromUser = &u
				c.mu.Unlock()
				return u, true, nil
			}
		}
		if !res.More || len(res.Users) == 0 {
			return User{}, false, nil
		}
	}
	return User{}, false, &Error{Op: op, Message: fmt.Sprintf("more than %d pages", maxPages)}
}

// Related returns the IDs of the incidents PagerDuty relates to this one
// (GET /incidents/{id}/related_incidents, which go-pagerduty lacks). It
// returns ErrUnavailable on accounts whose plan does not include it (402).
func (c *Client) Related(ctx context.Context, incidentID string) ([]string, error) {
	op := "list related incidents of " + incidentID
	var res struct {
		RelatedIncidents []struct {
			Incident pd.APIObject `json:"incident"`
		} `json:"related_incidents"`
	}
	err := c.getJSON(ctx, op, "/incidents/"+url.PathEscape(incidentID)+"/related_incidents", nil, &res)
	if StatusOf(err) == http.StatusPaymentRequired {
		// Both: errors.Is finds ErrUnavailable, and the *Error says a
		// retry is pointless.
		return nil, fmt.Errorf("%w: %w", err, ErrUnavailable)
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, r := range res.RelatedIncidents {
		if r.Incident.ID != "" {
			ids = append(ids, r.Incident.ID)
		}
	}
	return ids, nil
}

// getJSON GETs path through the same paced, retrying HTTP client as
// go-pagerduty's calls and decodes a 2xx answer into out. Errors are those
// wrap returns.
func (c *Client) getJSON(ctx context.Context, op, path string, q url.Values, out any) error {
	u := c.cfg.APIURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &Error{Op: op, Message: err.Error()}
	}
	resp, err := c.api.Do(req, true) // sets the token, Accept and User-Agent
	if err != nil {
		return wrap(ctx, op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return wrap(ctx, op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := http.StatusText(resp.StatusCode)
		var e struct {
			Error *pd.APIErrorObject `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != nil && e.Error.Message != "" {
			msg = errorText(*e.Error)
		}
		return &Error{Op: op, Status: resp.StatusCode, Message: msg, Transient: retryableStatus(resp.StatusCode)}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &Error{Op: op, Status: resp.StatusCode, Message: "decode answer: " + err.Error()}
	}
	return nil
}

var errNoFrom = errors.New("PAGERDUTY_FROM_EMAIL is not set: PagerDuty requires a From user for writes")

func (c *Client) needFrom(op string) error {
	if c.cfg.From == "" {
		return &Error{Op: op, Message: errNoFrom.Error()}
	}
	return nil
}

// sortEntries orders entries by time, oldest first. PagerDuty lists newest
// first, so the list is reversed before the stable sort: entries written in
// the same second (a trigger, its assignment and notifications) then keep
// the order they were written in instead of coming out backwards.
func sortEntries(es []LogEntry) {
	if len(es) > 1 && !es[0].CreatedAt.Before(es[len(es)-1].CreatedAt) {
		slices.Reverse(es)
	}
	slices.SortStableFunc(es, func(a, b LogEntry) int { return a.CreatedAt.Compare(b.CreatedAt) })
}
