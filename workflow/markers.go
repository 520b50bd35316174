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

// ownNotes tells aftermath's own notes from the responders'. A note is
// aftermath's only when the PagerDuty user aftermath writes as
// (PAGERDUTY_FROM_EMAIL) wrote it and it carries a whole marker: a
// responder's note that quotes a marker ("see [aftermath:postmortem:P1]")
// is the responder's, and goes on the page and into the follow-ups.
type ownNotes struct{ userID string }

// ours reports whether the note (its author's PagerDuty user ID and its
// text) is aftermath's own.
func (o ownNotes) ours(userID, content string) bool {
	return o.userID != "" && userID == o.userID && noteMarkerRe.MatchString(content)
}

// ownNotes reads who aftermath's notes are by, asking PagerDuty for the From
// user only when one of notes carries a marker at all: most incidents have
// none, and need no request for it.
func (x *run) ownNotes(ctx context.Context, notes ...[]pagerduty.Note) (ownNotes, error) {
	marked := false
	for _, ns := range notes {
		marked = marked || slices.ContainsFunc(ns, func(n pagerduty.Note) bool { return noteMarkerRe.MatchString(n.Content) })
	}
	if !marked {
		return ownNotes{}, nil
	}
	u, found, err := x.r.PagerDuty.FromUser(ctx)
	if err != nil || !found {
		return ownNotes{}, err
	}
	return ownNotes{userID: u.ID}, nil
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
