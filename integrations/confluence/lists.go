package confluence

import (
	"context"
	"net/http"
)

// maxListPages bounds how many pages of one listing are read, so that a
// server whose next link never ends cannot keep a step reading forever.
const maxListPages = 100

// eachV2 reads a v2 listing page after page, following _links.next, and
// calls f with each result until it returns false.
func (c *Client) eachV2(ctx context.Context, op, target string, f func(wirePage) bool) error {
	return each(c, ctx, op, target, true, f)
}

// eachV1 reads a v1 listing (start, limit, _links.next) the same way.
func (c *Client) eachV1(ctx context.Context, op, target string, f func(wirePage) bool) error {
	return each(c, ctx, op, target, false, f)
}

// each reads a listing of T in either API's shape: results, and the
// address of the next page in _links.next.
func each[T any](c *Client, ctx context.Context, op, target string, v2 bool, f func(T) bool) error {
	for range maxListPages {
		var out struct {
			Results []T `json:"results"`
			Links   struct {
				Next string `json:"next"`
			} `json:"_links"`
		}
		if err := c.do(ctx, op, http.MethodGet, target, nil, &out); err != nil {
			return err
		}
		for _, r := range out.Results {
			if !f(r) {
				return nil
			}
		}
		if out.Links.Next == "" || len(out.Results) == 0 {
			return nil
		}
		target = c.next(out.Links.Next, v2)
	}
	return &Error{Op: op, Message: "the listing did not end after 100 pages"}
}
