package workflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/rules"
	"github.com/aftermath-dev/aftermath/store"
)

// Member is an incident grouped under a primary.
type Member struct {
	Incident pagerduty.Incident `json:"incident"`
	Severity string             `json:"severity,omitempty"` // "" when its priority maps to none
}

// group finds the incident's related incidents and claims the group with
// it as primary. proceed is false when the incident turned out to be a
// member of another group: it is attached to that group's post-mortem.
func (x *run) group(ctx context.Context, in pagerduty.Incident) (members []Member, proceed bool, err error) {
	cands, notes, err := x.candidates(ctx, in)
	if err != nil {
		return nil, false, err
	}
	g, err := x.claim(ctx, in, cands)
	if err != nil {
		return nil, false, err
	}
	if g.Primary != in.ID {
		return nil, false, x.attach(ctx, in, g)
	}
	members, gone, err := x.members(ctx, g, cands)
	if err != nil {
		return nil, false, err
	}
	var left []string
	for _, c := range cands {
		if !slices.Contains(g.Members, c.ID) {
			left = append(left, "#"+strconv.Itoa(c.Number))
		}
	}
	x.plan.Members, x.plan.Primary = members, x.id
	return members, true, x.trace(ctx, StepGroup, store.StepDone, groupDetail(members, left, append(notes, gone...)), "")
}

// claim claims the group of in and its candidates under the primary the
// rules choose, and returns the group in belongs to.
func (x *run) claim(ctx context.Context, in pagerduty.Incident, cands []pagerduty.Incident) (store.IncidentGroup, error) {
	eligible, err := x.eligiblePrimaries(ctx, in, cands)
	if err != nil {
		return store.IncidentGroup{}, err
	}
	primary := choosePrimary(x.rules, eligible)
	ids := []string{in.ID}
	for _, c := range cands {
		ids = append(ids, c.ID)
	}
	g, err := x.store.ClaimGroup(ctx, primary.ID, ids)
	if err != nil || slices.Contains(g.Members, in.ID) {
		return g, err
	}
	// This incident already holds a group of its own (claimed by a member
	// that resolved first): that group is its truth.
	own, ok, err := x.store.GroupOf(ctx, in.ID)
	if !ok && err == nil {
		own = store.IncidentGroup{Primary: in.ID, Members: []string{in.ID}}
	}
	return own, err
}

// members are the group's incidents but the primary, earliest first: the
// candidates it holds, and those that joined it through another incident's
// processing, read now. gone says which no longer exist.
func (x *run) members(ctx context.Context, g store.IncidentGroup, cands []pagerduty.Incident) (members []Member, gone []string, err error) {
	byID := map[string]pagerduty.Incident{}
	for _, c := range cands {
		byID[c.ID] = c
	}
	for _, id := range g.Members {
		if id == g.Primary {
			continue
		}
		c, ok := byID[id]
		if !ok {
			c, err = x.r.PagerDuty.Incident(ctx, id)
			if isGone(err) {
				gone = append(gone, "member "+id+" no longer exists in PagerDuty")
				continue
			}
			if err != nil {
				return nil, nil, x.failRead(ctx, StepGroup, err)
			}
		}
		members = append(members, Member{Incident: c, Severity: severityName(x.rules, c)})
	}
	slices.SortFunc(members, func(a, b Member) int { return a.Incident.CreatedAt.Compare(b.Incident.CreatedAt) })
	return members, gone, nil
}

// groupDetail says in the record who is in the group, who is in other
// groups already, and what could not be used.
func groupDetail(members []Member, left, notes []string) string {
	detail := "primary of a group of " + strconv.Itoa(len(members)+1)
	if len(members) == 0 {
		detail = "no related incidents; the incident is its own group"
	} else {
		var names []string
		for _, m := range members {
			names = append(names, fmt.Sprintf("#%d (%s, %s)", m.Incident.Number, orNone(m.Severity), m.Incident.Status))
		}
		detail += ": " + strings.Join(names, ", ")
	}
	if len(left) > 0 {
		detail += "; already in other groups: " + strings.Join(left, ", ")
	}
	if len(notes) > 0 {
		detail += "; " + strings.Join(notes, "; ")
	}
	return detail
}

