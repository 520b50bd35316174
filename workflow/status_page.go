package workflow

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strings"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// The external message on the status page (rules external_message), at
// Reviewed: the page's External section goes to PagerDuty as the
// postmortem of the status-page post linked to the primary incident, a
// comment on the epic links to it, and the epic moves to Closed. Each of
// the three writes is checkpointed and looked up before it is made again,
// so replays, retries and a second replica make each once.
const (
	// StepStatusPage is what the status-page step found (trace).
	StepStatusPage = "status_page"
	// StepStatusPagePostmortem is the PUT of the post's postmortem.
	StepStatusPagePostmortem = "status_page_postmortem"
	// StepStatusPageComment is the comment linking to the post.
	StepStatusPageComment = "status_page_comment"
	// StepStatusPageUnposted is the comment saying why the message is not
	// on the status page (no linked post, another postmortem there, too
	// long), for Support to post it.
	StepStatusPageUnposted = "status_page_unposted"
	// StepStatusPageClose is the epic's transition to Closed.
	StepStatusPageClose = "status_page_close"
)

// StatusPages is what the workflow needs of PagerDuty's status pages.
type StatusPages interface {
	StatusPage(ctx context.Context, id string) (p pagerduty.StatusPage, found bool, err error)
	// LinkedPost finds the post of a status page linked to an incident.
	LinkedPost(ctx context.Context, pageID, incidentID string) (p pagerduty.StatusPagePost, found bool, err error)
	Postmortem(ctx context.Context, pageID, postID string) (pm pagerduty.Postmortem, found bool, err error)
	PutPostmortem(ctx context.Context, pageID, postID, message string, notifySubscribers bool) (pagerduty.Postmortem, error)
}

// Transitions is what the workflow needs of Jira's workflow to move an
// epic on.
type Transitions interface {
	Status(ctx context.Context, key string) (string, error)
	Transitions(ctx context.Context, key string) ([]jira.Transition, error)
	DoTransition(ctx context.Context, key string, t jira.Transition) error
}

// statusPage puts the page's external message on the status page the
// rules name, or says on the epic why it could not; without an external
// message it closes the epic when the rules say so.
func (x *run) statusPage(ctx context.Context) error {
	cfg := x.rules.ExternalMessage
	d, ok, err := x.tracked(ctx, StepStatusPage)
	if !ok {
		return err
	}
	// The page where it lives: with the page in Confluence the epic's
	// description is a short one, without the External section.
	page, where, err := x.reviewedPage(ctx, d.Key)
	if err != nil {
		return x.failRead(ctx, StepStatusPage, err)
	}
	msg, has, fits := render.StatusPageMessage(page)
	if !has {
		if !cfg.CloseWithoutExternalMessage {
			return x.trace(ctx, StepStatusPage, store.StepSkipped, "the page of "+where+" has no external message, and the rules leave the post-mortem at Reviewed (external_message.close_without_external_message is false)", "")
		}
		if err := x.trace(ctx, StepStatusPage, store.StepDone, "the page of "+where+" has no external message: closing the post-mortem (external_message.close_without_external_message)", ""); err != nil {
			return err
		}
		return x.closeEpic(ctx, d)
	}
	quoted, _ := render.ExternalMessage(page)
	if !fits {
		if err := x.trace(ctx, StepStatusPage, store.StepDone, fmt.Sprintf("the external message of %s is too long for a status page (%d characters as rich text, at most %d): not posted", d.Key, len([]rune(msg)), render.StatusPageLimit), ""); err != nil {
			return err
		}
		return x.unposted(ctx, d, "say on "+d.Key+" that the external message is too long for the status page",
			func(marker string) string {
				return render.StatusPageTooLongComment(len([]rune(msg)), render.StatusPageLimit, marker)
			})
	}
	post, found, err := x.r.PagerDuty.LinkedPost(ctx, cfg.StatusPage, d.Incident)
	if err != nil {
		return x.failRead(ctx, StepStatusPage, err)
	}
	if !found {
		sp, err := x.statusPageOf(ctx, cfg.StatusPage)
		if err != nil {
			return x.failRead(ctx, StepStatusPage, err)
		}
		if err := x.trace(ctx, StepStatusPage, store.StepDone, "no post of status page "+cfg.StatusPage+" is linked to incident "+d.Incident+": the message is left to Support", ""); err != nil {
			return err
		}
		return x.unposted(ctx, d, "say on "+d.Key+" that no status-page post is linked to the incident",
			func(marker string) string { return render.StatusPageNoPostComment(sp.Name, d.Number, quoted, marker) })
	}
	sp, err := x.statusPageOf(ctx, cfg.StatusPage)
	if err != nil {
		return x.failRead(ctx, StepStatusPage, err)
	}
	url := postURL(sp, post)
	if err := x.trace(ctx, StepStatusPage, store.StepDone, "post "+post.ID+" of status page "+cfg.StatusPage+" is linked to incident "+d.Incident, post.ID); err != nil {
		return err
	}
	posted, err := x.putPostmortem(ctx, d, post, msg, cfg.NotifySubscribers)
	if err != nil || !posted {
		if err == nil {
			err = x.unposted(ctx, d, "say on "+d.Key+" that post "+post.ID+" already has another postmortem",
				func(marker string) string { return render.StatusPageTakenComment(post.Title, url, quoted, marker) })
		}
		return err
	}
	marker := commentMarker("statuspage", x.id)
	text := render.StatusPagePostedComment(post.Title, url, marker)
	if _, err := x.write(ctx, write{
		incident: x.id, name: StepStatusPageComment, intent: "link " + d.Key + " to status-page post " + post.ID,
		lookup: x.findComment(d.Key, marker),
		do:     func(ctx context.Context) (string, error) { return d.Key, x.r.Jira.AddComment(ctx, d.Key, text) },
	}); err != nil {
		return err
	}
	return x.closeEpic(ctx, d)
}

