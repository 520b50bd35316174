package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// ResolveLogEntry is the type of the log entry PagerDuty writes when an
// incident resolves.
const ResolveLogEntry = "resolve_log_entry"

// maxOffset is PagerDuty's bound on classic pagination: offset+limit may
// not exceed 10,000.
const maxOffset = 10000

// ErrTooManyEntries says a window holds more log entries than classic
// pagination can list; ask again with a shorter window.
var ErrTooManyEntries = errors.New("more log entries than pagination reaches (10,000): shorten the window")

// Resolution is an incident's resolution as the account's log shows it.
type Resolution struct {
	IncidentID string
	At         time.Time // the resolve_log_entry's own time
	Summary    string    // the incident's title, as the entry names it
}

// Resolutions lists the incidents resolved in [since, until), by the
// account's resolve_log_entry entries and their own time (GET /log_entries).
// GET /incidents cannot answer this: its since and until bound the
// incidents' creation, and an incident created a week ago may resolve now.
// An incident resolved more than once in the window appears once, with its
// latest resolution.
func (c *Client) Resolutions(ctx context.Context, since, until time.Time) ([]Resolution, error) {
	op := fmt.Sprintf("list resolutions from %s to %s", since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
	seen := map[string]int{}
	var out []Resolution
	for offset := 0; ; offset += PageSize {
		if offset+PageSize > maxOffset {
			return nil, fmt.Errorf("pagerduty: %s: %w", op, ErrTooManyEntries)
		}
		q := url.Values{
			"since": {since.UTC().Format(time.RFC3339)}, "until": {until.UTC().Format(time.RFC3339)},
			"is_overview": {"true"}, "time_zone": {"UTC"},
			"limit": {strconv.Itoa(PageSize)}, "offset": {strconv.Itoa(offset)},
		}
		var res struct {
			LogEntries []logEntryWire `json:"log_entries"`
			More       bool           `json:"more"`
		}
		if err := c.getJSON(ctx, op, "/log_entries", q, &res); err != nil {
			return nil, err
		}
		for _, e := range res.LogEntries {
			if e.Type != ResolveLogEntry || e.Incident.ID == "" {
				continue
			}
			r := Resolution{IncidentID: e.Incident.ID, At: parseTime(e.CreatedAt), Summary: e.Incident.Summary}
			if i, dup := seen[r.IncidentID]; dup {
				if r.At.After(out[i].At) {
					out[i] = r
				}
				continue
			}
			seen[r.IncidentID] = len(out)
			out = append(out, r)
		}
		if !res.More || len(res.LogEntries) == 0 {
			return out, nil
		}
	}
}
