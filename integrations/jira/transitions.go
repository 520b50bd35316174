package jira

import (
	"context"
	"net/http"
	"net/url"
)

// Transition is one way out of an issue's current status, as Jira's
// workflow offers it: its ID, its name (what the button says) and the
// status it leads to.
type Transition struct {
	ID   string
	Name string
	To   string
}

// Transitions lists the transitions Jira offers on an issue now (GET
// /rest/api/2/issue/{key}/transitions): the caller picks one by the status
// it leads to, which is what the rules' status_map names.
func (c *Client) Transitions(ctx context.Context, key string) ([]Transition, error) {
	var out struct {
		Transitions []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			To   struct {
				Name string `json:"name"`
			} `json:"to"`
		} `json:"transitions"`
	}
	if err := c.do(ctx, "list transitions of "+key, http.MethodGet, transitionsPath(key), nil, &out); err != nil {
		return nil, err
	}
	ts := make([]Transition, 0, len(out.Transitions))
	for _, t := range out.Transitions {
		ts = append(ts, Transition{ID: t.ID, Name: t.Name, To: t.To.Name})
	}
	return ts, nil
}

// DoTransition moves an issue through t (POST
// /rest/api/2/issue/{key}/transitions). It is not retried when the answer
// is lost: Jira refuses a transition the issue has already made ("not
// valid for the current state"), so the caller reads the status first.
func (c *Client) DoTransition(ctx context.Context, key string, t Transition) error {
	return c.write(ctx, key, nil, "move "+key+" to "+t.To+" ("+t.Name+")", http.MethodPost, transitionsPath(key),
		map[string]any{"transition": map[string]string{"id": t.ID}})
}

func transitionsPath(key string) string {
	return "rest/api/2/issue/" + url.PathEscape(key) + "/transitions"
}
