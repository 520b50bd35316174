package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

var _ Jira = (*jira.Client)(nil)

// Jira is what the workflow needs of Jira.
type Jira interface {
	UserByEmail(ctx context.Context, email string) (jira.User, bool, error)
	CreateIssue(ctx context.Context, spec jira.IssueSpec) (string, error)
	CreateIssues(ctx context.Context, specs []jira.IssueSpec) ([]jira.BulkResult, error)
	UpdateDescription(ctx context.Context, key, description string) error
	Search(ctx context.Context, jql string, limit int) ([]jira.Issue, error)
	Comments(ctx context.Context, key string) ([]string, error)
	AddComment(ctx context.Context, key, body string) error
	AddLabels(ctx context.Context, key string, labels []string) error
	BrowseURL(key string) string
}

// Steps of the Jira post-mortem, in the primary's record (epic_attach in a
// late member's).
const (
	StepEpic         = "epic"
	StepFollowups    = "followups"
	StepEpicPage     = "epic_page"
	StepOwnerComment = "owner_comment"
	StepEpicAttach   = "epic_attach"
)

// SearchLag is how long after an intent a search that does not find its
// issue is trusted: Jira's search index trails its writes by seconds, so a
// retry soon after a lost answer waits for the index instead of creating a
// second issue.
var SearchLag = 60 * time.Second

// IncidentLabel is the label that marks every Jira issue of an incident's
// post-mortem: the epic carries one per incident of the group, its tickets
// the primary's. It makes the idempotency search exact.
func IncidentLabel(incidentID string) string { return "pagerduty-" + incidentID }

// jiraUser maps an owner candidate to a Jira user by email.
func (x *run) jiraUser(ctx context.Context, o *Owner) (bool, error) {
	u, found, err := x.r.Jira.UserByEmail(ctx, o.Email)
	if err != nil || !found {
		return false, err
	}
	o.JiraID = u.ID
	if o.Name == "" {
		o.Name = u.DisplayName
	}
	return true, nil
}

// followup is one ticket to make.
type followup struct {
	spec jira.IssueSpec
	item string // for the page's Action Items
}

