package jira

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

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

// UpdateDescription replaces an issue's description.
func (c *Client) UpdateDescription(ctx context.Context, key, description string) error {
	return c.write(ctx, key, nil, "update the description of "+key, http.MethodPut, "rest/api/2/issue/"+url.PathEscape(key),
		map[string]any{"fields": map[string]string{"description": description}})
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
