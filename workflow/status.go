package workflow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aftermath-dev/aftermath/store"
)

// StatusJob is the body of an EventStatus job.
type StatusJob struct {
	Status string `json:"status"`
}

// statusChanged does what a post-mortem's new status asks: at In Review,
// the language review of its page; at Reviewed, when the rules name a
// status page, the page's external message is posted there and the epic
// closed (status_page.go), else, when the page has an external message and
// the rules name a customer liaison, a comment asks the liaison to post it
// on the status page; then the Reviewed message goes to the owner and the
// rules' recipients.
func (x *run) statusChanged(ctx context.Context) error {
	var job StatusJob
	if err := json.Unmarshal(x.body, &job); err != nil || job.Status == "" {
		return Permanent(fmt.Errorf("status job of %s: not a status: %q", x.id, x.body))
	}
	switch job.Status {
	case store.StatusInReview:
		return x.languageReview(ctx)
	case store.StatusReviewed:
		// With a status page in the rules aftermath posts the external
		// message itself (status_page.go); without one it asks the
		// customer liaison to.
		step := x.liaison
		if x.rules.ExternalMessage.StatusPage != "" {
			step = x.statusPage
		}
		if err := step(ctx); err != nil {
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
