package confluence

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
)

// wireComment reads a footer comment from either API.
type wireComment struct {
	ID      string `json:"id"`
	Version struct {
		AuthorID string `json:"authorId"`
		By       v1User `json:"by"`
	} `json:"version"`
	Body struct {
		Storage struct {
			Value string `json:"value"`
		} `json:"storage"`
	} `json:"body"`
	Links struct {
		WebUI string `json:"webui"`
	} `json:"_links"`
}

func (c *Client) comment(w wireComment) Comment {
	author := w.Version.AuthorID
	if author == "" {
		author = w.Version.By.id()
	}
	return Comment{ID: w.ID, Author: author, Body: w.Body.Storage.Value, URL: c.webURL(w.Links.WebUI)}
}

// AddComment adds a footer comment (storage format) to a page. It is not
// retried on a 5xx nor a lost answer, as it may have taken effect: the
// body carries a marker, and the caller looks for it with FindComment
// before commenting again.
func (c *Client) AddComment(ctx context.Context, pageID, body string) (Comment, error) {
	op := "comment on page " + pageID
	var w wireComment
	var err error
	if c.cloud() {
		err = c.do(ctx, op, http.MethodPost, c.v2("/footer-comments"), map[string]any{
			"pageId": pageID, "body": map[string]string{"representation": "storage", "value": body},
		}, &w)
	} else {
		err = c.do(ctx, op, http.MethodPost, c.v1("/content"), map[string]any{
			"type": "comment", "container": map[string]string{"id": pageID, "type": "page"},
			"body": map[string]any{"storage": map[string]string{"value": body, "representation": "storage"}},
		}, &w)
	}
	if err != nil {
		return Comment{}, err
	}
	return c.comment(w), nil
}

// FindComment finds aftermath's comment on a page that carries marker: one
// written by the client's own account whose body holds the marker, as
// written in storage format (escaped) or as it is. A person's comment that
// quotes a marker is the person's. ok is false when there is none.
func (c *Client) FindComment(ctx context.Context, pageID, marker string) (Comment, bool, error) {
	me, err := c.Myself(ctx)
	if err != nil {
		return Comment{}, false, err
	}
	op := "read the comments of page " + pageID
	escaped := html.EscapeString(marker)
	var found *Comment
	f := func(w wireComment) bool {
		cm := c.comment(w)
		if cm.Author == me && (strings.Contains(cm.Body, escaped) || strings.Contains(cm.Body, marker)) {
			found = &cm
			return false
		}
		return true
	}
	if c.cloud() {
		err = each(c, ctx, op, c.v2("/pages/"+url.PathEscape(pageID)+"/footer-comments?body-format=storage&limit=250"), true, f)
	} else {
		err = each(c, ctx, op, c.v1("/content/"+url.PathEscape(pageID)+"/child/comment?expand=body.storage,version&limit=200"), false, f)
	}
	if err != nil || found == nil {
		return Comment{}, false, err
	}
	return *found, true, nil
}
