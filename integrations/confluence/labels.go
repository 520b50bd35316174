package confluence

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
)

// IncidentLabel is the label of the page of an incident,
// "aftermath-<incident ID>" in lower case as Confluence keeps labels:
// PagerDuty's IDs are upper-case letters and digits, so two incidents never
// share one.
func IncidentLabel(incidentID string) string {
	return "aftermath-" + strings.ToLower(incidentID)
}

// validLabel reports whether Confluence takes name as a label: not empty,
// at most 255 characters, no white space nor the punctuation it reserves.
func validLabel(name string) bool {
	return name != "" && len([]rune(name)) <= 255 && !strings.ContainsFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(":;,.?&!'\"#[]()<>", r)
	})
}

// AddLabels adds labels to a page, in lower case; a label the page has is
// kept once. v2 has no endpoint for it, so it goes through v1 on Cloud
// too. Adding a label twice changes nothing, so the request is retried on
// a 5xx like a read.
func (c *Client) AddLabels(ctx context.Context, pageID string, labels ...string) error {
	op := "label page " + pageID
	body := make([]map[string]string, 0, len(labels))
	for _, l := range labels {
		l = strings.ToLower(strings.TrimSpace(l))
		if !validLabel(l) {
			return &Error{Op: op, Message: fmt.Sprintf("%q cannot be a Confluence label: no spaces or punctuation, at most 255 characters", l)}
		}
		body = append(body, map[string]string{"prefix": "global", "name": l})
	}
	if len(body) == 0 {
		return nil
	}
	return c.do(withRead(ctx), op, http.MethodPost, c.v1("/content/"+url.PathEscape(pageID)+"/label"), body, nil)
}

// Labels lists a page's labels.
func (c *Client) Labels(ctx context.Context, pageID string) ([]string, error) {
	op := "read the labels of page " + pageID
	var out []string
	f := func(l struct {
		Name string `json:"name"`
	},
	) bool {
		out = append(out, l.Name)
		return true
	}
	if c.cloud() {
		return out, each(c, ctx, op, c.v2("/pages/"+url.PathEscape(pageID)+"/labels?limit=250"), true, f)
	}
	return out, each(c, ctx, op, c.v1("/content/"+url.PathEscape(pageID)+"/label?limit=200"), false, f)
}
