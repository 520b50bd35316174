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

// statusChanged does what a post-mortem's new status asks: at Reviewed,
// when the page has an external message and the rules name a customer
// liaison, a comment asks the liaison to post it on the status page.
func (x *run) statusChanged(ctx context.Context) error {
	var job StatusJob
	if err := json.Unmarshal(x.body, &job); err != nil || job.Status == "" {
		return Permanent(fmt.Errorf("status job of %s: not a status: %q", x.id, x.body))
	}
	liaison := x.rules.CustomerLiaison
	d, found, err := x.store.Deadline(ctx, x.id)
	switch {
	case err != nil:
		return err
	case job.Status != store.StatusReviewed:
		return x.trace(ctx, StepLiaison, store.StepSkipped, "the post-mortem is "+job.Status+": nothing to do", "")
	case !found || x.r.Jira == nil:
		return x.trace(ctx, StepLiaison, store.StepSkipped, "no tracked post-mortem in Jira", "")
	case liaison == "":
		return x.trace(ctx, StepLiaison, store.StepSkipped, "the rules name no customer_liaison", "")
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
