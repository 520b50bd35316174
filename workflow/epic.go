package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// epicResult is what the epic step records.
type epicResult struct {
	Key string `json:"key"`
	// Incidents are those whose labels the epic has (unknown when an
	// earlier attempt's epic was found by search).
	Incidents []string `json:"incidents,omitempty"`
	// OwnerRefused is why Jira would not assign the epic to its owner: it
	// was made unassigned.
	OwnerRefused string `json:"owner_refused,omitempty"`
	// relabelled is set when this run added incidents to the epic: its
	// page, written before they joined, is out of date.
	relabelled bool
}

func (er epicResult) String() string {
	b, _ := json.Marshal(er)
	return string(b)
}

// decodeEpic reads an epic step's result (before incidents were recorded,
// the bare key).
func decodeEpic(result string) (epicResult, bool) {
	var er epicResult
	if err := json.Unmarshal([]byte(result), &er); err != nil || er.Key == "" {
		er = epicResult{Key: result}
	}
	return er, er.Key != ""
}

// epic creates the group's epic once, holding the first version of the
// page, and labels it for members that joined the group after it was made.
// made is false in a dry run.
func (x *run) epic(ctx context.Context, pm Postmortem, d draft) (er epicResult, made bool, err error) {
	in := pm.Primary
	e := jira.Epic{
		Project: d.project, IssueType: x.rules.Jira.EpicIssueType, Summary: d.summary, Page: d.description,
		Name:      render.Line(fmt.Sprintf("Post-mortem #%d %s", in.Number, in.Title), 255),
		Incidents: d.incidents, Labels: d.labels, Owner: pm.Owner.JiraID,
	}
	if !pm.MeetingDue.IsZero() {
		e.DueDate = pm.MeetingDue.In(x.rules.Location())
	}
	if sev, ok := x.rules.Severity(pm.Severity); ok {
		e.Priority = sev.JiraPriority
	}
	res, err := x.write(ctx, write{
		incident: x.id, name: StepEpic, searched: true,
		intent: fmt.Sprintf("create the %s post-mortem epic of #%d in %s", pm.Severity, in.Number, d.project),
		lookup: func(ctx context.Context) (string, bool, error) {
			key, found, err := x.r.Jira.FindPostmortem(ctx, in.ID)
			return epicResult{Key: key}.String(), found, err
		},
		do: func(ctx context.Context) (string, error) {
			c, err := x.r.Jira.CreateEpic(ctx, e)
			return epicResult{Key: c.Key, Incidents: d.incidents, OwnerRefused: c.AssigneeRefused}.String(), err
		},
	})
	if err != nil || res == "" {
		return er, false, err
	}
	er, _ = decodeEpic(res)
	return er, true, x.addIncidents(ctx, &er, d.incidents)
}

// addIncidents labels the epic for the group's incidents it lacks: members
// that joined after it was made, or all of them when an earlier attempt's
// epic was found by search. Adding labels is idempotent; what the epic has
// is recorded with it.
func (x *run) addIncidents(ctx context.Context, er *epicResult, incidents []string) error {
	var missing []string
	for _, id := range incidents {
		if !slices.Contains(er.Incidents, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	er.relabelled = true
	err := x.r.Jira.AddIncidents(ctx, er.Key, missing)
	if err != nil && !refused(err) {
		return err
	}
	// Refused or not, they are the group's: the notes treat them so.
	er.Incidents = append(er.Incidents, missing...)
	if err != nil {
		return nil
	}
	prev := x.steps[x.id][StepEpic] // read by write
	return x.checkpoint(ctx, x.id, store.StepRecord{Name: StepEpic, Status: store.StepDone, Intent: prev.Intent, Detail: prev.Detail, Result: er.String()})
}
