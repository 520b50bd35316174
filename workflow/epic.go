package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// epicResult is what the epic step records: the epic, and what it was made
// with, so that a retry writes the same owner and deadline everywhere else
// whatever the rules or Jira say by then.
type epicResult struct {
	Key string `json:"key"`
	// Incidents are those whose labels the epic has (unknown when an
	// earlier attempt's epic was found by search).
	Incidents []string `json:"incidents,omitempty"`
	// Owner is who the epic was made for, and OwnerRefused why Jira would
	// not assign it to them: it was made unassigned.
	Owner        *Owner    `json:"owner,omitempty"`
	OwnerNote    string    `json:"owner_note,omitempty"`
	OwnerRefused string    `json:"owner_refused,omitempty"`
	MeetingDue   time.Time `json:"meeting_due,omitzero"`
	ReviewDue    time.Time `json:"review_due,omitzero"`
	// Fit is how much of the page the epic was made with (epic_page.go): all
	// of it that fits, unless Jira refused that for its size.
	Fit pageFit `json:"fit,omitzero"`
	// relabelled is set when this run labelled the epic for incidents
	// that joined the group after it was made: its page is out of date.
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

// asMade is pm as its epic was made, once it was: the owner and deadlines
// an earlier attempt recorded with the epic win over those worked out now.
func (x *run) asMade(ctx context.Context, pm Postmortem) (Postmortem, error) {
	st, seen, err := x.checkpointOf(ctx, x.id, StepEpic)
	if err != nil || !seen || st.Status != store.StepDone {
		return pm, err
	}
	er, _ := decodeEpic(st.Result)
	if er.Owner != nil {
		pm.Owner, pm.OwnerNote = *er.Owner, er.OwnerNote
	}
	if !er.MeetingDue.IsZero() {
		pm.MeetingDue, pm.ReviewDue = er.MeetingDue, er.ReviewDue
		x.plan.MeetingDue = pm.MeetingDue
	}
	return pm, nil
}

// epic creates the group's epic once, holding the first version of the
// page, and labels it for members that joined the group after it was made.
// made is false in a dry run.
func (x *run) epic(ctx context.Context, pm Postmortem, d draft) (er epicResult, made bool, err error) {
	in := pm.Primary
	e := jira.Epic{
		Project: d.project, IssueType: x.rules.Jira.EpicIssueType, Summary: d.summary, Page: d.description,
		Name:      render.EpicName(d.page),
		Incidents: d.incidents, Labels: d.labels, Owner: pm.Owner.JiraID,
	}
	if !pm.MeetingDue.IsZero() {
		e.DueDate = pm.MeetingDue.In(x.rules.Location())
	}
	if sev, ok := x.rules.Severity(pm.Severity); ok {
		e.Priority = sev.JiraPriority
	}
	made1 := epicResult{Incidents: d.incidents, Owner: &pm.Owner, OwnerNote: pm.OwnerNote, MeetingDue: pm.MeetingDue, ReviewDue: pm.ReviewDue}
	res, err := x.write(ctx, write{
		incident: x.id, name: StepEpic, searched: true,
		intent: fmt.Sprintf("create the %s post-mortem epic of #%d in %s", pm.Severity, in.Number, d.project),
		lookup: func(ctx context.Context) (string, bool, error) {
			found, ok, err := x.r.Jira.FindPostmortem(ctx, in.ID)
			er := made1
			er.Key, er.Incidents = found.Key, nil
			if ok && e.Owner != "" && found.Assignee == "" {
				// Made unassigned by an attempt whose answer was lost:
				// Jira must have refused the owner.
				er.OwnerRefused = "the epic was found unassigned after a lost answer"
			}
			return er.String(), ok, err
		},
		do: func(ctx context.Context) (string, error) {
			c, err := x.r.Jira.CreateEpic(ctx, e)
			er := made1
			// A page Jira refuses for its size (it made nothing) is
			// never a reason to make no post-mortem: the epic is made
			// with less of it, and the rest goes to comments.
			for jira.TooLong(err) {
				next, ok := er.Fit.shorter(err)
				if !ok {
					break
				}
				x.log.Warn("Jira refused the post-mortem page for its size; making the epic with a shorter one, the rest goes to comments", "err", err)
				er.Fit = next
				e.Page, _ = x.description(d.page, er.Fit)
				c, err = x.r.Jira.CreateEpic(ctx, e)
			}
			er.Key, er.OwnerRefused = c.Key, c.AssigneeRefused
			return er.String(), err
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
// epic was found by search. Each such set is one checkpointed write.
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
	res := relabelResult{Key: er.Key, Incidents: missing}
	_, err := x.write(ctx, write{
		incident: x.id, name: relabelStep(missing),
		intent: fmt.Sprintf("label %s for %s, which joined the group", er.Key, strings.Join(missing, ", ")),
		do: func(ctx context.Context) (string, error) {
			return res.String(), x.r.Jira.AddIncidents(ctx, er.Key, missing)
		},
	})
	if err != nil && !refused(err) {
		return err
	}
	// Labelled, refused or planned, they are the group's: the notes treat
	// them so.
	er.Incidents = append(er.Incidents, missing...)
	return nil
}

// relabelResult is what an epic_incidents step records: the epic, and the
// incidents it labelled it for.
type relabelResult struct {
	Key       string   `json:"key"`
	Incidents []string `json:"incidents"`
}

func (r relabelResult) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// relabelStep names the step that labels the epic for a set of incidents:
// the same set, in any order, always gets the same name, so that two runs
// labelling it share one checkpoint. The name is a digest: the incidents
// are in the step's result, and nothing reads them from its name.
func relabelStep(incidents []string) string {
	ids := slices.Clone(incidents)
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return StepEpicIncidents + "_" + hex.EncodeToString(sum[:8])
}

// relabelled returns the incidents a done epic_incidents step labelled the
// epic for, read from its result. A record of the releases that named the
// step after its incidents (epic_incidents_P1_P2, its result the bare epic
// key) is read from its name.
func relabelled(name string, st store.StepRecord) ([]string, bool) {
	if !strings.HasPrefix(name, StepEpicIncidents+"_") || st.Status != store.StepDone {
		return nil, false
	}
	var r relabelResult
	if err := json.Unmarshal([]byte(st.Result), &r); err == nil && r.Key != "" {
		return r.Incidents, true
	}
	ids, _ := strings.CutPrefix(name, StepEpicIncidents+"_")
	return strings.Split(ids, "_"), true
}
