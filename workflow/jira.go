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

// DefaultSearchLag is how long after an unanswered create a search that does
// not find the issue is not trusted: Jira's search index trails its writes
// by seconds, so a retry soon after a lost answer waits for the index
// instead of creating a second issue.
const DefaultSearchLag = 60 * time.Second

// IncidentLabel is the label that marks every Jira issue of an incident's
// post-mortem: the epic carries one per incident of the group, its tickets
// the primary's. It makes the idempotency search exact.
func IncidentLabel(incidentID string) string { return "pagerduty-" + incidentID }

// jiraUser maps an owner candidate to a Jira user by email.
func (x *run) jiraUser(ctx context.Context, o *Owner) (bool, error) {
	u, found, err := x.r.Jira.UserByEmail(ctx, o.Email)
	if refused(err) {
		// Jira will not say (no permission to browse users): this source
		// gives no owner; the next is tried.
		x.log.Warn("Jira refused a user search; trying the next owner source", "err", err)
		return false, nil
	}
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
	key  string // dedupeKey of the summary
}

// dedupeKey is how follow-ups are told apart: their summary as Jira keeps
// it, without case or spacing differences.
func dedupeKey(summary string) string {
	return strings.ToLower(strings.Join(strings.Fields(render.Line(summary, 255)), " "))
}

