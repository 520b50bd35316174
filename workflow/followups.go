package workflow

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// followup is one ticket to make.
type followup struct {
	ticket jira.Followup
	item   string // for the page's Action Items
	key    string // dedupeKey of the summary
}

// dedupeKey is how follow-ups are told apart: their summary as Jira keeps
// it, without case or spacing differences.
func dedupeKey(summary string) string {
	return strings.ToLower(strings.Join(strings.Fields(render.Line(summary, 255)), " "))
}

// followups are the tickets the rules ask for: the standard tasks for the
// severity, then one per distinct TODO item, at most followups.max; the
// items over it are returned to be listed on the page. Each is due as the
// rules' followups.due says for the severity, counted from the resolution
// (business days and holidays as for the meeting); none when it says
// nothing.
func (x *run) followups(pm Postmortem, project string, labels []string) ([]followup, []string) {
	rl := x.rules
	in := pm.Primary
	due, _ := rl.FollowupDue(pm.Severity, x.resolvedAt(in))
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
		out = append(out, followup{item: summary, key: key, ticket: jira.Followup{
			Project: project, IssueType: rl.Jira.FollowupIssueType, Summary: render.Line(summary, 255),
			Description: description, Labels: labels, Due: due,
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

// followupTickets creates the tickets under the epic that do not exist yet,
// in one bulk request. It returns every ticket's key by its dedupe key, and
// the items Jira refused as such (reported in the step and on the page; the
// process goes on). Other failures are retried: the next attempt looks for
// what this one created before creating the rest.
func (x *run) followupTickets(ctx context.Context, in pagerduty.Incident, epic string, fus []followup) (map[string]string, []string, error) {
	if len(fus) == 0 {
		return map[string]string{}, nil, x.settle(ctx, StepFollowups, store.StepSkipped, "no follow-up tickets: no TODO items and no standard tasks for this severity")
	}
	byKey := map[string]followup{}
	keys := make([]string, len(fus))
	for i, f := range fus {
		byKey[f.key], keys[i] = f, f.key
	}
	created, refusedKeys, err := x.writeBulk(ctx, bulkWrite{
		write: write{incident: x.id, name: StepFollowups, intent: fmt.Sprintf("create %d follow-up tickets under %s", len(fus), epic)},
		keys:  keys,
		find: func(ctx context.Context) (map[string]string, error) {
			issues, err := x.r.Jira.FindFollowups(ctx, epic, in.ID)
			found := map[string]string{}
			for _, is := range issues {
				if _, ok := byKey[dedupeKey(is.Summary)]; ok {
					found[dedupeKey(is.Summary)] = is.Key
				}
			}
			return found, err
		},
		create: func(ctx context.Context, missing []string) (map[string]string, []string, error) {
			return x.createFollowups(ctx, in.ID, epic, missing, byKey)
		},
		detail: followupsDetail(byKey),
	})
	items := make([]string, len(refusedKeys))
	for i, k := range refusedKeys {
		items[i] = byKey[k].item
	}
	return created, items, err
}

// createFollowups makes one bulk request for the missing tickets.
func (x *run) createFollowups(ctx context.Context, incidentID, epic string, missing []string, byKey map[string]followup) (map[string]string, []string, error) {
	tickets := make([]jira.Followup, len(missing))
	for i, k := range missing {
		tickets[i] = byKey[k].ticket
	}
	res, err := x.r.Jira.CreateFollowups(ctx, epic, incidentID, tickets)
	created := map[string]string{}
	var refusedKeys []string
	for _, r := range res {
		switch {
		case r.Err == nil:
			created[missing[r.Index]] = r.Key
		case refused(r.Err):
			refusedKeys = append(refusedKeys, missing[r.Index])
		case err == nil:
			err = r.Err
		}
	}
	if refused(err) {
		// Jira refused the whole request as such: reported, and the rest
		// of the process goes on.
		for _, k := range missing {
			if created[k] == "" && !slices.Contains(refusedKeys, k) {
				refusedKeys = append(refusedKeys, k)
			}
		}
		err = nil
	}
	return created, refusedKeys, err
}

// followupsDetail says which tickets exist and which Jira refused.
func followupsDetail(byKey map[string]followup) func(map[string]string, []string) string {
	return func(created map[string]string, refusedKeys []string) string {
		keys := slices.Sorted(func(yield func(string) bool) {
			for _, k := range created {
				if !yield(k) {
					return
				}
			}
		})
		detail := fmt.Sprintf("%d follow-up tickets: %s", len(created), strings.Join(keys, ", "))
		if len(refusedKeys) > 0 {
			quoted := make([]string, len(refusedKeys))
			for i, k := range refusedKeys {
				quoted[i] = strconv.Quote(byKey[k].item)
			}
			detail += "; Jira refused " + strings.Join(quoted, ", ")
		}
		return detail
	}
}
