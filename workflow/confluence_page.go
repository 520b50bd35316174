package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aftermath-dev/aftermath/integrations/confluence"
	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// With rules page.target: confluence the post-mortem page lives in
// Confluence. The epic is made first, as always, with a short description
// (the status panel, a summary, a line saying the page is being made:
// epic_page.go's description); the page comes last, in its own step, so
// that Confluence being down delays only the page: the epic, its tickets,
// the messages and the notes are made meanwhile, and the page step is
// retried with backoff like any step. Then the epic's description links to
// the page, and the epic gets a remote link to it.
//
// Every write is checkpointed: the page is looked up (by its title and
// content property, then by its label: confluence.FindPage) before it is
// created, so no retry, replica or crash makes a second one. Once a person
// has edited the page, aftermath never writes it again: news for it (the
// group grew, a replay found more follow-ups) goes into one footer comment.

// Step names of the page in Confluence.
const (
	// StepConfluencePage creates the page (its result: confluenceResult).
	StepConfluencePage = "confluence_page"
	// StepConfluenceEpic writes the epic's description again, linking to
	// the page.
	StepConfluenceEpic = "confluence_epic"
	// StepConfluenceLink adds the epic's remote link to the page.
	StepConfluenceLink = "confluence_link"
	// StepConfluenceUpdate brings the page up to date, or comments on it
	// when people have edited it: one step per new body
	// (confluence_update_<digest>).
	StepConfluenceUpdate = "confluence_update"
)

// Confluence is what the workflow needs of Confluence to keep the
// post-mortem page there (integrations/confluence implements it).
type Confluence interface {
	FindPage(ctx context.Context, l confluence.Lookup) (confluence.Page, bool, error)
	CreatePage(ctx context.Context, spec confluence.PageSpec) (confluence.Page, error)
	MarkPage(ctx context.Context, id, incidentID string, labels ...string) error
	GetPage(ctx context.Context, id string) (confluence.Page, error)
	UpdatePage(ctx context.Context, u confluence.PageUpdate) (confluence.Page, error)
	LastOwnVersion(ctx context.Context, id string) (confluence.Version, bool, error)
	AddComment(ctx context.Context, pageID, body string) (confluence.Comment, error)
	FindComment(ctx context.Context, pageID, marker string) (confluence.Comment, bool, error)
	PageIDByTitle(ctx context.Context, spaceKey, title string) (string, bool, error)
	PageURL(spaceKey, id string) string
}

// remoteLinker is what the workflow needs of Jira to link the epic to the
// page.
type remoteLinker interface {
	AddRemoteLink(ctx context.Context, key string, l jira.RemoteLink) error
}

// confluenceDraft is the page as this run's post-mortem step left it (with
// the follow-up tickets' keys and the owner as Jira took them): what the
// Confluence page is rendered from. Set by setPage (epic_page.go).
type confluenceDraft struct {
	service string // the primary's service: where routes send the page (set by draft)
	page    render.Page
	title   string   // the epic's summary
	labels  []string // the epic's labels
	set     bool
	// link is the page once it exists, for the epic's description.
	link render.ConfluencePage
}

// confluenceResult is what the confluence_page step records.
type confluenceResult struct {
	ID    string `json:"id"`
	Space string `json:"space"`
	Title string `json:"title"`
	URL   string `json:"url"`
	// Digest is the digest of the body aftermath wrote last: a later run
	// whose body differs has news for the page.
	Digest string `json:"digest"`
}

func (c confluenceResult) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// onConfluence reports whether the page lives in Confluence: the rules say
// so and Confluence is configured (the app refuses to start otherwise; a
// reload to confluence without it keeps the page in the epic, and the
// confluence step says why).
func (x *run) onConfluence() bool {
	return x.rules.Page.Target == rules.TargetConfluence && x.r.Confluence != nil
}

