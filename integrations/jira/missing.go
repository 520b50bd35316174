package jira

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// Jira checks every issue key a JQL query names before it searches: a key
// of an issue deleted, or one this account may not browse, makes it refuse
// the whole query with a 400, one errorMessages entry per such value, as
//
//	An issue with key 'PM-2' does not exist for field 'key'.
//
// (field 'parent', or the Epic Link field as written, for the same key in
// another clause). A status sync naming many epics in one query would then
// read none of them as long as one is gone.

// missingIssue is Jira's message for a JQL value that names no issue it
// shows this account; the group is the key, as the query wrote it.
var missingIssue = regexp.MustCompile(`An issue with key '([^']+)' does not exist for field '`)

// missingKeys are the keys of batch that err, a refusal of a search, names
// as issues Jira does not show; nil when it is not such a refusal or names
// none of them.
func missingKeys(err error, batch []string) []string {
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
		return nil
	}
	var out []string
	for _, m := range missingIssue.FindAllStringSubmatch(e.Message, -1) {
		for _, k := range batch {
			if strings.EqualFold(k, m[1]) && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// withoutMissing runs search over batch. When Jira refuses it for naming
// keys of the batch that it does not show (deleted, or out of this
// account's sight), those keys are left out and the rest searched again:
// each retry drops at least one key, so there are at most len(batch) of
// them, and a batch left empty is not searched. A refusal that names no key
// of the batch is returned as it is. When nothing is missing it is one
// search, as before.
func (c *Client) withoutMissing(ctx context.Context, batch []string, search func(batch []string) error) error {
	batch = slices.Clone(batch)
	for len(batch) > 0 {
		err := search(batch)
		gone := missingKeys(err, batch)
		if len(gone) == 0 {
			return err
		}
		c.log.InfoContext(ctx, "Jira shows no such issue (deleted, or not visible to this account); searching without it", "keys", gone)
		batch = slices.DeleteFunc(batch, func(k string) bool { return slices.Contains(gone, k) })
	}
	return nil
}
