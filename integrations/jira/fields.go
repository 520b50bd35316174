package jira

import (
	"context"
	"net/http"
	"time"
)

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
