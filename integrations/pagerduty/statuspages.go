package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"
)

// Status pages (GET /status_pages/{id}/posts, PUT
// /status_pages/{id}/posts/{post_id}/postmortem): go-pagerduty has none of
// them, so the requests are made here, through the same paced, retrying
// HTTP client and go-pagerduty's request preparation (token, Accept,
// User-Agent, Content-Type).

// MaxPostmortemMessage is the longest postmortem message PagerDuty takes
// (StatusPagePostmortemRequest.message's maxLength), in characters.
const MaxPostmortemMessage = 10000

// StatusPage is a PagerDuty status page.
type StatusPage struct {
	ID   string
	Name string
	// URL is where people read it: the customer's domain or
	// *.trust.pagerduty.com.
	URL string
}

// StatusPagePost is a post on a status page.
type StatusPagePost struct {
	ID       string
	PageID   string
	Title    string
	PostType string // incident or maintenance
	// Linked is the resource the post is linked to: an incident's ID for
	// a post made from an incident ("" when none).
	Linked, LinkedType string
	// Postmortem is the ID of its postmortem, "" when it has none.
	Postmortem string
	Self       string // its API URL
}

// Postmortem is a status-page post's postmortem.
type Postmortem struct {
	ID                string
	PostID            string
	Message           string
	NotifySubscribers bool
	ReportedAt        time.Time
}

type statusPageWire struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

type spRefWire struct {
	ID   string `json:"id"`
	Type string `json:"type,omitempty"`
}

type postWire struct {
	ID             string     `json:"id"`
	Self           string     `json:"self"`
	Title          string     `json:"title"`
	PostType       string     `json:"post_type"`
	StatusPage     spRefWire  `json:"status_page"`
	LinkedResource *spRefWire `json:"linked_resource"`
	Postmortem     *spRefWire `json:"postmortem"`
}

type postmortemWire struct {
	ID                string    `json:"id,omitempty"`
	Type              string    `json:"type"`
	Post              spRefWire `json:"post"`
	Message           string    `json:"message"`
	NotifySubscribers bool      `json:"notify_subscribers"`
	ReportedAt        string    `json:"reported_at,omitempty"`
}

func (w postmortemWire) postmortem() Postmortem {
	return Postmortem{ID: w.ID, PostID: w.Post.ID, Message: w.Message, NotifySubscribers: w.NotifySubscribers, ReportedAt: parseTime(w.ReportedAt)}
}

// StatusPage finds a status page by its ID among the account's (GET
// /status_pages, every page). found is false when the account has none of
// that ID.
func (c *Client) StatusPage(ctx context.Context, id string) (p StatusPage, found bool, err error) {
	op := "find status page " + id
	for page := 0; page < maxPages; page++ {
		var res struct {
			StatusPages []statusPageWire `json:"status_pages"`
			More        bool             `json:"more"`
		}
		if err := c.getJSON(ctx, op, "/status_pages", pageQuery(page), &res); err != nil {
			return StatusPage{}, false, err
		}
		for _, sp := range res.StatusPages {
			if sp.ID == id {
				return StatusPage(sp), true, nil
			}
		}
		if !res.More || len(res.StatusPages) == 0 {
			return StatusPage{}, false, nil
		}
	}
	return StatusPage{}, false, &Error{Op: op, Message: fmt.Sprintf("more than %d pages", maxPages)}
}

// LinkedPost finds the incident post of status page pageID that is linked
// to incidentID (its linked_resource), reading every page of the page's
// posts. found is false when none is.
func (c *Client) LinkedPost(ctx context.Context, pageID, incidentID string) (p StatusPagePost, found bool, err error) {
	op := fmt.Sprintf("find the post of status page %s linked to incident %s", pageID, incidentID)
	path := "/status_pages/" + url.PathEscape(pageID) + "/posts"
	for page := 0; page < maxPages; page++ {
		// The spec lists no limit and offset for this list, yet answers
		// with classic pagination's fields: they are sent only to ask for
		// a page after the first.
		q := url.Values{"post_type": {"incident"}}
		if page > 0 {
			q = pageQuery(page)
			q.Set("post_type", "incident")
		}
		var res struct {
			Posts  []postWire `json:"posts"`
			More   bool       `json:"more"`
			Limit  int        `json:"limit"`
			Offset int        `json:"offset"`
		}
		if err := c.getJSON(ctx, op, path, q, &res); err != nil {
			return StatusPagePost{}, false, err
		}
		for _, w := range res.Posts {
			if w.LinkedResource != nil && w.LinkedResource.ID == incidentID {
				return fromPost(pageID, w), true, nil
			}
		}
		if !res.More || len(res.Posts) == 0 {
			return StatusPagePost{}, false, nil
		}
	}
	return StatusPagePost{}, false, &Error{Op: op, Message: fmt.Sprintf("more than %d pages", maxPages)}
}

