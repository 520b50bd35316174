package workflow

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
)

// Every note and comment aftermath writes ends with a marker: how a retry
// finds what an earlier attempt wrote before writing it again, and how the
// timeline leaves aftermath's own notes out.

// noteMarker is the last line of every PagerDuty note aftermath writes.
func noteMarker(kind, primaryID string) string {
	return "[aftermath:" + kind + ":" + primaryID + "]"
}

// noteMarkerRe matches a whole note marker.
var noteMarkerRe = regexp.MustCompile(`\[aftermath:[a-z-]+:[A-Za-z0-9]+\]`)

// ownUser is aftermath's own PagerDuty user: the user writes are made as
// (PAGERDUTY_FROM_EMAIL), so the author of its notes and the agent of the
// priority changes, resolves and merges it makes. The zero value knows no
// user, and then nothing is aftermath's.
//
// It tells aftermath's own notes from the responders': a note is
// aftermath's only when that user wrote it and it carries a whole marker: a
// responder's note that quotes a marker ("see [aftermath:postmortem:P1]")
// is the responder's, and goes on the page and into the follow-ups.
type ownUser struct{ userID, name string }

// ours reports whether the note (its author's PagerDuty user ID and its
// text) is aftermath's own.
func (o ownUser) ours(userID, content string) bool {
	return o.userID != "" && userID == o.userID && noteMarkerRe.MatchString(content)
}

// is reports whether ref is aftermath's own user: never a responder, an
// invitee or an owner.
func (o ownUser) is(ref pagerduty.Ref) bool { return o.userID != "" && ref.ID == o.userID }

// actor is how the timeline names aftermath's own actions: "aftermath", and
// the PagerDuty user it acted as when that user has another name.
func (o ownUser) actor() string {
	if o.name == "" || strings.EqualFold(o.name, "aftermath") {
		return "aftermath"
	}
	return "aftermath (as " + o.name + ")"
}

// ownNotes reads who aftermath's notes are by, asking PagerDuty for the From
// user only when one of notes carries a marker at all: most incidents have
// none, and need no request for it.
func (x *run) ownNotes(ctx context.Context, notes ...[]pagerduty.Note) (ownUser, error) {
	marked := false
	for _, ns := range notes {
		marked = marked || slices.ContainsFunc(ns, func(n pagerduty.Note) bool { return noteMarkerRe.MatchString(n.Content) })
	}
	if !marked {
		return ownUser{}, nil
	}
	return x.fromUser(ctx)
}

// ownUserIn reads who aftermath is in PagerDuty when the group's logs show
// something it may have done: a note carrying a marker, a merge by a user
// (merge_while_open), or, once the primary had resolved, a priority change
// or a member's resolve by a user (the final severity, resolve_open_members).
// Anything else is people's doing, and an incident nobody touched after it
// resolved, the common case, needs no request for it. (The owner step
// checks its candidates against PAGERDUTY_FROM_EMAIL itself.)
func (x *run) ownUserIn(ctx context.Context, primary incidentLog, members []incidentLog) (ownUser, error) {
	resolved := primary.Incident.ResolvedAt
	for i, il := range append([]incidentLog{primary}, members...) {
		if slices.ContainsFunc(il.Notes, func(n pagerduty.Note) bool { return noteMarkerRe.MatchString(n.Content) }) {
			return x.fromUser(ctx)
		}
		for _, e := range il.Entries {
			if e.Agent.ID == "" || !isUser(e.Agent) {
				continue
			}
			kind, _ := eventKind(e, il.Incident)
			after := !resolved.IsZero() && !e.CreatedAt.Before(resolved)
			if kind == KindMerged || after && (kind == KindPriorityChanged || kind == KindResolved && i > 0) {
				return x.fromUser(ctx)
			}
		}
	}
	return ownUser{}, nil
}

// fromUser asks PagerDuty for the From user (once a process: the client
// keeps it).
func (x *run) fromUser(ctx context.Context) (ownUser, error) {
	u, found, err := x.r.PagerDuty.FromUser(ctx)
	if err != nil || !found {
		return ownUser{}, err
	}
	return ownUser{userID: u.ID, name: u.Name}, nil
}

// isFromEmail reports whether email is PAGERDUTY_FROM_EMAIL, the email of
// aftermath's own PagerDuty user: known without a request.
func (x *run) isFromEmail(email string) bool {
	from := strings.TrimSpace(x.r.PagerDuty.From())
	return from != "" && strings.EqualFold(strings.TrimSpace(email), from)
}

// commentMarker ends every Jira comment aftermath writes: plain words, so
// that Cloud's conversion of wiki markup keeps it as it is.
func commentMarker(kind, id string) string { return "aftermath-ref-" + kind + "-" + id }

// findNote looks for the incident's note carrying marker.
func (x *run) findNote(incidentID, marker string) func(context.Context) (string, bool, error) {
	return func(ctx context.Context) (string, bool, error) {
		notes, err := x.r.PagerDuty.Notes(ctx, incidentID)
		if err != nil {
			return "", false, err
		}
		own, err := x.ownNotes(ctx, notes)
		if err != nil {
			return "", false, err
		}
		for _, n := range notes {
			if own.ours(n.User.ID, n.Content) && strings.Contains(n.Content, marker) {
				return n.ID, true, nil
			}
		}
		return "", false, nil
	}
}

// addNote writes a note on the incident; its result is the note's ID.
func (x *run) addNote(incidentID, text string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		n, err := x.r.PagerDuty.AddNote(ctx, incidentID, text)
		return n.ID, err
	}
}

// findComment looks for the Jira issue's comment carrying marker.
func (x *run) findComment(key, marker string) func(context.Context) (string, bool, error) {
	return func(ctx context.Context) (string, bool, error) {
		found, err := x.r.Jira.HasComment(ctx, key, marker)
		return key, found && err == nil, err
	}
}
