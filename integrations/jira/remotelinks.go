package jira

import (
	"context"
	"net/http"
	"net/url"

	"github.com/aftermath-dev/aftermath/internal/outbound"
)

// RemoteLink is a link from an issue to a page elsewhere (the post-mortem's
// Confluence page).
type RemoteLink struct {
	// GlobalID names the linked item for good: Jira keeps one link per
	// global ID on an issue, and adding it again updates that link, so the
	// write can be repeated without making a second link.
	GlobalID string
	URL      string
	Title    string
	// Application is the linked item's application, e.g. "Confluence".
	Application string
}

// AddRemoteLink links an issue to l.URL, once per l.GlobalID: a retry
// updates the link instead of adding another, so it is retried like a read.
func (c *Client) AddRemoteLink(ctx context.Context, key string, l RemoteLink) error {
	body := map[string]any{
		"globalId":     l.GlobalID,
		"relationship": "post-mortem page",
		"object":       map[string]any{"url": l.URL, "title": l.Title},
	}
	if l.Application != "" {
		body["application"] = map[string]string{"name": l.Application}
	}
	return c.write(outbound.AsRead(ctx), key, nil, "link "+key+" to "+l.Title, http.MethodPost, "rest/api/2/issue/"+url.PathEscape(key)+"/remotelink", body)
}