// confluenceDescription is the epic's description when the page lives in
// Confluence.
func (x *run) confluenceDescription(page render.Page) string {
	link := x.confluence.link
	if link.Space == "" {
		link.Space, _, _ = x.rules.ConfluencePage(x.confluence.service)
	}
	return render.ConfluenceDescription(page, link)
}

// planConfluencePage says in a plan (aftermath plan, a dry run) where the
// post-mortem's page would go when it lives in Confluence: the step itself
// runs only once the epic exists, which a plan never makes.
func (x *run) planConfluencePage(d draft) {
	if x.r.Mode != PlanOnly || x.rules.Page.Target != rules.TargetConfluence {
		return
	}
	if x.r.Confluence == nil {
		x.plan.add(x.id, StepConfluencePage, store.StepSkipped,
			"the rules say page.target: confluence but Confluence is not configured (CONFLUENCE_BASE_URL and credentials): the page would stay in the epic")
		return
	}
	space, parent, _ := x.rules.ConfluencePage(x.confluence.service)
	where := "space " + space
	if parent != "" {
		where += " under the page " + strconv.Quote(parent)
	}
	x.plan.add(x.id, StepConfluencePage, store.StepPlanned,
		fmt.Sprintf("would create the post-mortem page %q in Confluence %s, linked both ways with the epic", confluenceTitle(d.summary), where))
}

// confluencePage makes the post-mortem page in Confluence once the epic
// exists, links the epic to it, and brings it up to date on a later run
// that has news for it.
func (x *run) confluencePage(ctx context.Context, ref PostmortemRef) error {
	if x.rules.Page.Target != rules.TargetConfluence {
		return nil
	}
	if x.r.Confluence == nil {
		return x.trace(ctx, StepConfluencePage, store.StepSkipped,
			"the rules say page.target: confluence but Confluence is not configured (CONFLUENCE_BASE_URL and credentials): the page stays in the epic", "")
	}
	if !x.confluence.set {
		return nil // no page this run (a dry run, or no post-mortem)
	}
	d := x.confluence
	space, parent, _ := x.rules.ConfluencePage(d.service)
	body := render.StorageBackLinks(ref.Key, ref.URL, d.page)
	main, err := render.Storage(d.page)
	if err != nil {
		return Permanent(fmt.Errorf("render the Confluence page of %s: %w", ref.Key, err))
	}
	body += main
	digest := bodyDigest(body)
	made := confluenceResult{Space: space, Title: confluenceTitle(d.title), Digest: digest}
	labels := confluenceLabels(d.labels)
	res, err := x.write(ctx, write{
		incident: x.id, name: StepConfluencePage,
		intent: fmt.Sprintf("create the Confluence page of %s in space %s", ref.Key, space),
		lookup: x.findConfluencePage(space, made, labels),
		do: func(ctx context.Context) (string, error) {
			parentID, err := x.confluenceParent(ctx, space, parent)
			if err != nil {
				return "", err
			}
			spec := confluence.PageSpec{SpaceKey: space, ParentID: parentID, Title: made.Title, Body: body, IncidentID: x.id, Labels: labels}
			p, err := x.r.Confluence.CreatePage(ctx, spec)
			if errors.Is(err, confluence.ErrTitleTaken) {
				// A page of the space, not aftermath's, has the epic's
				// title: the incident's ID makes this one's unique.
				x.log.Warn("a Confluence page of the space has the post-mortem's title; adding the incident's ID to it", "space", space)
				spec.Title = titleFor(made.Title, x.id)
				p, err = x.r.Confluence.CreatePage(ctx, spec)
			}
			if err != nil {
				return "", err
			}
			r := made
			r.ID, r.Title, r.URL = p.ID, p.Title, x.r.Confluence.PageURL(space, p.ID)
			return r.String(), nil
		},
	})
	if err != nil || res == "" {
		return err
	}
	var page confluenceResult
	if err := json.Unmarshal([]byte(res), &page); err != nil || page.ID == "" {
		return Permanent(fmt.Errorf("decode the Confluence page step of %s: %q", x.id, res))
	}
	x.confluence.link = render.ConfluencePage{Space: page.Space, Title: page.Title, URL: page.URL}
	x.plan.add(x.id, StepConfluencePage, store.StepDone, "the post-mortem page is "+page.URL)
	if err := x.linkEpic(ctx, ref, page); err != nil {
		return err
	}
	if page.Digest != digest {
		return x.updateConfluence(ctx, ref, page, body, digest)
	}
	return nil
}

