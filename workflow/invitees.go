package workflow

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/aftermath-dev/aftermath/integrations/notify"
)

// invitees is who is asked to the post-mortem meeting, each once, in this
// order: the incident commander (and their shadow: a note line "Shadow:
// <name>"), the owners of the services involved, the key responders (who
// acted in PagerDuty), the engineering and product managers of those
// services, and the customer liaison for the most severe level only. A
// responder is called by the role the page's Responders table gives them
// (scribe), and one named to a role only in a note is invited too, as the
// incident commander is. A responder's email comes from PagerDuty; one that
// cannot be read leaves the name only (listed, not sent the hold).
func (x *run) invitees(ctx context.Context, severity string, services []string, logs map[string]incidentLog, tl Timeline, emails bool) []notify.Invitee {
	var out []notify.Invitee
	add := func(in notify.Invitee) {
		i := slices.IndexFunc(out, func(o notify.Invitee) bool {
			return in.Email != "" && strings.EqualFold(o.Email, in.Email) || in.Name != "" && strings.EqualFold(o.Name, in.Name)
		})
		if i < 0 {
			out = append(out, in)
		} else if out[i].Email == "" {
			out[i].Email = in.Email
		}
	}
	people := x.rules.PeopleOf(services)
	responder := func(r Responder) {
		email := x.emailOf(ctx, r, emails)
		if email != "" && x.isFromEmail(email) {
			return // aftermath's own user: the timeline leaves it out already, and this is the check by email
		}
		add(notify.Invitee{Name: r.Name, Email: email, Why: roleWord(r.Role)})
	}
	for _, r := range tl.Responders {
		if r.Role == roleIncidentCommander {
			responder(r)
		}
	}
	if name := shadowOf(logs); name != "" {
		add(notify.Invitee{Name: name, Why: "shadow of the incident commander"})
	}
	for _, p := range people {
		for _, e := range p.Owners {
			add(notify.Invitee{Email: e, Why: "service owner"})
		}
	}
	for _, r := range tl.Responders {
		if r.Role != "" || r.UserID != "" && len(r.Actions) > 0 {
			responder(r)
		}
	}
	for _, p := range people {
		for _, e := range p.EngineeringManagers {
			add(notify.Invitee{Email: e, Why: "engineering manager"})
		}
		for _, e := range p.ProductManagers {
			add(notify.Invitee{Email: e, Why: "product manager"})
		}
	}
	if l := x.rules.CustomerLiaison; l != "" && x.rules.MostSevere(severity) {
		add(notify.Invitee{Email: l, Why: "customer liaison (" + severity + ")"})
	}
	return out
}

// roleWord is how the invitees name a responder's part: the role the
// Responders table gives them, in lower case ("scribe"), or "responder".
func roleWord(role string) string {
	if role == "" {
		return "responder"
	}
	return strings.ToLower(role)
}

// emailOf is a responder's email in PagerDuty, or "" when it cannot be
// read (a name found only in a note, a user PagerDuty will not show) or is
// not wanted.
func (x *run) emailOf(ctx context.Context, r Responder, want bool) string {
	if !want || r.UserID == "" || x.r.PagerDuty == nil {
		return ""
	}
	u, err := x.r.PagerDuty.User(ctx, r.UserID)
	if err != nil {
		x.log.Warn("a responder's email could not be read; invited by name only", "user", r.UserID, "err", err)
		return ""
	}
	return u.Email
}

// shadowOf is the name on a note line "Shadow: <name>": the first, in the
// order of the incidents' IDs.
func shadowOf(logs map[string]incidentLog) string {
	for _, id := range slices.Sorted(maps.Keys(logs)) {
		for _, n := range logs[id].Notes {
			if name := shadowIn(n.Content); name != "" {
				return name
			}
		}
	}
	return ""
}

func shadowIn(content string) string {
	{
		for line := range strings.SplitSeq(content, "\n") {
			l := strings.TrimLeft(strings.TrimSpace(line), "-*• ")
			if len(l) > 7 && strings.EqualFold(l[:7], "shadow:") {
				if name := strings.TrimSpace(l[7:]); name != "" && len(name) <= 100 {
					return name
				}
			}
		}
	}
	return ""
}
