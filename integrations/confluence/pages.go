package confluence

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/internal/outbound"
)

// wirePage reads a page from either API: v2's flat shape (spaceId,
// parentId, version.authorId, body.storage) and v1's (space, ancestors,
// version.by, history.createdBy).
type wirePage struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	SpaceID  string `json:"spaceId"`
	ParentID string `json:"parentId"`
	AuthorID string `json:"authorId"`
	Version  struct {
		Number    int       `json:"number"`
		Message   string    `json:"message"`
		AuthorID  string    `json:"authorId"`
		CreatedAt time.Time `json:"createdAt"`
		When      time.Time `json:"when"`
		By        v1User    `json:"by"`
	} `json:"version"`
	Space struct {
		ID any `json:"id"`
	} `json:"space"`
	History struct {
		CreatedBy v1User `json:"createdBy"`
	} `json:"history"`
	Ancestors []struct {
		ID string `json:"id"`
	} `json:"ancestors"`
	Body struct {
		Storage struct {
			Value string `json:"value"`
		} `json:"storage"`
	} `json:"body"`
	Links struct {
		WebUI string `json:"webui"`
	} `json:"_links"`
}

// v1User is a user as v1 names one: accountId on Cloud, userKey on Data
// Center.
type v1User struct {
	AccountID string `json:"accountId"`
	UserKey   string `json:"userKey"`
}

func (u v1User) id() string {
	if u.AccountID != "" {
		return u.AccountID
	}
	return u.UserKey
}

func (c *Client) page(w wirePage) Page {
	p := Page{ID: w.ID, Title: w.Title, SpaceID: w.SpaceID, ParentID: w.ParentID, Body: w.Body.Storage.Value, CreatedBy: w.AuthorID, URL: c.webURL(w.Links.WebUI),
		Version: Version{Number: w.Version.Number, Message: w.Version.Message, Author: w.Version.AuthorID, When: w.Version.CreatedAt}}
	if !c.cloud() || p.Version.Author == "" && p.CreatedBy == "" {
		p.Version.Author, p.Version.When, p.CreatedBy = w.Version.By.id(), w.Version.When, w.History.CreatedBy.id()
		if w.Space.ID != nil {
			p.SpaceID = strings.Trim(fmt.Sprint(w.Space.ID), `"`)
		}
		if n := len(w.Ancestors); n > 0 {
			p.ParentID = w.Ancestors[n-1].ID
		}
	}
	return p
}

// v1Expand is what a v1 page read asks to have included.
const v1Expand = "body.storage,version,space,history,ancestors"

// GetPage reads a page with its body and current version, and whether a
// person saved that version (EditedByOthers). A missing page is
// ErrNotFound.
func (c *Client) GetPage(ctx context.Context, id string) (Page, error) {
	me, err := c.Myself(ctx)
	if err != nil {
		return Page{}, err
	}
	op := "read page " + id
	var w wirePage
	if c.cloud() {
		err = c.do(ctx, op, http.MethodGet, c.v2("/pages/"+url.PathEscape(id)+"?body-format=storage"), nil, &w)
	} else {
		err = c.do(ctx, op, http.MethodGet, c.v1("/content/"+url.PathEscape(id)+"?expand="+v1Expand), nil, &w)
	}
	if err != nil {
		return Page{}, err
	}
	p := c.page(w)
	p.EditedByOthers = p.Version.Author != me
	return p, nil
}

// Lookup says which page FindPage looks for.
type Lookup struct {
	SpaceKey   string
	Title      string // the title aftermath gives the page; "" skips the look-up by title
	IncidentID string
}

