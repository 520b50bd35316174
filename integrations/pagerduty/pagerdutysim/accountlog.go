package pagerdutysim

import (
	"net/http"
	"slices"
)

// logRow is one entry of the account-wide log, with its incident.
type logRow struct {
	x   *incident
	e   LogEntry
	seq int
}

// listAccountLogEntries is GET /log_entries: every incident's log entries,
// newest first, whose own time is in [since, until). Without since and
// until the window is the last month, like GET /incidents. include[] and
// is_overview work as on an incident's log.
func (s *Server) listAccountLogEntries(rq *request) reply {
	q := rq.r.URL.Query()
	v, bad := viewFrom(q)
	if bad != nil {
		return *bad
	}
	p, bad := parsePage(q)
	if bad != nil {
		return *bad
	}
	since, until, bad := timeWindow(q, v.loc)
	if bad != nil {
		return *bad
	}
	if until.IsZero() {
		until = rq.at
	}
	if since.IsZero() {
		since = until.AddDate(0, -1, 0)
	}
	if until.Before(since) {
		return apiError(http.StatusBadRequest, 2005, "Invalid Query Date Range", "since must be before until")
	}
	overview := q.Get("is_overview") == "true"
	var rows []logRow
	for _, x := range s.incidents {
		for i, e := range x.LogEntries {
			if (overview && !overviewTypes[e.Type]) || e.CreatedAt.Before(since) || !e.CreatedAt.Before(until) {
				continue
			}
			rows = append(rows, logRow{x: x, e: e, seq: x.seqs[i]})
		}
	}
	// Newest first; entries of one time in reverse order of writing, as
	// PagerDuty lists an incident's log.
	slices.SortFunc(rows, func(a, b logRow) int {
		if c := b.e.CreatedAt.Compare(a.e.CreatedAt); c != 0 {
			return c
		}
		return b.seq - a.seq
	})
	return paginate(p, "log_entries", rows, func(r logRow) any { return s.logEntryJSON(r.x, r.e, v) })
}
