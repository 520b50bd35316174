package workflow

import (
	"context"
	"strings"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// Owner is who owns a post-mortem, and where that came from.
type Owner struct {
	Email  string `json:"email,omitempty"`
	Name   string `json:"name,omitempty"`
	UserID string `json:"user_id,omitempty"` // the PagerDuty user, when the owner is one
	Source string `json:"source,omitempty"`  // override, resolver, last_assignee or fallback
	JiraID string `json:"jira_id,omitempty"` // the Jira user (accountId or name), when Jira matched one
}

// owner picks the post-mortem's owner: the first of the rules' sources, in
// order, that gives an email (and, with Jira, a Jira user of that email).
// Every source tried is said in the trace. No owner is not an error: the
// post-mortem is then made unassigned, and note says why.
func (x *run) owner(ctx context.Context, in pagerduty.Incident, logs map[string]incidentLog) (o Owner, note string, err error) {
	var tried []string
	for _, c := range x.rules.OwnerCandidates(in.Service.ID) {
		o, why, err := x.ownerFrom(ctx, in, logs[in.ID].Entries, c)
		if err != nil {
			return Owner{}, "", x.failRead(ctx, StepOwner, err)
		}
		if why != "" {
			tried = append(tried, c.Source+": "+why)
			continue
		}
		who := o.Email
		if o.Name != "" {
			who = o.Name + " <" + o.Email + ">"
		}
		detail := c.Source + ": " + who
		if len(tried) > 0 {
			detail += " (after " + strings.Join(tried, "; ") + ")"
		}
		x.plan.Owner = o
		return o, "", x.trace(ctx, StepOwner, store.StepDone, detail, "")
	}
	note = "no owner: " + strings.Join(tried, "; ")
	if len(tried) == 0 {
		note = "no owner: the rules name no owner source"
	}
	return Owner{}, note, x.trace(ctx, StepOwner, store.StepDone, note+"; the post-mortem is made unassigned", "")
}

// notOwner says why a source gave no owner when it named aftermath's own
// PagerDuty user: it resolves open members, and the post-mortem needs a
// person.
const notOwner = "aftermath's own PagerDuty user (PAGERDUTY_FROM_EMAIL)"

// ownerFrom is the owner one source gives, or why it gives none.
func (x *run) ownerFrom(ctx context.Context, in pagerduty.Incident, entries []pagerduty.LogEntry, c rules.OwnerCandidate) (Owner, string, error) {
	o := Owner{Email: c.Email, Source: c.Source}
	if o.Email == "" {
		var user pagerduty.Ref
		switch c.Source {
		case rules.SourceResolver:
			user = resolver(in, entries)
		case rules.SourceLastAssignee:
			user = lastAssignee(in, entries)
		}
		if user.ID == "" || !isUser(user) {
			return o, "nobody", nil
		}
		if x.own.is(user) {
			return o, notOwner, nil
		}
		u, err := x.r.PagerDuty.User(ctx, user.ID)
		if refused(err) {
			return o, "PagerDuty user " + user.ID + " cannot be read (" + err.Error() + ")", nil
		}
		if err != nil {
			return o, "", err
		}
		if u.Email == "" {
			return o, u.Name + " has no email", nil
		}
		if x.isFromEmail(u.Email) {
			return o, notOwner, nil
		}
		o = Owner{Email: u.Email, Name: u.Name, UserID: u.ID, Source: c.Source}
	}
	if x.r.Jira == nil {
		return o, "", nil
	}
	u, found, err := x.r.Jira.UserByEmail(ctx, o.Email)
	if refused(err) {
		// Jira will not say (no permission to browse users): this source
		// gives no owner; the next is tried.
		x.log.Warn("Jira refused a user search; trying the next owner source", "err", err)
		found, err = false, nil
	}
	if err != nil || !found {
		return o, "no Jira user has the email " + o.Email, err
	}
	o.JiraID = u.ID
	if o.Name == "" {
		o.Name = u.DisplayName
	}
	return o, "", nil
}

// resolver is who resolved the incident: the agent of its resolve entry, or
// whoever changed its status last.
func resolver(in pagerduty.Incident, entries []pagerduty.LogEntry) pagerduty.Ref {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Type == "resolve_log_entry" && entries[i].Agent.ID != "" {
			return entries[i].Agent
		}
	}
	return in.LastStatusChangeBy
}

// lastAssignee is the last user the incident was assigned to.
func lastAssignee(in pagerduty.Incident, entries []pagerduty.LogEntry) pagerduty.Ref {
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if (e.Type == "assign_log_entry" || e.Type == "escalate_log_entry" || e.Type == "delegate_log_entry") && len(e.Assignees) > 0 {
			return e.Assignees[len(e.Assignees)-1]
		}
	}
	if len(in.Assignees) > 0 {
		return in.Assignees[len(in.Assignees)-1]
	}
	return pagerduty.Ref{}
}

// ownerComment says on an unassigned epic why nobody owns it.
func (x *run) ownerComment(ctx context.Context, in pagerduty.Incident, key, why string) error {
	marker := commentMarker("owner", in.ID)
	text := render.OwnerComment(why, marker)
	_, err := x.write(ctx, write{
		incident: x.id, name: StepOwnerComment, intent: "comment on " + key + " why it is unassigned",
		lookup: x.findComment(key, marker),
		do:     func(ctx context.Context) (string, error) { return key, x.r.Jira.AddComment(ctx, key, text) },
	})
	if refused(err) {
		return nil
	}
	return err
}