// findConfluencePage is the page step's look-up: the page an earlier
// attempt made, by the epic's title (or the title with the incident's ID)
// and the incident's property; one that attempt did not mark yet (known by
// its first line's link to the incident: the title may be another
// incident's too) is marked.
func (x *run) findConfluencePage(space string, made confluenceResult, labels []string) func(context.Context) (string, bool, error) {
	return func(ctx context.Context) (string, bool, error) {
		for _, title := range []string{made.Title, titleFor(made.Title, x.id)} {
			p, ok, err := x.r.Confluence.FindPage(ctx, confluence.Lookup{SpaceKey: space, Title: title, IncidentID: x.id})
			if err != nil || !ok {
				if err != nil {
					return "", false, err
				}
				continue
			}
			if !p.Marked {
				// Made by an attempt that stopped before marking it.
				if err := x.r.Confluence.MarkPage(ctx, p.ID, x.id, labels...); err != nil {
					return "", false, err
				}
			}
			r := made
			r.ID, r.Title, r.URL = p.ID, p.Title, x.r.Confluence.PageURL(space, p.ID)
			return r.String(), true, nil
		}
		return "", false, nil
	}
}

// linkEpic points the epic at the page: its description's line, and a
// remote link. Both writes may be repeated (a description is set, a remote
// link with a global ID is kept once), so neither needs a look-up.
func (x *run) linkEpic(ctx context.Context, ref PostmortemRef, page confluenceResult) error {
	desc := x.confluenceDescription(x.confluence.page)
	_, err := x.write(ctx, write{
		incident: x.id, name: StepConfluenceEpic,
		intent: fmt.Sprintf("link %s's description to its Confluence page %s", ref.Key, page.URL),
		do: func(ctx context.Context) (string, error) {
			return ref.Key, x.r.Jira.SetPage(ctx, ref.Key, desc)
		},
	})
	if err != nil && !refused(err) {
		return err
	}
	rl, ok := x.r.Jira.(remoteLinker)
	if !ok {
		return nil
	}
	link := jira.RemoteLink{GlobalID: "aftermath-confluence-page=" + page.Space + "/" + page.ID, URL: page.URL, Title: page.Title, Application: "Confluence"}
	_, err = x.write(ctx, write{
		incident: x.id, name: StepConfluenceLink,
		intent: fmt.Sprintf("add a remote link from %s to its Confluence page %s", ref.Key, page.URL),
		do: func(ctx context.Context) (string, error) {
			return ref.Key, rl.AddRemoteLink(ctx, ref.Key, link)
		},
	})
	if err != nil && !refused(err) {
		return err
	}
	return nil
}