// epicResult is what the epic step records: the key, and the incidents
// whose labels the epic got when it was made (unknown when an earlier
// attempt's epic was found by search).
type epicResult struct {
	Key       string   `json:"key"`
	Incidents []string `json:"incidents,omitempty"`
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
	incidents := []string{in.ID}
	for _, m := range pm.Members {
		incidents = append(incidents, m.Incident.ID)
	}
	groupLabels := slices.Clone(labels)
	for _, id := range incidents {
		groupLabels = append(groupLabels, IncidentLabel(id))
	}
	page := x.page(pm)
	fus, overflow := x.followups(pm, project, append(slices.Clone(labels), IncidentLabel(in.ID)))
	page.Overflow = overflow
	for _, f := range fus {
		page.Actions = append(page.Actions, render.Action{Summary: f.item})
	}
	summary, err := render.Summary(rl.EpicSummaryTemplate(), page)
	if err != nil {
		x.log.Error("the rules' summary template failed; using the built-in one", "err", err)
		summary, _ = render.Summary(nil, page)
	}
	description := x.description(page)

	// The epic.
	owner := pm.Owner
	epic := jira.IssueSpec{
		Project: project, IssueType: rl.Jira.EpicIssueType, Summary: summary, Description: description,
		Labels: groupLabels, Assignee: owner.JiraID,
		EpicName: render.Line(fmt.Sprintf("Post-mortem #%d %s", in.Number, in.Title), 255),
	}
	if !pm.MeetingDue.IsZero() {
		epic.DueDate = pm.MeetingDue.In(rl.Location())
	}
	if sev != nil {
		epic.Priority = sev.JiraPriority
	}
	res, err := x.write(ctx, write{
		incident: x.id, name: StepEpic,
		intent: fmt.Sprintf("create the %s post-mortem epic of #%d in %s", pm.Severity, in.Number, project),
		lookup: x.findEpic(in.ID),
		do: func(ctx context.Context) (string, error) {
			key, err := x.r.Jira.CreateIssue(ctx, epic)
			if refused(err) && epic.Assignee != "" && strings.Contains(strings.ToLower(err.Error()), "assign") {
				// Jira will not assign the owner (no permission, not
				// assignable in that project): the epic is made
				// unassigned, and says why.
				x.log.Warn("Jira refused the owner as assignee; creating the epic unassigned", "err", err)
				pm.OwnerNote = fmt.Sprintf("Jira refused to assign it to %s (%v)", owner.Email, err)
				owner = Owner{}
				epic.Assignee = ""
				key, err = x.r.Jira.CreateIssue(ctx, epic)
			}
			if err != nil {
				return "", err
			}
			b, _ := json.Marshal(epicResult{Key: key, Incidents: incidents})
			return string(b), nil
		},
	})
	if err != nil {
		return PostmortemRef{}, false, err
	}
	if res == "" { // a dry run or a plan
		for _, f := range fus {
			x.plan.add(x.id, StepFollowups, store.StepPlanned, "would create the follow-up "+strconv.Quote(f.item))
		}
		return PostmortemRef{}, false, nil
	}
	var er epicResult
	if err := json.Unmarshal([]byte(res), &er); err != nil || er.Key == "" {
		er = epicResult{Key: res}
	}
	key := er.Key
	// Incidents that joined the group after the epic was made (or whose
	// labels an earlier attempt's epic may lack) get them now: adding
	// labels is idempotent.
	var missing []string
	for _, id := range incidents {
		if !slices.Contains(er.Incidents, id) {
			missing = append(missing, IncidentLabel(id))
		}
	}
	if len(missing) > 0 {
		if err := x.r.Jira.AddLabels(ctx, key, missing); err != nil && !refused(err) {
			return PostmortemRef{}, false, err
		}
	}

	// The follow-ups, under it.
	for i := range fus {
		fus[i].spec.Epic = key
	}
	created, refusedItems, err := x.createFollowups(ctx, in, fus)
	if err != nil {
		return PostmortemRef{}, false, err
	}

	// The page again, now with the tickets' keys.
	page.Actions = nil
	for _, f := range fus {
		if k := created[f.key]; k != "" {
			page.Actions = append(page.Actions, render.Action{Key: k, URL: x.r.Jira.BrowseURL(k), Summary: f.item})
		}
	}
	for _, item := range refusedItems {
		page.Overflow = append(page.Overflow, item+" (Jira refused the ticket)")
	}
	page.Owner = render.Person{Name: owner.Name, Email: owner.Email, JiraID: owner.JiraID}
	page.OwnerNote = pm.OwnerNote
	if final := x.description(page); final != description || len(missing) > 0 {
		if _, err := x.write(ctx, write{
			incident: x.id, name: StepEpicPage, intent: fmt.Sprintf("list the %d follow-up tickets on %s's page", len(page.Actions), key),
			do: func(ctx context.Context) (string, error) { return key, x.r.Jira.UpdateDescription(ctx, key, final) },
		}); err != nil && !refused(err) {
			return PostmortemRef{}, false, err
		}
	}

	// Nobody to assign: say why, on the epic.
	if owner.JiraID == "" {
		marker := commentMarker("owner", in.ID)
		text := "This post-mortem has no owner yet: " + render.Text(pm.OwnerNote) + ". Assign someone who took part.\n" + marker
		if _, err := x.write(ctx, write{
			incident: x.id, name: StepOwnerComment, intent: "comment on " + key + " why it is unassigned",
			lookup: x.findComment(key, marker),
			do:     func(ctx context.Context) (string, error) { return key, x.r.Jira.AddComment(ctx, key, text) },
		}); err != nil && !refused(err) {
			return PostmortemRef{}, false, err
		}
	}

	ref := PostmortemRef{Key: key, URL: x.r.Jira.BrowseURL(key), MeetingDue: pm.MeetingDue, Incidents: incidents}
	if owner.JiraID != "" {
		ref.Owner = owner.Email
	}
	b, _ := json.Marshal(ref)
	detail := fmt.Sprintf("%s %s with %d follow-up tickets", key, ref.URL, len(created))
	if err := x.recordFull(ctx, x.id, store.StepRecord{Name: StepPostmortem, Status: store.StepDone, Detail: detail, Result: string(b)}); err != nil {
		return PostmortemRef{}, false, err
	}
	x.plan.Postmortem = &ref
	return ref, true, nil
}

// description renders the page with the rules' template, falling back to
// the built-in one if it fails (a value that is nil on this incident), and
// makes it fit Jira's 32,767 characters by keeping fewer timeline rows.
func (x *run) description(page render.Page) string {
	render1 := func(p render.Page) string {
		d, err := render.Description(x.rules.EpicDescriptionTemplate(), p)
		if err != nil {
			x.log.Error("the rules' description template failed; using the built-in one", "err", err)
			d, _ = render.Description(nil, p)
		}
		return d
	}
	d := render1(page)
	for keep := len(page.Timeline) / 2; utf16Len(d) > maxDescription && keep >= 1; keep /= 2 {
		p := page
		p.Timeline = append(slices.Clone(page.Timeline[:keep]), render.Event{
			Kind: "more", Summary: fmt.Sprintf("%d more events: see the incidents in PagerDuty", len(page.Timeline)-keep), Link: page.URL,
		})
		d = render1(p)
	}
	return d
}