// jiraPostmortem makes the group's epic, its follow-up tickets and its page,
// each create checkpointed, and records the post-mortem.
func (x *run) jiraPostmortem(ctx context.Context, pm Postmortem) (PostmortemRef, bool, error) {
	steps, err := x.stepsOf(ctx, x.id)
	if err != nil {
		return PostmortemRef{}, false, err
	}
	if st, ok := steps[StepPostmortem]; ok && st.Status == store.StepDone && st.Result != "" {
		var ref PostmortemRef
		if err := json.Unmarshal([]byte(st.Result), &ref); err == nil {
			x.plan.add(x.id, StepPostmortem, store.StepDone, "already done: "+st.Detail)
			x.plan.Postmortem = &ref
			return ref, true, nil
		}
	}
	rl := x.rules
	in := pm.Primary
	sev, _ := rl.Severity(pm.Severity)
	project, _ := rl.JiraProject(in.Service.ID)
	labels := rl.Labels(pm.Severity, in.CreatedAt)
	groupLabels := append(slices.Clone(labels), IncidentLabel(in.ID))
	for _, m := range pm.Members {
		groupLabels = append(groupLabels, IncidentLabel(m.Incident.ID))
	}
	page := x.page(pm)
	fus, overflow := x.followups(pm, project, append(slices.Clone(labels), IncidentLabel(in.ID)))
	page.Overflow = overflow
	for _, f := range fus {
		page.Actions = append(page.Actions, render.Action{Summary: f.item})
	}
	summary, err := render.Summary(rl.EpicSummaryTemplate(), page)
	if err != nil {
		return PostmortemRef{}, false, Permanent(err)
	}
	description, err := render.Description(rl.EpicDescriptionTemplate(), page)
	if err != nil {
		return PostmortemRef{}, false, Permanent(err)
	}
	epicType := rl.Jira.EpicIssueType

	// The epic.
	epic := jira.IssueSpec{
		Project: project, IssueType: epicType, Summary: summary, Description: description,
		Labels: groupLabels, Assignee: pm.Owner.JiraID, DueDate: pm.MeetingDue.In(rl.Location()),
		EpicName: render.Line(fmt.Sprintf("Post-mortem #%d %s", in.Number, in.Title), 255),
	}
	if sev != nil {
		epic.Priority = sev.JiraPriority
	}
	key, err := x.write(ctx, write{
		incident: x.id, name: StepEpic,
		intent: fmt.Sprintf("create the %s post-mortem epic of #%d in %s", pm.Severity, in.Number, project),
		lookup: x.findIssues(StepEpic, in.ID, func(is jira.Issue) bool { return strings.EqualFold(is.IssueType, epicType) }),
		do:     func(ctx context.Context) (string, error) { return x.r.Jira.CreateIssue(ctx, epic) },
	})
	if err != nil {
		return PostmortemRef{}, false, err
	}
	if key == "" { // a dry run or a plan
		for _, f := range fus {
			x.plan.add(x.id, StepFollowups, store.StepPlanned, "would create the follow-up "+strconv.Quote(f.item))
		}
		return PostmortemRef{}, false, nil
	}

	// The follow-ups, under it.
	for i := range fus {
		fus[i].spec.Epic = key
	}
	created, err := x.createFollowups(ctx, in, fus)
	if err != nil {
		return PostmortemRef{}, false, err
	}

	// The page again, now with the tickets' keys.
	page.Actions = nil
	for _, f := range fus {
		if k := created[f.spec.Summary]; k != "" {
			page.Actions = append(page.Actions, render.Action{Key: k, URL: x.r.Jira.BrowseURL(k), Summary: f.item})
		}
	}
	if len(page.Actions) > 0 {
		final, err := render.Description(rl.EpicDescriptionTemplate(), page)
		if err != nil {
			return PostmortemRef{}, false, Permanent(err)
		}
		if _, err := x.write(ctx, write{
			incident: x.id, name: StepEpicPage, intent: fmt.Sprintf("list the %d follow-up tickets on %s's page", len(page.Actions), key),
			do: func(ctx context.Context) (string, error) { return key, x.r.Jira.UpdateDescription(ctx, key, final) },
		}); err != nil {
			return PostmortemRef{}, false, err
		}
	}

	// Nobody to assign: say why, on the epic.
	if pm.Owner.JiraID == "" {
		marker := "[aftermath:owner:" + in.ID + "]"
		text := "This post-mortem has no owner yet: " + render.Text(pm.OwnerNote) + ". Assign someone who took part.\n" + marker
		if _, err := x.write(ctx, write{
			incident: x.id, name: StepOwnerComment, intent: "comment on " + key + " why it is unassigned",
			lookup: x.findComment(key, marker),
			do:     func(ctx context.Context) (string, error) { return key, x.r.Jira.AddComment(ctx, key, text) },
		}); err != nil {
			return PostmortemRef{}, false, err
		}
	}

	ref := PostmortemRef{Key: key, URL: x.r.Jira.BrowseURL(key), Owner: pm.Owner.Email, MeetingDue: pm.MeetingDue, Incidents: []string{in.ID}}
	for _, m := range pm.Members {
		ref.Incidents = append(ref.Incidents, m.Incident.ID)
	}
	if pm.Owner.JiraID == "" {
		ref.Owner = ""
	}
	b, _ := json.Marshal(ref)
	detail := fmt.Sprintf("%s %s with %d follow-up tickets", key, ref.URL, len(created))
	if x.r.Mode != Live {
		return PostmortemRef{}, false, nil
	}
	if err := x.recordFull(ctx, x.id, store.StepRecord{Name: StepPostmortem, Status: store.StepDone, Detail: detail, Result: string(b)}); err != nil {
		return PostmortemRef{}, false, err
	}
	x.plan.Postmortem = &ref
	return ref, true, nil
}

