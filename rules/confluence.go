package rules

import (
	"fmt"
	"regexp"
	"strings"
)

// Where the post-mortem page lives (page.target).
const (
	TargetJira       = "jira"
	TargetConfluence = "confluence"
)

// Confluence says where the post-mortem page goes when page.target is
// confluence.
type Confluence struct {
	Space  string            `yaml:"space" pattern:"space" doc:"Key of the Confluence space the post-mortem pages are created in, e.g. PM. Required when page.target is confluence."`
	Parent string            `yaml:"parent" doc:"The page the post-mortem pages are created under, by its ID (digits) or its title in the space. Empty: the space's home page."`
	Routes []ConfluenceRoute `yaml:"routes" doc:"Services whose post-mortem pages go to another space (like jira.routes)."`
}

// ConfluenceRoute sends some services' post-mortem pages to another space.
type ConfluenceRoute struct {
	Services []string `yaml:"services" pattern:"service" doc:"PagerDuty service IDs."`
	Space    string   `yaml:"space" pattern:"space" doc:"Confluence space key for these services."`
	Parent   string   `yaml:"parent" doc:"The page they are created under in that space, by ID or title. Empty: the space's home page."`
}

// spaceKeyPattern is a Confluence space key: letters and digits (a
// personal space's key starts with ~).
const spaceKeyPattern = `^~?[A-Za-z0-9]{1,255}$`

var spaceKeyRe = regexp.MustCompile(spaceKeyPattern)

// fillConfluence makes the page live in the epic unless the file says
// otherwise.
func fillConfluence(r *Rules, given func(path string) bool) {
	if !given("page.target") {
		r.Page.Target = TargetJira
	}
}

// ConfluencePage says where the post-mortem page of an incident on
// serviceID goes: its space and parent (an ID, a title or ""). ok is false
// when the page lives in the epic (page.target is jira).
func (r *Rules) ConfluencePage(serviceID string) (space, parent string, ok bool) {
	if r.Page.Target != TargetConfluence {
		return "", "", false
	}
	for _, rt := range r.Confluence.Routes {
		for _, id := range rt.Services {
			if id == serviceID {
				return rt.Space, rt.Parent, true
			}
		}
	}
	return r.Confluence.Space, r.Confluence.Parent, true
}

// validateConfluence checks page.target and the confluence section: a
// space is required when the page lives in Confluence, and a confluence
// section that would never be used is a mistake worth saying.
func (d *decoder) validateConfluence(r *Rules) {
	switch r.Page.Target {
	case TargetJira, TargetConfluence:
	default:
		d.problem("page.target", "unknown page target %q: use jira (the epic's description) or confluence", r.Page.Target)
		return
	}
	c := r.Confluence
	if r.Page.Target == TargetJira {
		if c.Space != "" || c.Parent != "" || len(c.Routes) > 0 {
			d.problem("confluence", "confluence is set but page.target is jira: the page lives in the epic; set page.target: confluence to use it")
		}
		return
	}
	switch {
	case strings.TrimSpace(c.Space) == "":
		d.problem("confluence.space", "confluence.space is required when page.target is confluence: the key of the space post-mortem pages go to, e.g. PM")
	default:
		d.spaceKey("confluence.space", c.Space)
	}
	d.parentPage("confluence.parent", c.Parent)
	routed := map[string]string{}
	for i, rt := range c.Routes {
		p := fmt.Sprintf("confluence.routes[%d]", i)
		if strings.TrimSpace(rt.Space) == "" {
			d.problem(p+".space", "space is missing: the Confluence space key for these services, e.g. OPS")
		} else {
			d.spaceKey(p+".space", rt.Space)
		}
		d.parentPage(p+".parent", rt.Parent)
		d.services(p+".services", rt.Services, func(id, at string) {
			if other, dup := routed[id]; dup {
				d.problem(at, "service %s is already routed to space %s", id, other)
				return
			}
			routed[id] = rt.Space
		})
	}
}

func (d *decoder) spaceKey(path, key string) {
	if !spaceKeyRe.MatchString(key) {
		d.problem(path, "%q is not a Confluence space key (letters and digits, e.g. PM)", key)
	}
}

// parentPage checks a parent page: an ID or a title, on one line, within
// Confluence's 255 characters for a title.
func (d *decoder) parentPage(path, v string) {
	switch {
	case v == "":
	case strings.TrimSpace(v) == "":
		d.problem(path, "parent is blank: write a page ID or title, or leave it out for the space's home page")
	case strings.ContainsAny(v, "\r\n"):
		d.problem(path, "parent %q spans lines: a page title is one line", v)
	case len([]rune(v)) > 255:
		d.problem(path, "parent is %d characters; a Confluence page title has at most 255", len([]rune(v)))
	}
}