// putPostmortem writes msg as the post's postmortem, once. A postmortem
// already on the post with the same text is this one (an earlier
// attempt's, whose answer was lost): nothing is written. One with another
// text was written by people and is left as it is: posted is false then.
func (x *run) putPostmortem(ctx context.Context, d store.Deadline, post pagerduty.StatusPagePost, msg string, notify bool) (posted bool, err error) {
	pageID := post.PageID
	prev, seen, err := x.checkpointOf(ctx, x.id, StepStatusPagePostmortem)
	if err != nil {
		return false, err
	}
	find := func(ctx context.Context) (string, bool, error) {
		pm, found, err := x.r.PagerDuty.Postmortem(ctx, pageID, post.ID)
		if err != nil || !found || !sameMessage(pm.Message, msg) {
			return "", false, err
		}
		return pm.ID, true, nil
	}
	if !(seen && prev.Status == store.StepDone) && post.Postmortem != "" {
		// The post has a postmortem, and this step has not recorded
		// writing it: whose is it?
		pm, found, err := x.r.PagerDuty.Postmortem(ctx, pageID, post.ID)
		if err != nil {
			return false, x.failRead(ctx, StepStatusPage, err)
		}
		switch {
		case found && sameMessage(pm.Message, msg):
			if !x.dry {
				x.progress = true
			}
			return true, x.settle(ctx, StepStatusPagePostmortem, store.StepDone,
				"put the external message of "+d.Key+" as the postmortem of status-page post "+post.ID+" (found, already there)")
		case found:
			return false, nil
		}
	}
	_, err = x.write(ctx, write{
		incident: x.id, name: StepStatusPagePostmortem,
		intent: fmt.Sprintf("put the external message of %s as the postmortem of status-page post %s (notify subscribers: %t)", d.Key, post.ID, notify),
		lookup: find,
		do: func(ctx context.Context) (string, error) {
			pm, err := x.r.PagerDuty.PutPostmortem(ctx, pageID, post.ID, msg, notify)
			return pm.ID, err
		},
	})
	return err == nil, err
}