// updateConfluence brings the page to body, once per body: written again
// while only aftermath has saved it, and otherwise (a person edited it, or
// saves while aftermath writes: the version moved) left as people made it,
// with one footer comment saying what is new.
func (x *run) updateConfluence(ctx context.Context, ref PostmortemRef, page confluenceResult, body, digest string) error {
	marker := commentMarker("confluence-news-"+digest, x.id)
	news := render.ConfluenceNews(x.confluence.page, ref.Key, ref.URL, marker)
	// The update's version carries its own marker: Confluence normalises
	// the storage it keeps, so the body read back is not the body sent,
	// and a person may have saved after it; the version aftermath saved
	// last says whether this update took.
	updated := commentMarker("confluence-update-"+digest, x.id)
	message := "aftermath: the incident's group or follow-ups changed (" + updated + ")"
	_, err := x.write(ctx, write{
		incident: x.id, name: StepConfluenceUpdate + "_" + digest,
		intent: fmt.Sprintf("bring the Confluence page %s of %s up to date", page.ID, ref.Key),
		lookup: func(ctx context.Context) (string, bool, error) {
			if _, ok, err := x.r.Confluence.FindComment(ctx, page.ID, marker); err != nil || ok {
				return "commented", ok, err
			}
			v, ok, err := x.r.Confluence.LastOwnVersion(ctx, page.ID)
			return "updated", err == nil && ok && strings.Contains(v.Message, updated), err
		},
		do: func(ctx context.Context) (string, error) {
			p, err := x.r.Confluence.GetPage(ctx, page.ID)
			if err != nil {
				return "", err
			}
			if !p.EditedByOthers {
				_, err = x.r.Confluence.UpdatePage(ctx, confluence.PageUpdate{ID: p.ID, Version: p.Version.Number, Title: p.Title, Body: body,
					Message: message})
				if !errors.Is(err, confluence.ErrVersionMoved) {
					return "updated", err
				}
				x.log.Info("someone saved the Confluence page while aftermath wrote it; commenting instead", "page", p.ID)
			}
			_, err = x.r.Confluence.AddComment(ctx, p.ID, news)
			return "commented", err
		},
	})
	if err != nil && !refused(err) {
		return err
	}
	return nil
}

// confluenceParent is the ID of the page the post-mortem goes under: the
// rules name it by ID or title; "" for the space's home.
func (x *run) confluenceParent(ctx context.Context, space, parent string) (string, error) {
	if parent == "" || allDigits(parent) {
		return parent, nil
	}
	id, ok, err := x.r.Confluence.PageIDByTitle(ctx, space, parent)
	switch {
	case err != nil:
		return "", err
	case !ok:
		// Retried: creating the parent page is enough to go on.
		return "", fmt.Errorf("no page titled %q in Confluence space %s to put the post-mortem under (rules confluence.parent): create it, or change the rules", parent, space)
	}
	return id, nil
}

// confluencePageOf is the page recorded for the incident, once made.
func (x *run) confluencePageOf(ctx context.Context) (confluenceResult, bool, error) {
	st, seen, err := x.checkpointOf(ctx, x.id, StepConfluencePage)
	if err != nil || !seen || st.Status != store.StepDone {
		return confluenceResult{}, false, err
	}
	var c confluenceResult
	if err := json.Unmarshal([]byte(st.Result), &c); err != nil || c.ID == "" {
		return c, false, nil
	}
	return c, true, nil
}

// keepForConfluence keeps the page as setPage made it (the follow-ups
// with their keys, the owner as Jira took it) for the Confluence page.
func (x *run) keepForConfluence(page render.Page, d draft) {
	x.confluence.page, x.confluence.title, x.confluence.labels, x.confluence.set = page, d.summary, d.labels, true
}

// confluenceTitle is the page's title: the epic's summary, within
// Confluence's 255 characters.
func confluenceTitle(summary string) string {
	s := strings.TrimSpace(summary)
	if r := []rune(s); len(r) > 255 {
		s = string(r[:254]) + "…"
	}
	return s
}

// titleFor is the title with the incident's ID, for a title another page
// of the space already has.
func titleFor(title, incidentID string) string {
	suffix := " (" + incidentID + ")"
	r := []rune(title)
	if n := 255 - len([]rune(suffix)); len(r) > n {
		title = string(r[:n-1]) + "…"
	}
	return title + suffix
}

// confluenceLabels are the rules' labels Confluence takes as labels (no
// white space or the punctuation it reserves), lower-cased.
func confluenceLabels(labels []string) []string {
	var out []string
	for _, l := range labels {
		l = strings.ToLower(l)
		if l != "" && len(l) <= 255 && !badLabelRe.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

var badLabelRe = regexp.MustCompile(`[\s:;,.?&!'"#\[\]()<>]`)

func bodyDigest(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:8])
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
