package confluence

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Deployments.
const (
	Cloud      = "cloud"
	DataCenter = "datacenter"
)

// PropertyKey is the content property aftermath sets on every page it
// creates, holding the incident the page is the post-mortem of
// ({"incident": "<PagerDuty ID>"}): how a retry finds the page an earlier
// attempt made before making another.
const PropertyKey = "aftermath"

// Space is a Confluence space.
type Space struct {
	ID         string
	Key        string
	Name       string
	HomepageID string
}

// PageSpec is a page to create.
type PageSpec struct {
	SpaceKey string
	ParentID string // "" for the space's home page (Cloud) or the space's top level (Data Center)
	Title    string // at most 255 characters, unique in the space
	// Body is storage format (render.Storage). It should open with a
	// paragraph linking to the incident in PagerDuty
	// (render.StorageBackLinks): that link is how a retry knows the page
	// as this incident's when a crash came between its create and its mark.
	Body       string
	IncidentID string // the PagerDuty incident the page is for: its property and label
	Labels     []string
}

// Page is what aftermath reads of a page.
type Page struct {
	ID       string
	Title    string
	SpaceID  string
	ParentID string
	// Body is the current version's storage format; "" when read from a
	// listing, which does not carry it.
	Body      string
	Version   Version
	CreatedBy string // account ID (Cloud) or user key (Data Center)
	URL       string // where people open the page
	// EditedByOthers is true when the current version was saved by someone
	// other than aftermath's own account: a person has edited the page, and
	// aftermath must not overwrite it. Set by GetPage.
	EditedByOthers bool
	// Marked is true when the page carries PropertyKey for its incident;
	// FindPage also returns a page aftermath created but did not get to mark
	// (a crash between the two) when its body opens with a link to the
	// incident, and then MarkPage finishes it.
	Marked bool
}

// Version is a page's version.
type Version struct {
	Number  int
	Author  string // account ID (Cloud) or user key (Data Center)
	Message string
	When    time.Time
}

// PageUpdate is a new version of a page.
type PageUpdate struct {
	ID string
	// Version is the number of the version the new body was made from:
	// the update is refused (ErrVersionMoved) when the page has moved on.
	Version int
	Title   string
	Body    string // storage format
	Message string // the version's message, shown in the page's history
}

// PageRef is a page in a listing.
type PageRef struct {
	ID    string
	Title string
}

// Comment is a footer comment on a page.
type Comment struct {
	ID     string
	Author string // account ID (Cloud) or user key (Data Center)
	Body   string // storage format
	URL    string
}

// Refusals the workflow tells apart; errors.Is matches an *Error against
// them.
var (
	// ErrNotFound: the page (or space, or property) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrVersionMoved: the page has a newer version than the one an
	// update was made from (someone saved it meanwhile); nothing was
	// written.
	ErrVersionMoved = errors.New("the page has a newer version than the one read")
	// ErrTitleTaken: another page of the space has the title.
	ErrTitleTaken = errors.New("a page of the space has this title")
)

// Error is a failed Confluence call.
type Error struct {
	Op      string
	Status  int // 0 for a transport error
	Message string
	// Transient is true when the same call may succeed later (429, 5xx,
	// transport errors).
	Transient bool
	// RetryAfter is how long a 429 or 503 asked to wait, and Until when
	// that ends; zero when it did not say.
	RetryAfter time.Duration
	Until      time.Time
	kind       error // one of the Err* refusals, or nil
}

// Retryable reports whether the same call may succeed later: what the
// workflow asks of every integration's errors.
func (e *Error) Retryable() bool { return e.Transient }

// RetryAt is the earliest time a retry may succeed: when Confluence's
// Retry-After ends. The zero time when it did not say.
func (e *Error) RetryAt() time.Time { return e.Until }

// Unapplied reports whether Confluence answered that it did not do what was
// asked (429, before any work), so that a write that failed this way took
// no effect. A 5xx or a lost answer may follow a write that did: the
// workflow looks it up (FindPage, FindComment) before writing again.
func (e *Error) Unapplied() bool { return e.Status == http.StatusTooManyRequests }

// Is matches the refusals ErrNotFound, ErrVersionMoved and ErrTitleTaken.
func (e *Error) Is(target error) bool { return e.kind != nil && e.kind == target }

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("confluence: %s: %s", e.Op, e.Message)
	}
	status := fmt.Sprintf("HTTP %d", e.Status)
	if !e.Until.IsZero() {
		status += ", retry after " + e.RetryAfter.String()
	}
	return fmt.Sprintf("confluence: %s: %s: %s", e.Op, status, e.Message)
}

// longestRetryAfter bounds a Retry-After taken from an answer.
const longestRetryAfter = 24 * time.Hour

// withRetryAfter notes on e, a 429 or 503, when to retry.
func (e *Error) withRetryAfter(h http.Header, now time.Time) *Error {
	if e.Status != http.StatusTooManyRequests && e.Status != http.StatusServiceUnavailable {
		return e
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(min(s, int(longestRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		e.RetryAfter = min(max(t.Sub(now), 0), longestRetryAfter).Round(time.Second)
	} else {
		return e
	}
	e.Until = now.Add(e.RetryAfter)
	return e
}

// apiError reads both of Confluence's error shapes: v2's
// {"errors": [{"status", "code", "title", "detail"}]} and v1's
// {"statusCode", "message"}.
type apiError struct {
	Errors []struct {
		Code   string `json:"code"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	} `json:"errors"`
	Message string `json:"message"`
}

func (a apiError) String() string {
	var parts []string
	for _, e := range a.Errors {
		m := strings.TrimSpace(e.Title + " " + e.Detail)
		if m == "" {
			m = e.Code
		}
		parts = append(parts, m)
	}
	if a.Message != "" {
		parts = append(parts, a.Message)
	}
	return strings.Join(parts, "; ")
}

func statusError(op string, status int, body apiError) *Error {
	msg := body.String()
	if msg == "" {
		msg = http.StatusText(status)
	}
	e := &Error{Op: op, Status: status, Message: msg, Transient: status == http.StatusTooManyRequests || status >= 500}
	switch {
	case status == http.StatusNotFound:
		e.kind = ErrNotFound
	case status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "title already exists"):
		e.kind = ErrTitleTaken
	}
	return e
}
