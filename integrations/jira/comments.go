package jira

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// Comment is a comment on an issue, as aftermath reads it.
type Comment struct {
	ID     string
	Author string // the author's user ID (User.ID)
	Body   string
}

// commentPage is how many comments one request asks for: the spec's
// default page.
const commentPage = 100

// AddComment comments on an issue.
func (c *Client) AddComment(ctx context.Context, key, body string) error {
	return c.write(ctx, key, nil, "comment on "+key, http.MethodPost, "rest/api/2/issue/"+url.PathEscape(key)+"/comment", map[string]string{"body": body})
}

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
