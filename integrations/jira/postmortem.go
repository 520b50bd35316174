package jira

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The post-mortem side of the client: what the workflow asks of Jira, in its
// words. How a post-mortem is found again (a label per incident, JQL), how
// Jira refuses a text too long (TooLong) or an assignee, and whose comments
// are aftermath's are known here only.

// IncidentLabel is the label that marks every Jira issue of an incident's
// post-mortem: the epic carries one per incident of the group, its tickets
// the primary's. It makes the idempotency search exact.
func IncidentLabel(incidentID string) string { return "pagerduty-" + incidentID }

// Epic is a post-mortem's epic to create.
type Epic struct {
	Project   string
	IssueType string
	Summary   string
	// Name is the epic's short name, which Data Center requires and shows
	// on boards; Cloud has none.
	Name string
	Page string // the description: the post-mortem page in wiki markup
	// Incidents are the group's PagerDuty incidents: each one's label goes
	// on the epic, so that FindPostmortem finds it from any of them.
	Incidents []string
	Labels    []string
	Owner     string // the assignee's user ID (User.ID); "" unassigned
	DueDate   time.Time
	Priority  string // Jira priority name; "" Jira's default
}

// CreatedEpic is an epic Jira created.
type CreatedEpic struct {
	Key string
	// AssigneeRefused is why Jira would not assign the epic to its owner
	// (no permission, not assignable in that project). The epic was then
	// created unassigned. "" when it was assigned as asked.
	AssigneeRefused string
}

// CreateEpic creates a post-mortem's epic. When Jira refuses the owner as
// assignee it creates the epic unassigned and says why. Like CreateIssue, it
// is not retried when the answer is lost: FindPostmortem first.
func (c *Client) CreateEpic(ctx context.Context, e Epic) (CreatedEpic, error) {
	labels := slices.Clone(e.Labels)
	for _, id := range e.Incidents {
		labels = append(labels, IncidentLabel(id))
	}
	spec := IssueSpec{
		Project: e.Project, IssueType: e.IssueType, Summary: e.Summary, Description: e.Page, Labels: labels,
		Assignee: e.Owner, DueDate: e.DueDate, Priority: e.Priority, EpicName: e.Name,
	}
	key, err := c.CreateIssue(ctx, spec)
	why := assigneeRefusal(err)
	if why == "" || spec.Assignee == "" {
		return CreatedEpic{Key: key}, err
	}
	c.log.Warn("Jira refused the owner as assignee; creating the epic unassigned", "err", err)
	spec.Assignee = ""
	key, err = c.CreateIssue(ctx, spec)
	return CreatedEpic{Key: key, AssigneeRefused: why}, err
}

// assigneeRefusal is Jira's reason when err refuses an issue's assignee as
// such (a 400 naming the assignee field), else "".
func assigneeRefusal(err error) string {
	var e *Error
	if !errors.As(err, &e) || e.Transient || e.Status != http.StatusBadRequest {
		return ""
	}
	return e.Fields["assignee"]
}

// FindPostmortem finds the epic of the post-mortem that covers an incident:
// the issue with the incident's label and no epic above it (its follow-ups
// have one). Jira's search trails its writes by seconds: a post-mortem made
// moments ago may not be found yet.
func (c *Client) FindPostmortem(ctx context.Context, incidentID string) (epic Issue, found bool, err error) {
	issues, err := c.incidentIssues(ctx, incidentID)
	if err != nil {
		return Issue{}, false, err
	}
	for _, is := range issues {
		if is.Epic == "" {
			return is, true, nil
		}
	}
	return Issue{}, false, nil
}

// Followup is a follow-up ticket to create under a post-mortem's epic.
type Followup struct {
	Project     string
	IssueType   string
	Summary     string
	Description string
	Labels      []string
	// Due is its due date (rules followups.due); zero: none.
	Due time.Time
}

// CreateFollowups creates follow-up tickets under epic, each labelled with
// the primary incident's label, in bulk requests (see CreateIssues).
func (c *Client) CreateFollowups(ctx context.Context, epic, incidentID string, fus []Followup) ([]BulkResult, error) {
	specs := make([]IssueSpec, len(fus))
	for i, f := range fus {
		specs[i] = IssueSpec{
			Project: f.Project, IssueType: f.IssueType, Summary: f.Summary, Description: f.Description,
			Labels: append(slices.Clone(f.Labels), IncidentLabel(incidentID)), Epic: epic, DueDate: f.Due,
		}
	}
	return c.CreateIssues(ctx, specs)
}