// candidates are the incidents related to in: those of its scope created
// within the window of its lifetime, and PagerDuty's related incidents when
// the rules ask. notes say what could not be used.
func (x *run) candidates(ctx context.Context, in pagerduty.Incident) (cands []pagerduty.Incident, notes []string, err error) {
	pd := x.r.PagerDuty
	seen := map[string]bool{in.ID: true}
	if scope := x.rules.ScopeOf(in.Service.ID); scope != nil {
		w := x.rules.Window()
		// Earlier incidents still open when this one triggered are related
		// too: look back further, then keep the related ones.
		list, err := pd.Incidents(ctx, scope.Services, in.CreatedAt.Add(-w-lookback), x.resolvedAt(in).Add(w))
		if err != nil {
			return nil, nil, x.failRead(ctx, StepGroup, err)
		}
		for _, c := range list {
			if !seen[c.ID] && c.MergedInto == "" && x.related(in, c, w) {
				seen[c.ID] = true
				cands = append(cands, c)
			}
		}
	} else {
		notes = append(notes, "service "+in.Service.ID+" is in no grouping scope")
	}
	if x.rules.Grouping.RelatedIncidentsAPI {
		ids, err := pd.Related(ctx, in.ID)
		switch st := pagerduty.StatusOf(err); {
		case errors.Is(err, pagerduty.ErrUnavailable) || st == http.StatusForbidden || st == http.StatusNotFound:
			// 402: not on this plan; 403: not for this token; 404: not
			// for this incident. Grouping goes on without it.
			notes = append(notes, "PagerDuty's related incidents are not available on this account ("+err.Error()+")")
		case err != nil:
			return nil, nil, x.failRead(ctx, StepGroup, err)
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			c, err := pd.Incident(ctx, id)
			if isGone(err) {
				continue
			}
			if err != nil {
				return nil, nil, x.failRead(ctx, StepGroup, err)
			}
			// PagerDuty relates incidents across any time; an old one
			// is history, not part of this outage.
			if c.MergedInto == "" && x.related(in, c, x.rules.Window()) {
				cands = append(cands, c)
			}
		}
	}
	// Members an earlier processing put in this incident's group.
	if g, ok, err := x.store.GroupOf(ctx, in.ID); err != nil {
		return nil, nil, err
	} else if ok && g.Primary == in.ID {
		for _, id := range g.Members {
			if !seen[id] {
				seen[id] = true
				c, err := pd.Incident(ctx, id)
				if err == nil {
					cands = append(cands, c)
				} else if !isGone(err) {
					return nil, nil, x.failRead(ctx, StepGroup, err)
				}
			}
		}
	}
	return cands, notes, nil
}

// eligiblePrimaries are the incidents that may lead in's group: in itself,
// and the candidates whose own processing runs or ran as a primary: one still
// open whose severity is in process (its resolution will run the process), or
// one that already holds a group. A resolved candidate that holds none (it
// was skipped, dead-lettered, or resolved before aftermath saw it) may join
// the group but never lead it: nothing would ever run its process. When in
// already holds a group of its own, it stays its primary.
func (x *run) eligiblePrimaries(ctx context.Context, in pagerduty.Incident, cands []pagerduty.Incident) ([]pagerduty.Incident, error) {
	out := []pagerduty.Incident{in}
	if g, ok, err := x.store.GroupOf(ctx, in.ID); err != nil {
		return nil, err
	} else if ok && g.Primary == in.ID {
		return out, nil
	}
	for _, c := range cands {
		if c.Open() {
			if sev := severityName(x.rules, c); sev != "" && x.rules.InProcess(sev) {
				out = append(out, c)
			}
			continue
		}
		if g, ok, err := x.store.GroupOf(ctx, c.ID); err != nil {
			return nil, err
		} else if ok && g.Primary == c.ID {
			out = append(out, c)
		}
	}
	return out, nil
}

// lookback is how long before an incident triggered a related incident may
// have triggered: one whose lifetime, widened by the window, covers this
// one's start.
const lookback = 24 * time.Hour

// related reports whether a and b are related by time: one triggered within
// the window of the other's lifetime (from window before it triggered to
// window after it resolved, or until now while it is open).
func (x *run) related(a, b pagerduty.Incident, w time.Duration) bool {
	within := func(t time.Time, of pagerduty.Incident) bool {
		return !t.Before(of.CreatedAt.Add(-w)) && !t.After(x.resolvedAt(of).Add(w))
	}
	return within(b.CreatedAt, a) || within(a.CreatedAt, b)
}

// choosePrimary picks a group's primary: the earliest triggered of the
// incidents whose severity is in process (so an incident that gets no
// process never holds a group), then the most severe, then the lowest ID, so
// that every replica picks the same one. The group's highest severity is
// then written back to it as its final severity.
func choosePrimary(rl *rules.Rules, incs []pagerduty.Incident) pagerduty.Incident {
	inProcess := func(in pagerduty.Incident) int {
		if s := severityName(rl, in); s != "" && rl.InProcess(s) {
			return 0
		}
		return 1
	}
	return slices.MinFunc(incs, func(a, b pagerduty.Incident) int {
		return cmp.Or(
			cmp.Compare(inProcess(a), inProcess(b)),
			a.CreatedAt.Compare(b.CreatedAt),
			cmp.Compare(rl.Rank(severityName(rl, a)), rl.Rank(severityName(rl, b))),
			cmp.Compare(a.ID, b.ID),
		)
	})
}
