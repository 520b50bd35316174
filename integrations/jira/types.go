// Package jira is aftermath's Jira client, built on go-jira (REST API v2,
// which Jira Cloud and Data Center both serve), over the same paced,
// retrying HTTP client as the PagerDuty client.
package jira

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Deployments.
const (
	Cloud      = "cloud"
	DataCenter = "datacenter"
)

// IssueSpec is an issue to create.
type IssueSpec struct {
	Project     string
	IssueType   string
	Summary     string
	Description string // Jira wiki markup
	Labels      []string
	Assignee    string // the user's ID (Cloud accountId, Data Center name); "" unassigned
	DueDate     time.Time
	Priority    string // Jira priority name; "" Jira's default
	Epic        string // the epic's key, for a child issue
	EpicName    string // Data Center epics need one
}

// Issue is what aftermath reads of an issue.
type Issue struct {
	ID        string
	Key       string
	Summary   string
	IssueType string
	Status    string
	Labels    []string
	Epic      string // parent (Cloud) or Epic Link (Data Center)
	Assignee  string // the assignee's user ID (User.ID); "" unassigned
}

// User is a Jira user.
type User struct {
	ID          string // accountId on Cloud, name on Data Center: what an assignee takes
	DisplayName string
	Email       string
}

// BulkResult is one item of a bulk create: the issue, or why Jira refused it.
type BulkResult struct {
	Index int // position in the request
	Key   string
	Err   error
}

// Error is a failed Jira call.
type Error struct {
	Op      string
	Status  int // 0 for a transport error
	Message string
	// Transient is true when the same call may succeed later (429, 5xx,
	// transport errors).
	Transient bool
	// Fields are the fields Jira named in its refusal (its "errors" map),
	// with its message for each.
	Fields map[string]string
	// RateLimitReason is a 429's RateLimit-Reason header: which of Jira
	// Cloud's limits was hit (jira-burst-based, jira-per-issue-on-write,
	// jira-quota-tenant-based, jira-quota-global-based); "" when Jira did
	// not say.
	RateLimitReason string
	// RetryAfter is how long a 429 or 503 asked to wait (its Retry-After,
	// in seconds or as a date), and Until when that ends; zero when it did
	// not say.
	RetryAfter time.Duration
	Until      time.Time
}

// RetryAt is the earliest time a retry may succeed: when Jira's
// Retry-After ends. The zero time when Jira did not say.
func (e *Error) RetryAt() time.Time { return e.Until }

// Retryable reports whether the same call may succeed later: what the
// workflow asks of every integration's errors.
func (e *Error) Retryable() bool { return e.Transient }

// Unapplied reports whether Jira answered that it did not do what was asked
// (429: rate limited, before any work), so that a write that failed this
// way took no effect. Not a 503: behind Atlassian's API gateway
// (JIRA_API_URL) or any proxy, a 503 may be the gateway's, after Jira did
// the write; the workflow then waits for Jira's search before looking for
// it, rather than risk a second epic. A 500 may come after part of the work
// was done, and a lost answer, a 502 or 504, or a timeout may follow a
// write that took effect.
func (e *Error) Unapplied() bool {
	return e.Status == http.StatusTooManyRequests
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("jira: %s: %s", e.Op, e.Message)
	}
	status := fmt.Sprintf("HTTP %d", e.Status)
	if e.RateLimitReason != "" {
		status += " (" + e.RateLimitReason + ")"
	}
	if !e.Until.IsZero() {
		status += ", retry after " + e.RetryAfter.String()
	}
	return fmt.Sprintf("jira: %s: %s: %s", e.Op, status, e.Message)
}

// longestRetryAfter bounds a Retry-After taken from an answer, so that a
// huge value cannot overflow or park a retry for days.
const longestRetryAfter = 24 * time.Hour

// withRetryAfter notes on e, a 429 or 503, what the answer's headers say
// of when to retry and why it was refused.
func (e *Error) withRetryAfter(h http.Header, now time.Time) *Error {
	if e.Status != http.StatusTooManyRequests && e.Status != http.StatusServiceUnavailable {
		return e
	}
	e.RateLimitReason = strings.TrimSpace(h.Get("RateLimit-Reason"))
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return e
	}
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

// TooLong reports whether Jira refused a write because a text in it (a
// description, a comment) is longer than its limit allows: a 400 whose
// message for the field says "The entered text is too long". Jira's
// administrators can set that limit (jira.text.field.character.limit),
// so a text that fits render.PageLimit may still be refused.
func TooLong(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
		return false
	}
	tooLong := func(m string) bool {
		m = strings.ToLower(m)
		return strings.Contains(m, "too long") || strings.Contains(m, "exceeds the allowed limit")
	}
	for _, m := range e.Fields {
		if tooLong(m) {
			return true
		}
	}
	return len(e.Fields) == 0 && tooLong(e.Message)
}

// statedLimit finds the limit in Jira's "It exceeds the allowed limit of
// 32,767 characters.", with or without a thousands separator.
var statedLimit = regexp.MustCompile(`(?i)limit of ([0-9][0-9,.\x{00a0}\x{202f} ]*) characters`)

// StatedLimit is the limit Jira states when it refuses a text for its size
// (TooLong): its administrators may have set it below 32,767. ok is false
// when Jira did not say.
func StatedLimit(err error) (limit int, ok bool) {
	var e *Error
	if !TooLong(err) || !errors.As(err, &e) {
		return 0, false
	}
	texts := []string{e.Message}
	for _, m := range e.Fields {
		texts = append(texts, m)
	}
	for _, t := range texts {
		if m := statedLimit.FindStringSubmatch(t); m != nil {
			digits := strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, m[1])
			if n, err := strconv.Atoi(digits); err == nil && n > 0 {
				return n, true
			}
		}
	}
	return 0, false
}

// apiError is Jira's error body.
type apiError struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

func (a apiError) String() string {
	parts := append([]string(nil), a.ErrorMessages...)
	keys := make([]string, 0, len(a.Errors))
	for k := range a.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+": "+a.Errors[k])
	}
	return strings.Join(parts, "; ")
}

func statusError(op string, status int, body apiError) *Error {
	msg := body.String()
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Op: op, Status: status, Message: msg, Transient: status == http.StatusTooManyRequests || status >= 500, Fields: body.Errors}
}
