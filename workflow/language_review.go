package workflow

import (
	"context"
	"fmt"

	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// languageReview reads the page as people left it (in Confluence when it
// lives there) and, when it uses
// "outage" in its External section or blame-shaped phrases, says so in one
// comment on the epic. The page itself is never changed. The comment's
// marker makes it once per post-mortem, whatever replays the job.
func (x *run) languageReview(ctx context.Context) error {
	cfg := x.rules.Page
	if !cfg.LanguageReview {
		return x.trace(ctx, StepLanguageReview, store.StepSkipped, "the rules turn page.language_review off", "")
	}
	d, ok, err := x.tracked(ctx, StepLanguageReview)
	if !ok {
		return err
	}
	page, where, err := x.reviewedPage(ctx, d.Key)
	if err != nil {
		return x.failRead(ctx, StepLanguageReview, err)
	}
	review := render.ReviewLanguage(page, cfg.BlamePhrases)
	if review.Empty() {
		return x.trace(ctx, StepLanguageReview, store.StepSkipped, "the page of "+where+" uses no \"outage\" in its external message and no blame-shaped phrase: no comment", "")
	}
	marker := commentMarker("language", x.id)
	text := render.LanguageComment(review) + marker
	_, err = x.write(ctx, write{
		incident: x.id, name: StepLanguageReview,
		intent: fmt.Sprintf("list %d uses of \"outage\" and %d blame-shaped phrases on %s", len(review.Outage), len(review.Blame), d.Key),
		lookup: x.findComment(d.Key, marker),
		do:     func(ctx context.Context) (string, error) { return d.Key, x.r.Jira.AddComment(ctx, d.Key, text) },
	})
	return err
}

// reviewedPage reads the post-mortem page as people left it, where it
// lives: the Confluence page made for the incident (read as the review
// reads Jira's markup), else the epic's description. where names it.
func (x *run) reviewedPage(ctx context.Context, key string) (page, where string, err error) {
	if x.r.Confluence != nil {
		cp, ok, err := x.confluencePageOf(ctx)
		if err != nil {
			return "", "", err
		}
		if ok {
			p, err := x.r.Confluence.GetPage(ctx, cp.ID)
			if err != nil {
				return "", "", err
			}
			return render.StorageText(p.Body), key + " (the Confluence page " + cp.URL + ")", nil
		}
	}
	page, err = x.r.Jira.Page(ctx, key)
	return page, key, err
}
