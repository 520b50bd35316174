package jira

import (
	"context"
	"errors"
	"net/http"

	gojira "github.com/andygrunwald/go-jira"

	"github.com/aftermath-dev/aftermath/internal/outbound"
)

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