// createFollowups creates the tickets that do not exist yet, in one bulk
// request, and returns every ticket's key by summary. Tickets Jira refuses
// as such are reported in the step and left out; the others are retried.
func (x *run) createFollowups(ctx context.Context, in pagerduty.Incident, fus []followup) (map[string]string, error) {
	created := map[string]string{}
	if len(fus) == 0 {
		return created, x.record(ctx, x.id, StepFollowups, store.StepSkipped, "no follow-up tickets: no TODO items and no standard tasks for this severity", "")
	}
	steps, err := x.stepsOf(ctx, x.id)
	if err != nil {
		return nil, err
	}
	prev, seen := steps[StepFollowups]
	if seen && prev.Status == store.StepDone {
		_ = json.Unmarshal([]byte(prev.Result), &created)
		x.plan.add(x.id, StepFollowups, store.StepDone, "already done: "+prev.Detail)
		return created, nil
	}
	intent := fmt.Sprintf("create %d follow-up tickets under %s", len(fus), fus[0].spec.Epic)
	if x.r.Mode != Live {
		if seen && prev.Status != store.StepPlanned {
			x.plan.add(x.id, StepFollowups, store.StepPlanned, "would "+intent)
			return created, nil
		}
		return created, x.record(ctx, x.id, StepFollowups, store.StepPlanned, "would "+intent, "")
	}
	if seen && prev.Result != "" {
		_ = json.Unmarshal([]byte(prev.Result), &created)
	}
	if seen {
		// An earlier attempt may have created some: look for them.
		found, _, err := x.findIssues(StepFollowups, in.ID, func(is jira.Issue) bool { return is.Epic == fus[0].spec.Epic })(ctx)
		if err != nil {
			return nil, x.fail(ctx, write{incident: x.id, name: StepFollowups, intent: intent}, err)
		}
		var byKey map[string]string
		_ = json.Unmarshal([]byte(found), &byKey)
		for summary, key := range byKey {
			created[summary] = key
		}
	}
	var missing []jira.IssueSpec
	for _, f := range fus {
		if created[f.spec.Summary] == "" {
			missing = append(missing, f.spec)
		}
	}
	result := func() string { b, _ := json.Marshal(created); return string(b) }
	if len(missing) > 0 {
		if err := x.recordFull(ctx, x.id, store.StepRecord{Name: StepFollowups, Status: store.StepStarted, Intent: intent, Detail: intent, Result: result()}); err != nil {
			return nil, err
		}
		res, err := x.r.Jira.CreateIssues(ctx, missing)
		var refusedItems []string
		var retry error
		for _, r := range res {
			switch {
			case r.Err == nil:
				created[missing[r.Index].Summary] = r.Key
			case refused(r.Err):
				refusedItems = append(refusedItems, fmt.Sprintf("%q (%v)", missing[r.Index].Summary, r.Err))
			default:
				retry = r.Err
			}
		}
		if err == nil {
			err = retry
		}
		if err != nil {
			// What was created is kept in the result; the next attempt
			// looks for the rest before creating it.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = x.recordFull(rctx, x.id, store.StepRecord{Name: StepFollowups, Status: store.StepFailed, Intent: intent, Detail: intent, Result: result(), Error: err.Error()})
			if refused(err) {
				return nil, Permanent(err)
			}
			return nil, err
		}
		if len(refusedItems) > 0 {
			detail := fmt.Sprintf("%d follow-up tickets; Jira refused %s", len(created), strings.Join(refusedItems, ", "))
			return created, x.recordFull(ctx, x.id, store.StepRecord{Name: StepFollowups, Status: store.StepFailed, Intent: intent, Detail: detail, Result: result()})
		}
	}
	keys := make([]string, 0, len(created))
	for _, k := range created {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return created, x.recordFull(ctx, x.id, store.StepRecord{Name: StepFollowups, Status: store.StepDone, Intent: intent,
		Detail: fmt.Sprintf("%d follow-up tickets: %s", len(created), strings.Join(keys, ", ")), Result: result()})
}

// findIssues searches the issues labelled with the incident's label and
// keeps those match takes: the effect of an earlier attempt. The result is
// the first key (epic) or a JSON map of summary to key (follow-ups). When
// nothing is found soon after the intent, the search index may not have the
// issue yet: it asks to be tried again later rather than create a second.
func (x *run) findIssues(step, incidentID string, match func(jira.Issue) bool) func(context.Context) (string, bool, error) {
	return func(ctx context.Context) (string, bool, error) {
		issues, err := x.r.Jira.Search(ctx, `labels = "`+IncidentLabel(incidentID)+`" ORDER BY created ASC`, 100)
		if err != nil {
			return "", false, err
		}
		byKey := map[string]string{}
		first := ""
		for _, is := range issues {
			if match(is) {
				if first == "" {
					first = is.Key
				}
				byKey[is.Summary] = is.Key
			}
		}
		if step == StepFollowups {
			b, _ := json.Marshal(byKey)
			return string(b), len(byKey) > 0, nil
		}
		if first != "" {
			return first, true, nil
		}
		steps, err := x.stepsOf(ctx, x.id)
		if err != nil {
			return "", false, err
		}
		if st := steps[step]; !st.IntentAt.IsZero() && x.r.now().Sub(st.IntentAt) < SearchLag {
			return "", false, errSearchLag
		}
		return "", false, nil
	}
}

var errSearchLag = errors.New("an earlier attempt may have created it and Jira's search may not show it yet; looking again shortly")

// findComment looks for a comment carrying marker on an issue.
func (x *run) findComment(key, marker string) func(context.Context) (string, bool, error) {
	return func(ctx context.Context) (string, bool, error) {
		cs, err := x.r.Jira.Comments(ctx, key)
		if err != nil {
			return "", false, err
		}
		for _, c := range cs {
			if strings.Contains(c, marker) {
				return key, true, nil
			}
		}
		return "", false, nil
	}
}

// followups are the tickets the rules ask for: the standard tasks for the
// severity, then one per distinct TODO item, at most followups.max; the
// items over it are returned to be listed on the page.
func (x *run) followups(pm Postmortem, project string, labels []string) ([]followup, []string) {
	rl := x.rules
	in := pm.Primary
	var out []followup
	seen := map[string]bool{}
	var overflow []string
	add := func(summary, description string) {
		key := strings.ToLower(strings.Join(strings.Fields(summary), " "))
		if key == "" || seen[key] {
			return
		}
		seen[key] = true
		if len(out) >= rl.Followups.Max {
			overflow = append(overflow, summary)
			return
		}
		out = append(out, followup{item: summary, spec: jira.IssueSpec{
			Project: project, IssueType: rl.Jira.FollowupIssueType, Summary: render.Line(summary, 255),
			Description: description, Labels: labels,
		}})
	}
	incident := fmt.Sprintf("#%d %s", in.Number, in.Title)
	for _, s := range rl.StandardFollowups(pm.Severity) {
		d, _ := render.FollowupDescription(render.Followup{Item: s.Summary, Detail: s.Description, Incident: incident, IncURL: in.HTMLURL})
		add(s.Summary, d)
	}
	if rl.Followups.FromNotes {
		for _, t := range pm.Timeline.TODOs {
			note := &render.Note{Author: t.Author, At: x.at(t.At), Text: t.Content, Link: t.Link}
			d, _ := render.FollowupDescription(render.Followup{Item: t.Text, Note: note, Incident: incident, IncURL: in.HTMLURL})
			add(sentence(t.Text), d)
		}
	}
	return out, overflow
}

// sentence capitalises an item's first letter: "alert on x" becomes a
// ticket summary "Alert on x".
func sentence(s string) string {
	r := []rune(s)
	if len(r) > 0 && unicode.IsLower(r[0]) {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}

// at formats a time for people, in the rules' zone.
func (x *run) at(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.In(x.rules.Location()).Format("2006-01-02 15:04 MST")
}

// page is the post-mortem page's data.
func (x *run) page(pm Postmortem) render.Page {
	rl := x.rules
	in := pm.Primary
	loc := rl.Location()
	p := render.Page{
		Severity: pm.Severity, Title: in.Title, Number: in.Number, URL: in.HTMLURL,
		Started: x.at(in.CreatedAt), Resolved: x.at(in.ResolvedAt), Zone: loc.String(), Status: rules.StatusDraft,
		Owner:     render.Person{Name: pm.Owner.Name, Email: pm.Owner.Email, JiraID: pm.Owner.JiraID},
		OwnerNote: pm.OwnerNote,
	}
	if !in.ResolvedAt.IsZero() {
		p.Duration = render.Duration(in.ResolvedAt.Sub(in.CreatedAt))
	}
	if !pm.MeetingDue.IsZero() {
		p.MeetingDue = pm.MeetingDue.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
		p.ReviewDue = pm.ReviewDue.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
	}
	services := []string{}
	addService := func(r pagerduty.Ref) {
		name := r.Summary
		if name == "" {
			name = r.ID
		}
		if !slices.Contains(services, name) {
			services = append(services, name)
		}
	}
	addService(in.Service)
	p.Incidents = append(p.Incidents, render.Incident{Number: in.Number, Title: in.Title, URL: in.HTMLURL, Service: in.Service.Summary,
		Severity: severityName(rl, in), Status: in.Status, Role: "primary"})
	for _, m := range pm.Members {
		addService(m.Incident.Service)
		p.Incidents = append(p.Incidents, render.Incident{Number: m.Incident.Number, Title: m.Incident.Title, URL: m.Incident.HTMLURL,
			Service: m.Incident.Service.Summary, Severity: m.Severity, Status: m.Incident.Status, Role: "member"})
	}
	p.Services = services
	for _, e := range pm.Timeline.Events {
		p.Timeline = append(p.Timeline, render.Event{At: e.At.In(loc).Format("2006-01-02 15:04:05"), Incident: "#" + strconv.Itoa(e.IncidentNumber),
			Actor: e.Actor, Kind: e.Kind, Summary: e.Summary, Link: e.Link})
	}
	for _, r := range pm.Timeline.Responders {
		p.Responders = append(p.Responders, render.Responder{Name: r.Name, Role: r.Role, Actions: strings.Join(r.Actions, ", ")})
	}
	if n := pm.Timeline.Resolution; n != nil {
		p.Resolution = &render.Note{Author: n.Author, At: x.at(n.At), Text: n.Content, Link: n.Link}
	}
	return p
}

// attachToEpic adds a late member to its group's epic: its label, and a
// comment saying it joined.
func (x *run) attachToEpic(ctx context.Context, primary, m pagerduty.Incident, ref PostmortemRef) error {
	marker := "[aftermath:member:" + m.ID + "]"
	text := fmt.Sprintf("%s joined this post-mortem: it is related to #%d and resolved at %s. Its timeline is not on this page yet: add what matters.\n%s",
		render.Link(fmt.Sprintf("#%d %s", m.Number, m.Title), m.HTMLURL), primary.Number, x.at(m.ResolvedAt), marker)
	_, err := x.write(ctx, write{
		incident: m.ID, name: StepEpicAttach, intent: fmt.Sprintf("add #%d to post-mortem %s (label and comment)", m.Number, ref.Key),
		lookup: x.findComment(ref.Key, marker),
		do: func(ctx context.Context) (string, error) {
			if err := x.r.Jira.AddLabels(ctx, ref.Key, []string{IncidentLabel(m.ID)}); err != nil {
				return "", err
			}
			return ref.Key, x.r.Jira.AddComment(ctx, ref.Key, text)
		},
	})
	return err
}