// unposted comments on the epic, once, why the message is not on the
// status page; the epic stays Reviewed.
func (x *run) unposted(ctx context.Context, d store.Deadline, intent string, comment func(marker string) string) error {
	marker := commentMarker("statuspage-unposted", x.id)
	text := comment(marker)
	_, err := x.write(ctx, write{
		incident: x.id, name: StepStatusPageUnposted, intent: intent,
		lookup: x.findComment(d.Key, marker),
		do:     func(ctx context.Context) (string, error) { return d.Key, x.r.Jira.AddComment(ctx, d.Key, text) },
	})
	return err
}

// closeEpic moves the epic to Closed: through the transition Jira offers
// into a status the rules' status_map maps to Closed. An epic already
// Closed is left as it is; one people moved on from Reviewed meanwhile (back
// to In Review, say) is not closed behind their back.
func (x *run) closeEpic(ctx context.Context, d store.Deadline) error {
	prev, seen, err := x.checkpointOf(ctx, x.id, StepStatusPageClose)
	if err != nil {
		return err
	}
	closed := closedStatuses(x.rules)
	if !(seen && prev.Status == store.StepDone) && !unfinished(prev, seen) {
		now, err := x.r.Jira.Status(ctx, d.Key)
		if err != nil {
			return x.failRead(ctx, StepStatusPage, err)
		}
		switch st, _ := x.rules.PostmortemStatus(now); st {
		case store.StatusClosed:
			if !x.dry {
				x.progress = true
			}
			return x.settle(ctx, StepStatusPageClose, store.StepDone, d.Key+" is "+now+" already (Closed): not moved")
		case store.StatusReviewed:
		default:
			return x.trace(ctx, StepStatusPage, store.StepSkipped, d.Key+" is "+now+" now, no longer Reviewed: not moved to Closed", "")
		}
	}
	_, err = x.write(ctx, write{
		incident: x.id, name: StepStatusPageClose, intent: "move " + d.Key + " to Closed (" + strings.Join(closed, " or ") + ")",
		lookup: func(ctx context.Context) (string, bool, error) {
			now, err := x.r.Jira.Status(ctx, d.Key)
			if err != nil {
				return "", false, err
			}
			return now, slices.Contains(closed, now), nil
		},
		do: func(ctx context.Context) (string, error) {
			ts, err := x.r.Jira.Transitions(ctx, d.Key)
			if err != nil {
				return "", err
			}
			for _, t := range ts {
				if slices.Contains(closed, t.To) {
					return t.To, x.r.Jira.DoTransition(ctx, d.Key, t)
				}
			}
			return "", &jira.Error{Op: "move " + d.Key + " to Closed",
				Message: "no transition Jira offers leads to a status that status_map maps to Closed (" + strings.Join(closed, ", ") + "): add one to the project's workflow, or map its closing status to Closed in status_map"}
		},
	})
	return err
}

// closedStatuses are the Jira statuses the rules map to Closed, in order.
func closedStatuses(rl *rules.Rules) []string {
	var out []string
	for jiraStatus, st := range rl.StatusMap {
		if st == store.StatusClosed {
			out = append(out, jiraStatus)
		}
	}
	slices.Sort(out)
	return out
}

// statusPageOf reads the status page for its name and address; one the
// account does not list is named by its ID.
func (x *run) statusPageOf(ctx context.Context, id string) (pagerduty.StatusPage, error) {
	sp, found, err := x.r.PagerDuty.StatusPage(ctx, id)
	if err != nil || !found {
		return pagerduty.StatusPage{ID: id, Name: "status page " + id}, err
	}
	if sp.Name == "" {
		sp.Name = "status page " + id
	}
	return sp, nil
}

// postURL is where people read a post: under its status page's address.
func postURL(sp pagerduty.StatusPage, post pagerduty.StatusPagePost) string {
	if sp.URL == "" {
		return ""
	}
	return strings.TrimRight(sp.URL, "/") + "/posts/details/" + post.ID
}

var tagRe = regexp.MustCompile(`<[^>]*>`)

// sameMessage reports whether two postmortem messages say the same:
// PagerDuty may store rich text with other tags or spacing than it was
// sent with, so they are compared as the text a reader sees.
func sameMessage(a, b string) bool {
	plain := func(s string) string {
		return strings.Join(strings.Fields(html.UnescapeString(tagRe.ReplaceAllString(s, " "))), " ")
	}
	return plain(a) == plain(b)
}
