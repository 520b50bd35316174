package workflow

import (
	"context"

	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

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
	// The page where it lives (in Confluence, when it is there).
	page, where, err := x.reviewedPage(ctx, d.Key)
	if err != nil {
		return x.failRead(ctx, StepLiaison, err)
	}
	msg, ok := render.ExternalMessage(page)
	if !ok {
		return x.trace(ctx, StepLiaison, store.StepSkipped, "the page of "+where+" has no external message", "")
	}
	// Without a Jira user the address from the rules is written as text,
	// escaped: an address holds _ + - that wiki markup would read.
	who := render.Cell(liaison)
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
	text := render.LiaisonComment(who, msg, marker)
	_, err = x.write(ctx, write{
		incident: x.id, name: StepLiaison, intent: "ask the customer liaison on " + d.Key + " to post the external message",
		lookup: x.findComment(d.Key, marker),
		do:     func(ctx context.Context) (string, error) { return d.Key, x.r.Jira.AddComment(ctx, d.Key, text) },
	})
	return err
}