func pageQuery(page int) url.Values {
	return url.Values{"limit": {strconv.Itoa(PageSize)}, "offset": {strconv.Itoa(page * PageSize)}}
}

func fromPost(pageID string, w postWire) StatusPagePost {
	p := StatusPagePost{ID: w.ID, PageID: pageID, Title: w.Title, PostType: w.PostType, Self: w.Self}
	if w.LinkedResource != nil {
		p.Linked, p.LinkedType = w.LinkedResource.ID, w.LinkedResource.Type
	}
	if w.Postmortem != nil {
		p.Postmortem = w.Postmortem.ID
	}
	return p
}

// Postmortem reads a post's postmortem. found is false when the post has
// none (PagerDuty answers 404).
func (c *Client) Postmortem(ctx context.Context, pageID, postID string) (pm Postmortem, found bool, err error) {
	op := fmt.Sprintf("get the postmortem of post %s of status page %s", postID, pageID)
	var res struct {
		Postmortem postmortemWire `json:"postmortem"`
	}
	err = c.getJSON(ctx, op, postmortemPath(pageID, postID), nil, &res)
	if IsNotFound(err) {
		return Postmortem{}, false, nil
	}
	if err != nil {
		return Postmortem{}, false, err
	}
	return res.Postmortem.postmortem(), true, nil
}

// PutPostmortem creates or replaces a post's postmortem. It is not
// retried when the answer is lost or PagerDuty fails (a 429 excepted: it
// did nothing): with notify_subscribers, a second write notifies the
// subscribers again, so the caller reads the postmortem first.
func (c *Client) PutPostmortem(ctx context.Context, pageID, postID, message string, notifySubscribers bool) (Postmortem, error) {
	op := fmt.Sprintf("put the postmortem of post %s of status page %s", postID, pageID)
	if n := len([]rune(message)); n > MaxPostmortemMessage {
		return Postmortem{}, &Error{Op: op, Status: http.StatusBadRequest,
			Message: fmt.Sprintf("the message has %d characters; PagerDuty takes at most %d", n, MaxPostmortemMessage)}
	}
	body := map[string]postmortemWire{"postmortem": {
		Type: "status_page_post_postmortem", Post: spRefWire{ID: postID, Type: "status_page_post"},
		Message: message, NotifySubscribers: notifySubscribers,
	}}
	var res struct {
		Postmortem postmortemWire `json:"postmortem"`
	}
	if err := c.sendJSON(ctx, op, http.MethodPut, postmortemPath(pageID, postID), body, &res); err != nil {
		return Postmortem{}, err
	}
	return res.Postmortem.postmortem(), nil
}

func postmortemPath(pageID, postID string) string {
	return "/status_pages/" + url.PathEscape(pageID) + "/posts/" + url.PathEscape(postID) + "/postmortem"
}

// sendJSON sends a write with a JSON body through the same client as
// getJSON and decodes a 2xx answer into out; errors are like getJSON's.
func (c *Client) sendJSON(ctx context.Context, op, method, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return &Error{Op: op, Message: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.APIURL+path, bytes.NewReader(b))
	if err != nil {
		return &Error{Op: op, Message: err.Error()}
	}
	resp, err := c.api.Do(req, true) // sets the token, Accept, User-Agent and Content-Type
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
		return &Error{Op: op, Status: resp.StatusCode, Message: strings.TrimSpace(msg), Transient: retryableStatus(resp.StatusCode)}
	}
	if out != nil && len(body) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			return &Error{Op: op, Status: resp.StatusCode, Message: "decode answer: " + err.Error()}
		}
	}
	return nil
}
