package workflow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// StatusJob is the body of an EventStatus job.
type StatusJob struct {
	Status string `json:"status"`
}

// statusChanged does what a post-mortem's new status asks: at In Review,
// the language review of its page; at Reviewed, when the page has an
// external message and the rules name a customer liaison, a comment asks
// the liaison to post it on the status page, and the Reviewed message goes
// to the owner and the rules' recipients.
func (x *run) statusChanged(ctx context.Context) error {
	var job StatusJob
	if err := json.Unmarshal(x.body, &job); err != nil || job.Status == "" {
		return Permanent(fmt.Errorf("status job of %s: not a status: %q", x.id, x.body))
	}
	switch job.Status {
	case store.StatusInReview:
		return x.languageReview(ctx)
	case store.StatusReviewed:
		if err := x.liaison(ctx); err != nil {
			return err
		}
		return x.tellReviewed(ctx)
	}
	return x.trace(ctx, StepLiaison, store.StepSkipped, "the post-mortem is "+job.Status+": nothing to do", "")
}

// tracked is the post-mortem's record, when it is tracked in Jira; the
// step is traced as skipped otherwise.
func (x *run) tracked(ctx context.Context, step string) (store.Deadline, bool, error) {
	d, found, err := x.store.Deadline(ctx, x.id)
	if err != nil {
		return d, false, err
	}
	if !found || x.r.Jira == nil {
		return d, false, x.trace(ctx, step, store.StepSkipped, "no tracked post-mortem in Jira", "")
	}
	return d, true, nil
}

// languageReview reads the page as people left it and, when it uses
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
	page, err := x.r.Jira.Page(ctx, d.Key)
	if err != nil {
		return x.failRead(ctx, StepLanguageReview, err)
	}
	review := render.ReviewLanguage(page, cfg.BlamePhrases)
	if review.Empty() {
		return x.trace(ctx, StepLanguageReview, store.StepSkipped, "the page of "+d.Key+" uses no \"outage\" in its external message and no blame-shaped phrase: no comment", "")
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

// liaison asks the customer liaison to post the page's external message.
func (x *run) liaison(ctx context.Context) error {
	liaison := x.rules.CustomerLiaison
	if liaison == "" {
		return x.trace(ctx, StepLiaison, store.StepSkipped, "the rules name no customer_liaison", "")
	}
	d, ok, err := x.tracked(ctx, StepLiaison)
	if !ok {
		return err
	}
	page, err := x.r.Jira.Page(ctx, d.Key)
	if err != nil {
		return x.failRead(ctx, StepLiaison, err)
	}
	msg, ok := render.ExternalMessage(page)
	if !ok {
		return x.trace(ctx, StepLiaison, store.StepSkipped, "the page of "+d.Key+" has no external message", "")
	}
	who := liaison
	u, found, err := x.r.Jira.UserByEmail(ctx, liaison)
	if err != nil && !refused(err) {
		return x.failRead(ctx, StepLiaison, err)
	}
	if found {
		if who, err = x.r.Jira.Mention(ctx, u.ID); err != nil {
			return x.failRead(ctx, StepLiaison, err)
		}
	}
	marker := commentMarker("liaison", x.id)
	text := fmt.Sprintf("%s this post-mortem is Reviewed: please post its external message on the status page.\n{quote}%s{quote}\n%s",
		who, render.Text(msg), marker)
	_, err = x.write(ctx, write{
		incident: x.id, name: StepLiaison, intent: "ask the customer liaison on " + d.Key + " to post the external message",
		lookup: x.findComment(d.Key, marker),
		do:     func(ctx context.Context) (string, error) { return d.Key, x.r.Jira.AddComment(ctx, d.Key, text) },
	})
	return err
}