// FindPage finds the page aftermath made for an incident: first among the
// space's pages with the title (Confluence keeps a title unique in its
// space, and lists pages at once, unlike its search), one that carries the
// incident's property, or that aftermath's account created and did not get
// to mark (Marked false: MarkPage finishes it) and whose body opens with a
// link to the incident (linksIncident); then, for a page a person
// has moved or renamed since, by the incident's label through CQL, which
// sees a label only once Confluence's index has caught up. ok is false when
// there is none.
func (c *Client) FindPage(ctx context.Context, l Lookup) (Page, bool, error) {
	if l.IncidentID == "" {
		return Page{}, false, errors.New("confluence: find page: no incident ID")
	}
	me, err := c.Myself(ctx)
	if err != nil {
		return Page{}, false, err
	}
	if l.Title != "" {
		cands, err := c.pagesTitled(ctx, l.SpaceKey, l.Title)
		if err != nil {
			return Page{}, false, err
		}
		for _, w := range cands {
			inc, marked, err := c.incidentOf(ctx, w.ID)
			if err != nil {
				return Page{}, false, err
			}
			if marked && inc != l.IncidentID || !marked && w.CreatedBy != me {
				continue
			}
			p, err := c.GetPage(ctx, w.ID)
			if err != nil {
				return Page{}, false, err
			}
			// An unmarked page may be another incident's: the title
			// need not name the incident, and a crash between create
			// and mark leaves a page only its body tells apart.
			if !marked && !linksIncident(p.Body, l.IncidentID) {
				c.log.Warn("an unmarked page of aftermath's has the title but is not this incident's: leaving it", "page", w.ID, "incident", l.IncidentID)
				continue
			}
			p.Marked = marked
			return p, true, nil
		}
	}
	cql := fmt.Sprintf(`label = %q AND type = page`, IncidentLabel(l.IncidentID))
	var found *PageRef
	err = c.search(ctx, "find the page labelled "+IncidentLabel(l.IncidentID), cql, func(r PageRef) (bool, error) {
		inc, marked, err := c.incidentOf(ctx, r.ID)
		if err != nil {
			return false, err
		}
		if marked && inc == l.IncidentID {
			found = &r
			return false, nil
		}
		return true, nil
	})
	if err != nil || found == nil {
		return Page{}, false, err
	}
	p, err := c.GetPage(ctx, found.ID)
	p.Marked = true
	return p, err == nil, err
}

// pagesTitled lists the space's current pages titled title, without bodies.
func (c *Client) pagesTitled(ctx context.Context, spaceKey, title string) ([]Page, error) {
	op := "find pages titled " + fmt.Sprintf("%q", title) + " in space " + spaceKey
	var out []Page
	if c.cloud() {
		sp, err := c.Space(ctx, spaceKey)
		if err != nil {
			return nil, err
		}
		q := url.Values{"space-id": {sp.ID}, "title": {title}, "status": {"current"}, "limit": {"25"}}
		err = c.eachV2(ctx, op, c.v2("/pages?"+q.Encode()), func(w wirePage) bool {
			out = append(out, c.page(w))
			return true
		})
		return out, err
	}
	q := url.Values{"spaceKey": {spaceKey}, "title": {title}, "type": {"page"}, "expand": {"version,space,history,ancestors"}, "limit": {"25"}}
	err := c.eachV1(ctx, op, c.v1("/content?"+q.Encode()), func(w wirePage) bool {
		out = append(out, c.page(w))
		return true
	})
	return out, err
}

// search runs a CQL query for pages and calls f with each result until it
// returns false.
func (c *Client) search(ctx context.Context, op, cql string, f func(PageRef) (bool, error)) error {
	var ferr error
	q := url.Values{"cql": {cql}, "limit": {"25"}}
	err := c.eachV1(ctx, op, c.v1("/content/search?"+q.Encode()), func(w wirePage) bool {
		more, err := f(PageRef{ID: w.ID, Title: w.Title})
		ferr = err
		return more && err == nil
	})
	return errors.Join(err, ferr)
}

// CreatePage creates a page and marks it as the incident's (MarkPage). The
// create itself is never retried on a 5xx nor a lost answer, as it may have
// taken effect: the caller looks with FindPage first, and a page already
// there under the same title that is aftermath's for the same incident
// (one an earlier attempt made) is taken as created. A title another page
// holds is ErrTitleTaken.
func (c *Client) CreatePage(ctx context.Context, spec PageSpec) (Page, error) {
	if spec.IncidentID == "" || spec.SpaceKey == "" || strings.TrimSpace(spec.Title) == "" {
		return Page{}, errors.New("confluence: create page: a space, a title and an incident ID are required")
	}
	op := "create page " + fmt.Sprintf("%q", spec.Title) + " in space " + spec.SpaceKey
	// The space first: a missing one is ErrNotFound on both deployments
	// (Data Center's create would call it a bad request).
	sp, err := c.Space(ctx, spec.SpaceKey)
	if err != nil {
		return Page{}, err
	}
	var w wirePage
	if c.cloud() {
		body := map[string]any{"spaceId": sp.ID, "status": "current", "title": spec.Title,
			"body": map[string]string{"representation": "storage", "value": spec.Body}}
		if spec.ParentID != "" {
			body["parentId"] = spec.ParentID
		}
		err = c.do(ctx, op, http.MethodPost, c.v2("/pages"), body, &w)
	} else {
		body := map[string]any{"type": "page", "title": spec.Title, "space": map[string]string{"key": spec.SpaceKey},
			"body": map[string]any{"storage": map[string]string{"value": spec.Body, "representation": "storage"}}}
		if spec.ParentID != "" {
			body["ancestors"] = []map[string]string{{"id": spec.ParentID}}
		}
		err = c.do(ctx, op, http.MethodPost, c.v1("/content"), body, &w)
	}
	var p Page
	switch {
	case errors.Is(err, ErrTitleTaken):
		found, ok, ferr := c.FindPage(ctx, Lookup{SpaceKey: spec.SpaceKey, Title: spec.Title, IncidentID: spec.IncidentID})
		if ferr != nil || !ok {
			return Page{}, errors.Join(err, ferr)
		}
		c.log.Info("Confluence page already there: taking it", "page", found.ID)
		p = found
	case err != nil:
		return Page{}, err
	default:
		p = c.page(w)
	}
	if err := c.MarkPage(ctx, p.ID, spec.IncidentID, spec.Labels...); err != nil {
		return p, err
	}
	p.Marked = true
	return p, nil
}