// FindFollowups returns the tickets under epic that carry the incident's
// label: those CreateFollowups made (subject to the same search lag).
func (c *Client) FindFollowups(ctx context.Context, epic, incidentID string) ([]Issue, error) {
	issues, err := c.incidentIssues(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	var out []Issue
	for _, is := range issues {
		if is.Epic == epic {
			out = append(out, is)
		}
	}
	return out, nil
}

// incidentIssues are the issues labelled for an incident, oldest first.
// Those this client labelled so moments ago (created, or labelled for an
// incident that joined the group) are reconciled: Cloud's search may not
// show them yet, and a retry that missed them would make them again.
func (c *Client) incidentIssues(ctx context.Context, incidentID string) ([]Issue, error) {
	label := IncidentLabel(incidentID)
	ids := c.recent.reconcile(c.cfg.Now(), func(_ string, labels []string) bool { return slices.Contains(labels, label) })
	return c.search(ctx, fmt.Sprintf("labels = %q ORDER BY created ASC", label), 100, ids)
}

// SetPage replaces the post-mortem page (the epic's description).
func (c *Client) SetPage(ctx context.Context, key, page string) error {
	return c.UpdateDescription(ctx, key, page)
}

// AddIncidents labels the epic for incidents that joined its group, so that
// FindPostmortem finds it from them too. Labels already there stay.
func (c *Client) AddIncidents(ctx context.Context, key string, incidentIDs []string) error {
	labels := make([]string, len(incidentIDs))
	for i, id := range incidentIDs {
		labels[i] = IncidentLabel(id)
	}
	return c.AddLabels(ctx, key, labels)
}

// HasComment reports whether the issue has a comment aftermath wrote that
// carries marker: one written by the user this client is (Myself), with
// marker as a whole word. A comment someone else wrote that quotes the
// marker is theirs. Every page of comments is read, until one is found.
func (c *Client) HasComment(ctx context.Context, key, marker string) (bool, error) {
	var me *User
	found := false
	var err error
	walk := c.eachComment(ctx, key, func(cm Comment) bool {
		if !hasMarker(cm.Body, marker) {
			return true
		}
		if me == nil {
			// Asked only when a comment carries the marker at all.
			u, merr := c.Myself(ctx)
			if merr != nil {
				err = merr
				return false
			}
			me = &u
		}
		found = cm.Author != "" && cm.Author == me.ID
		return !found
	})
	if err != nil {
		return false, err
	}
	return found, walk
}

// hasMarker reports whether body holds marker as a whole word: not the
// start of a longer one (the marker of incident P1 is in that of P12).
func hasMarker(body, marker string) bool {
	for i := 0; ; {
		j := strings.Index(body[i:], marker)
		if j < 0 {
			return false
		}
		end := i + j + len(marker)
		if end == len(body) || !isMarkerChar(body[end]) {
			return true
		}
		i = end
	}
}

func isMarkerChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_'
}

// statusBatch is how many epics one status search asks for.
const statusBatch = 50

// Statuses reads the Jira status of each of the issues (epics and
// tickets), 50 a search. An issue Jira no longer shows (deleted, or moved
// out of sight) is missing from the answer: Jira refuses a search naming
// it, and the batch is searched again without it (withoutMissing), one
// search more.
func (c *Client) Statuses(ctx context.Context, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	for start := 0; start < len(keys); start += statusBatch {
		err := c.withoutMissing(ctx, keys[start:min(start+statusBatch, len(keys))], func(batch []string) error {
			// Epics and tickets this client created or moved moments ago
			// are reconciled: else a stale status could undo a change.
			ids := c.recent.reconcile(c.cfg.Now(), func(key string, _ []string) bool { return slices.Contains(batch, key) })
			issues, err := c.search(ctx, "key in ("+strings.Join(batch, ",")+")", len(batch), ids)
			for _, is := range issues {
				out[is.Key] = is.Status
			}
			return err
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Mention is the wiki markup that mentions a user (User.ID) in a comment,
// so that Jira notifies them.
func (c *Client) Mention(ctx context.Context, userID string) (string, error) {
	d, err := c.Deployment(ctx)
	if err != nil {
		return "", err
	}
	if d == Cloud {
		return "[~accountid:" + userID + "]", nil
	}
	return "[~" + userID + "]", nil
}

// Page reads the post-mortem page (the epic's description) as people left
// it.
func (c *Client) Page(ctx context.Context, key string) (string, error) {
	var out struct {
		Fields struct {
			Description string `json:"description"`
		} `json:"fields"`
	}
	if err := c.do(ctx, "read the description of "+key, http.MethodGet, "rest/api/2/issue/"+url.PathEscape(key)+"?fields=description", nil, &out); err != nil {
		return "", err
	}
	return out.Fields.Description, nil
}