// maxDescription is Jira's limit on a text field, in UTF-16 units, less
// some room.
const maxDescription = 32000

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// commentMarker ends every Jira comment aftermath writes: plain words, so
// that Cloud's conversion of wiki markup keeps it as it is.
func commentMarker(kind, id string) string { return "aftermath-ref-" + kind + "-" + id }

// createFollowups creates the tickets that do not exist yet, in one bulk
// request. It returns every ticket's key by its dedupe key, and the items
// Jira refused as such (reported in the step and on the page; the process
// goes on). Other failures are retried: the next attempt searches for what
// this one created before creating the rest.
func (x *run) createFollowups(ctx context.Context, in pagerduty.Incident, fus []followup) (map[string]string, []string, error) {
	created := map[string]string{}
	if len(fus) == 0 {
		return created, nil, x.record(ctx, x.id, StepFollowups, store.StepSkipped, "no follow-up tickets: no TODO items and no standard tasks for this severity", "")
	}
	steps, err := x.stepsOf(ctx, x.id)
	if err != nil {
		return nil, nil, err
	}
	prev, seen := steps[StepFollowups]
	if seen && (prev.Status == store.StepDone || prev.Status == store.StepFailed && prev.Error == "") {
		// Done, or done with refusals reported.
		_ = json.Unmarshal([]byte(prev.Result), &created)
		x.plan.add(x.id, StepFollowups, prev.Status, "already done: "+prev.Detail)
		return created, nil, nil
	}
	intent := fmt.Sprintf("create %d follow-up tickets under %s", len(fus), fus[0].spec.Epic)
	if x.r.Mode != Live {
		if seen && prev.Status != store.StepPlanned {
			x.plan.add(x.id, StepFollowups, store.StepPlanned, "would "+intent)
			return created, nil, nil
		}
		return created, nil, x.record(ctx, x.id, StepFollowups, store.StepPlanned, "would "+intent, "")
	}
	w := write{incident: x.id, name: StepFollowups, intent: intent}
	if seen && prev.Result != "" {
		_ = json.Unmarshal([]byte(prev.Result), &created)
	}
	if seen && (prev.Status == store.StepStarted || prev.Status == store.StepFailed) {
		w.intentAt, w.writeEndedAt = prev.IntentAt, prev.WriteEndedAt
		// An earlier attempt may have created some: look for them.
		found, err := x.findFollowups(ctx, in.ID, fus)
		if err != nil {
			return nil, nil, x.fail(ctx, w, err)
		}
		for k, v := range found {
			created[k] = v
		}
		if len(created) < len(fus) && x.lagging(w) {
			return nil, nil, x.fail(ctx, w, errSearchLag)
		}
	}
	var missing []followup
	for _, f := range fus {
		if created[f.key] == "" {
			missing = append(missing, f)
		}
	}
	var refusedItems []string
	result := func() string { b, _ := json.Marshal(created); return string(b) }
	if len(missing) > 0 {
		w.intentAt, w.writeEndedAt = x.r.now(), time.Time{}
		if err := x.recordFull(ctx, x.id, store.StepRecord{Name: StepFollowups, Status: store.StepStarted, Intent: intent, IntentAt: w.intentAt, Detail: intent, Result: result()}); err != nil {
			return nil, nil, err
		}
		specs := make([]jira.IssueSpec, len(missing))
		for i, f := range missing {
			specs[i] = f.spec
		}
		res, err := x.r.Jira.CreateIssues(ctx, specs)
		var retry error
		for _, r := range res {
			switch {
			case r.Err == nil:
				created[missing[r.Index].key] = r.Key
			case refused(r.Err):
				refusedItems = append(refusedItems, missing[r.Index].item)
			default:
				retry = r.Err
			}
		}
		if err == nil {
			err = retry
		}
		switch {
		case err != nil && refused(err):
			// Jira refused the whole request as such: reported, and the
			// rest of the process goes on.
			for _, f := range missing {
				if created[f.key] == "" && !slices.Contains(refusedItems, f.item) {
					refusedItems = append(refusedItems, f.item)
				}
			}
		case err != nil:
			// What was created is kept in the result; the next attempt
			// looks for the rest before creating it.
			w.writeEndedAt = x.r.now()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = x.recordFull(rctx, x.id, store.StepRecord{Name: StepFollowups, Status: store.StepFailed, Intent: intent, IntentAt: w.intentAt,
				WriteEndedAt: w.writeEndedAt, Detail: intent, Result: result(), Error: err.Error()})
			return nil, nil, fmt.Errorf("%s: %w", StepFollowups, err)
		}
	}
	keys := make([]string, 0, len(created))
	for _, k := range created {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	detail := fmt.Sprintf("%d follow-up tickets: %s", len(created), strings.Join(keys, ", "))
	status := store.StepDone
	if len(refusedItems) > 0 {
		quoted := make([]string, len(refusedItems))
		for i, it := range refusedItems {
			quoted[i] = strconv.Quote(it)
		}
		detail += "; Jira refused " + strings.Join(quoted, ", ")
		status = store.StepFailed
	}
	return created, refusedItems, x.recordFull(ctx, x.id, store.StepRecord{Name: StepFollowups, Status: status, Intent: intent, Detail: detail, Result: result()})
}

// findEpic looks for the epic an earlier attempt made: the issue with the
// incident's label and no epic above it (follow-ups have one).
func (x *run) findEpic(incidentID string) func(context.Context) (string, bool, error) {
	return func(ctx context.Context) (string, bool, error) {
		issues, err := x.searchLabel(ctx, incidentID)
		if err != nil {
			return "", false, err
		}
		for _, is := range issues {
			if is.Epic == "" {
				b, _ := json.Marshal(epicResult{Key: is.Key})
				return string(b), true, nil
			}
		}
		steps, err := x.stepsOf(ctx, x.id)
		if err != nil {
			return "", false, err
		}
		st := steps[StepEpic]
		if x.lagging(write{intentAt: st.IntentAt, writeEndedAt: st.WriteEndedAt}) {
			return "", false, errSearchLag
		}
		return "", false, nil
	}
}

// findFollowups finds the tickets an earlier attempt made under the epic,
// by their dedupe key.
func (x *run) findFollowups(ctx context.Context, incidentID string, fus []followup) (map[string]string, error) {
	issues, err := x.searchLabel(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, is := range issues {
		for _, f := range fus {
			if is.Epic == f.spec.Epic && dedupeKey(is.Summary) == f.key {
				out[f.key] = is.Key
			}
		}
	}
	return out, nil
}

func (x *run) searchLabel(ctx context.Context, incidentID string) ([]jira.Issue, error) {
	return x.r.Jira.Search(ctx, `labels = "`+IncidentLabel(incidentID)+`" ORDER BY created ASC`, 100)
}

// lagging reports whether a search that does not find what w created may
// just be behind: less than the search lag since the write was last attempted
// (a crashed write: since its intent; a failed one: since it gave up).
func (x *run) lagging(w write) bool {
	at := w.intentAt
	if w.writeEndedAt.After(at) {
		at = w.writeEndedAt
	}
	lag := x.r.SearchLag
	if lag <= 0 {
		lag = DefaultSearchLag
	}
	return !at.IsZero() && x.r.now().Sub(at) < lag
}

var errSearchLag = errors.New("an earlier attempt may have created it and Jira's search may not show it yet; looking again shortly")

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
		key := dedupeKey(summary)
		if key == "" || seen[key] {
			return
		}
		seen[key] = true
		if len(out) >= rl.Followups.Max {
			overflow = append(overflow, summary)
			return
		}
		out = append(out, followup{item: summary, key: key, spec: jira.IssueSpec{
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
	marker := commentMarker("member", m.ID)
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