// UpdatePage saves a new version of a page made from version u.Version.
// Confluence takes it only as the version after the current one, so an
// edit saved meanwhile, by a person or another replica, is never
// overwritten: the update is then refused with ErrVersionMoved and nothing
// is written. Like every write it is not retried on a 5xx: read the page
// again (its version says whether the update took).
func (c *Client) UpdatePage(ctx context.Context, u PageUpdate) (Page, error) {
	op := "update page " + u.ID
	version := map[string]any{"number": u.Version + 1, "message": u.Message}
	var w wirePage
	var err error
	if c.cloud() {
		body := map[string]any{"id": u.ID, "status": "current", "title": u.Title, "version": version,
			"body": map[string]string{"representation": "storage", "value": u.Body}}
		err = c.do(ctx, op, http.MethodPut, c.v2("/pages/"+url.PathEscape(u.ID)), body, &w)
	} else {
		body := map[string]any{"id": u.ID, "type": "page", "title": u.Title, "version": version,
			"body": map[string]any{"storage": map[string]string{"value": u.Body, "representation": "storage"}}}
		err = c.do(ctx, op, http.MethodPut, c.v1("/content/"+url.PathEscape(u.ID)), body, &w)
	}
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusConflict {
		e.kind = ErrVersionMoved
	}
	if err != nil {
		return Page{}, err
	}
	return c.page(w), nil
}

// maxVersionsBack bounds how far LastOwnVersion reads back through a page's
// history: past that many versions by people, it gives up.
const maxVersionsBack = 50

// LastOwnVersion is the newest version of a page that aftermath's account
// saved (its create or an update), read back from the current version
// through the people's edits made since: how an update whose answer was
// lost is known to have taken, by the message aftermath gave its version,
// whatever Confluence made of the body and whoever saved after it. ok is
// false when aftermath saved none of the last maxVersionsBack versions.
func (c *Client) LastOwnVersion(ctx context.Context, id string) (Version, bool, error) {
	me, err := c.Myself(ctx)
	if err != nil {
		return Version{}, false, err
	}
	v, err := c.pageVersion(ctx, id, 0)
	if err != nil || v.Author == me {
		return v, err == nil, err
	}
	for n, reads := v.Number-1, 1; n >= 1 && reads < maxVersionsBack; n, reads = n-1, reads+1 {
		v, err := c.pageVersion(ctx, id, n)
		switch {
		case errors.Is(err, ErrNotFound):
			// A person deleted that version from the page's history.
			continue
		case err != nil:
			return Version{}, false, err
		case v.Author == me:
			return v, true, nil
		}
	}
	return Version{}, false, nil
}

// pageVersion reads version n of a page without its body; 0 reads the
// current one.
func (c *Client) pageVersion(ctx context.Context, id string, n int) (Version, error) {
	op := "read version " + strconv.Itoa(n) + " of page " + id
	if n == 0 {
		op = "read the current version of page " + id
	}
	var w wirePage
	var err error
	switch {
	case c.cloud() && n == 0:
		err = c.do(ctx, op, http.MethodGet, c.v2("/pages/"+url.PathEscape(id)), nil, &w)
	case c.cloud():
		err = c.do(ctx, op, http.MethodGet, c.v2("/pages/"+url.PathEscape(id)+"?version="+strconv.Itoa(n)), nil, &w)
	case n == 0:
		err = c.do(ctx, op, http.MethodGet, c.v1("/content/"+url.PathEscape(id)+"?expand=version"), nil, &w)
	default:
		// Data Center finds an earlier version only with its status.
		q := url.Values{"status": {"historical"}, "version": {strconv.Itoa(n)}, "expand": {"version"}}
		err = c.do(ctx, op, http.MethodGet, c.v1("/content/"+url.PathEscape(id)+"?"+q.Encode()), nil, &w)
	}
	if err != nil {
		return Version{}, err
	}
	return c.page(w).Version, nil
}

