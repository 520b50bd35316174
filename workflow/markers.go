package workflow

import (
	"context"
	"strings"
)

// Every note and comment aftermath writes ends with a marker: how a retry
// finds what an earlier attempt wrote before writing it again, and how the
// timeline leaves aftermath's own notes out.

// noteMarker is the last line of every PagerDuty note aftermath writes.
func noteMarker(kind, primaryID string) string {
	return "[aftermath:" + kind + ":" + primaryID + "]"
}

func isOurNote(content string) bool { return strings.Contains(content, "[aftermath:") }

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
		for _, n := range notes {
			if strings.Contains(n.Content, marker) {
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
