package confluence

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
)

// Property reads a page's content property key into value (decoded from
// its JSON); ok is false when the page has no such property.
func (c *Client) Property(ctx context.Context, pageID, key string, value any) (ok bool, err error) {
	op := "read property " + key + " of page " + pageID
	var raw json.RawMessage
	if c.cloud() {
		var out struct {
			Results []struct {
				Key   string          `json:"key"`
				Value json.RawMessage `json:"value"`
			} `json:"results"`
		}
		q := url.Values{"key": {key}}
		if err := c.do(ctx, op, http.MethodGet, c.v2("/pages/"+url.PathEscape(pageID)+"/properties?"+q.Encode()), nil, &out); err != nil {
			return false, err
		}
		for _, r := range out.Results {
			if r.Key == key {
				raw = r.Value
			}
		}
	} else {
		var out struct {
			Value json.RawMessage `json:"value"`
		}
		err := c.do(ctx, op, http.MethodGet, c.v1("/content/"+url.PathEscape(pageID)+"/property/"+url.PathEscape(key)), nil, &out)
		if errors.Is(err, ErrNotFound) {
			// Data Center answers 404 for a missing property; the page's
			// own absence then shows on the next call.
			return false, nil
		}
		if err != nil {
			return false, err
		}
		raw = out.Value
	}
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, value); err != nil {
		return false, &Error{Op: op, Message: "decode the value: " + err.Error()}
	}
	return true, nil
}

// createProperty adds a content property to a page. Confluence refuses a
// key the page has (409), so the request is retried on a 5xx like a read:
// a second attempt cannot make a second property.
func (c *Client) createProperty(ctx context.Context, pageID, key string, value any) error {
	op := "set property " + key + " of page " + pageID
	body := map[string]any{"key": key, "value": value}
	if c.cloud() {
		return c.do(withRead(ctx), op, http.MethodPost, c.v2("/pages/"+url.PathEscape(pageID)+"/properties"), body, nil)
	}
	return c.do(withRead(ctx), op, http.MethodPost, c.v1("/content/"+url.PathEscape(pageID)+"/property"), body, nil)
}