// Children lists a page's child pages.
func (c *Client) Children(ctx context.Context, id string) ([]PageRef, error) {
	op := "list the child pages of " + id
	var out []PageRef
	f := func(w wirePage) bool {
		out = append(out, PageRef{ID: w.ID, Title: w.Title})
		return true
	}
	if c.cloud() {
		return out, c.eachV2(ctx, op, c.v2("/pages/"+url.PathEscape(id)+"/children?limit=250"), f)
	}
	return out, c.eachV1(ctx, op, c.v1("/content/"+url.PathEscape(id)+"/child/page?limit=200"), f)
}

// MarkPage marks a page as the post-mortem of an incident: the content
// property PropertyKey, then the incident's label and labels. Each step is
// skipped when done, so MarkPage may be repeated; a page marked for
// another incident is refused.
func (c *Client) MarkPage(ctx context.Context, id, incidentID string, labels ...string) error {
	inc, marked, err := c.incidentOf(ctx, id)
	if err != nil {
		return err
	}
	switch {
	case marked && inc != incidentID:
		return &Error{Op: "mark page " + id, Message: fmt.Sprintf("the page is the post-mortem of incident %s, not %s", inc, incidentID)}
	case !marked:
		err := c.createProperty(ctx, id, PropertyKey, incidentProperty{Incident: incidentID})
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusConflict {
			// Another attempt set it meanwhile: it must be for this incident.
			if inc, _, rerr := c.incidentOf(ctx, id); rerr != nil || inc != incidentID {
				return errors.Join(err, rerr)
			}
		} else if err != nil {
			return err
		}
	}
	return c.AddLabels(ctx, id, append([]string{IncidentLabel(incidentID)}, labels...)...)
}

// incidentProperty is PropertyKey's value.
type incidentProperty struct {
	Incident string `json:"incident"`
}

// incidentOf reads a page's PropertyKey: the incident it is marked for.
func (c *Client) incidentOf(ctx context.Context, id string) (string, bool, error) {
	var v incidentProperty
	ok, err := c.Property(ctx, id, PropertyKey, &v)
	return v.Incident, ok && v.Incident != "", err
}

// withRead marks a write that is safe to retry on a 5xx (adding a label,
// creating a property whose duplicate Confluence refuses).
func withRead(ctx context.Context) context.Context { return outbound.AsRead(ctx) }

// PageIDByTitle returns the ID of the space's current page titled title
// (Confluence keeps titles unique in a space): how a parent page named by
// its title in the rules is found. ok is false when there is none.
func (c *Client) PageIDByTitle(ctx context.Context, spaceKey, title string) (string, bool, error) {
	pages, err := c.pagesTitled(ctx, spaceKey, title)
	if err != nil {
		return "", false, err
	}
	for _, p := range pages {
		if p.Title == title {
			return p.ID, true, nil
		}
	}
	return "", false, nil
}

// linksIncident reports whether a page's storage-format body opens with a
// paragraph that links to the PagerDuty incident incidentID (an address
// whose path ends in /incidents/<ID>, as PagerDuty's html_url does): the
// line render.StorageBackLinks puts at the top of every page aftermath
// makes. Only the first paragraph counts, since further down a page links
// to other incidents (its group's, earlier ones'). The body is read as XML,
// not as text, so that Confluence's normalisation of what it stores
// (entities, quoting, white space, attributes it adds) does not matter.
func linksIncident(body, incidentID string) bool {
	d := xml.NewDecoder(strings.NewReader("<root>" + body + "</root>"))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	depth := 0 // of elements inside the first paragraph, once in it
	for {
		tok, err := d.Token()
		if err != nil {
			return false // the end, or storage too broken to read further
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth > 0 || t.Name.Local == "p" {
				depth++
			}
			if depth == 0 {
				continue
			}
			for _, a := range t.Attr {
				// <a href> and <ri:url ri:value>, Confluence's two
				// spellings of a link to an address.
				if (a.Name.Local == "href" || a.Name.Local == "value" && t.Name.Local == "url") && isIncidentURL(a.Value, incidentID) {
					return true
				}
			}
		case xml.EndElement:
			if depth == 0 {
				continue
			}
			if depth--; depth == 0 {
				return false // the first paragraph ended without the link
			}
		}
	}
}

// isIncidentURL reports whether raw is an http(s) address of the PagerDuty
// incident id: its path ends in /incidents/<id>.
func isIncidentURL(raw, id string) bool {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || id == "" {
		return false
	}
	return strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/incidents/"+id)
}
