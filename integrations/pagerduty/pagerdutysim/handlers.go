package pagerdutysim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "time/tzdata" // time_zone names resolve on machines without zoneinfo
)

// Classic pagination bounds (developer docs, "Pagination"): limit defaults to
// 25 and cannot exceed 100; offset+limit cannot exceed 10000.
const (
	defaultLimit = 25
	maxLimit     = 100
	maxWindow    = 10000
	// maxBulk is PUT /incidents' documented bound; more answers 413.
	maxBulk = 250
	// maxRelated: related_incidents "returns the 20 most recent".
	maxRelated = 20
)

// overviewTypes are the log entry types is_overview=true keeps: the changes
// to the incident itself, not the notifications around it.
var overviewTypes = map[string]bool{
	TriggerLogEntry: true, AcknowledgeLogEntry: true, UnacknowledgeLogEntry: true,
	AssignLogEntry: true, EscalateLogEntry: true, AnnotateLogEntry: true,
	ResolveLogEntry: true, PriorityChangeLogEntry: true, UrgencyChangeLogEntry: true,
	"snooze_log_entry": true, "delegate_log_entry": true,
}

func okReply(body any) reply { return reply{Status: http.StatusOK, Body: body} }

func badRequest(errs ...string) reply {
	return apiError(http.StatusBadRequest, 2001, "Invalid Input Provided", errs...)
}

type page struct {
	limit, offset int
	total         bool
}

func parsePage(q url.Values) (page, *reply) {
	p := page{limit: defaultLimit, total: q.Get("total") == "true"}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			r := badRequest("limit must be a non-negative integer")
			return p, &r
		}
		if n > 0 {
			p.limit = min(n, maxLimit)
		}
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			r := badRequest("offset must be a non-negative integer")
			return p, &r
		}
		p.offset = n
	}
	if p.offset+p.limit > maxWindow {
		r := apiError(http.StatusBadRequest, 2002, "Arguments Caused Error",
			"Offset+limit exceeds maximum allowed value of 10000. Please try to refine your search to reduce the returned set of records below this number, like adding a date range.")
		return p, &r
	}
	return p, nil
}

// paginate answers one page of items under key with the pagination fields.
func paginate[T any](p page, key string, items []T, render func(T) any) reply {
	end := min(p.offset+p.limit, len(items))
	out := []any{}
	for i := p.offset; i < end; i++ {
		out = append(out, render(items[i]))
	}
	var total any
	if p.total {
		total = len(items)
	}
	return okReply(map[string]any{
		key: out, "limit": p.limit, "offset": p.offset,
		"more": p.offset+len(out) < len(items), "total": total,
	})
}

func viewFrom(q url.Values) (view, *reply) {
	v := view{loc: time.UTC, includes: map[string]bool{}}
	if tz := q.Get("time_zone"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			r := badRequest("Time zone is invalid")
			return v, &r
		}
		v.loc = loc
	}
	for _, inc := range q["include[]"] {
		v.includes[inc] = true
	}
	return v, nil
}

// parseTime reads since/until: ISO 8601 with or without an offset (without
// one, in the request's time zone) or a bare date.
func parseTime(s string, loc *time.Location) (time.Time, bool) {
	s = strings.ReplaceAll(s, " ", "+") // an unescaped "+" arrives as a space
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *Server) incidentOr404(id string) (*incident, *reply) {
	x, ok := s.incidents[id]
	if !ok {
		r := notFound()
		return nil, &r
	}
	return x, nil
}

// requester resolves the From header writes must carry.
func (s *Server) requester(r *http.Request) (*User, *reply) {
	vals, present := r.Header["From"]
	if !present {
		rep := apiError(http.StatusBadRequest, 2016, `You must specify a user's email address in the "From" header to perform this action`)
		return nil, &rep
	}
	from := strings.TrimSpace(vals[0])
	if a, err := mail.ParseAddress(from); err != nil || a.Address != from {
		rep := apiError(http.StatusBadRequest, 2001, `Malformed "From" header`)
		return nil, &rep
	}
	u := s.userByEmail(from)
	if u == nil {
		rep := apiError(http.StatusBadRequest, 1008, "Requester User Not Found")
		return nil, &rep
	}
	return u, nil
}

func decodeBody(body []byte, into any) *reply {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(into); err != nil {
		r := badRequest("params must be a Hash")
		return &r
	}
	return nil
}

func (s *Server) getIncident(rq *request) reply {
	v, bad := viewFrom(rq.r.URL.Query())
	if bad != nil {
		return *bad
	}
	x, nf := s.incidentOr404(rq.id)
	if nf != nil {
		return *nf
	}
	return okReply(map[string]any{"incident": s.incidentJSON(x, v)})
}

var sortFields = map[string]func(a, b *incident) int{
	"incident_number": func(a, b *incident) int { return cmp.Compare(a.Number, b.Number) },
	"created_at":      func(a, b *incident) int { return a.CreatedAt.Compare(b.CreatedAt) },
	"resolved_at":     func(a, b *incident) int { return a.ResolvedAt.Compare(b.ResolvedAt) },
	"urgency":         func(a, b *incident) int { return cmp.Compare(a.Urgency, b.Urgency) },
}

func (s *Server) listIncidents(rq *request) reply {
	q := rq.r.URL.Query()
	v, bad := viewFrom(q)
	if bad != nil {
		return *bad
	}
	p, bad := parsePage(q)
	if bad != nil {
		return *bad
	}

	// since/until bound created_at to [since, until). Without them the
	// window is the last month; it may not exceed six months.
	var since, until time.Time
	bounded := q.Get("date_range") != "all"
	if bounded {
		if since, until, bad = timeWindow(q, v.loc); bad != nil {
			return *bad
		}
		switch {
		case since.IsZero() && until.IsZero():
			until = rq.at
			since = until.AddDate(0, -1, 0)
		case until.IsZero():
			until = rq.at
		case since.IsZero():
			since = until.AddDate(0, -1, 0)
		}
		if until.Before(since) || since.AddDate(0, 6, 0).Before(until) {
			return apiError(http.StatusBadRequest, 2005, "Invalid Query Date Range",
				"since must be before until and the range cannot exceed 6 months")
		}
	}

	statuses := q["statuses[]"]
	for _, st := range statuses {
		if st != StatusTriggered && st != StatusAcknowledged && st != StatusResolved {
			return badRequest("Status must be a list of triggered, acknowledged, or resolved.")
		}
	}
	services, urgencies, userIDs := q["service_ids[]"], q["urgencies[]"], q["user_ids[]"]

	var order []func(a, b *incident) int
	var desc []bool
	for _, spec := range q["sort_by"] {
		for _, part := range strings.Split(spec, ",") {
			field, dir, _ := strings.Cut(strings.TrimSpace(part), ":")
			f, known := sortFields[field]
			if !known || (dir != "" && dir != "asc" && dir != "desc") {
				return badRequest("sort_by " + part + " is not valid; use incident_number, created_at, resolved_at or urgency with :asc or :desc")
			}
			order, desc = append(order, f), append(desc, dir == "desc")
		}
	}
	if len(order) > 2 {
		return badRequest("sort_by accepts at most two fields")
	}
	order, desc = append(order, sortFields["created_at"], sortFields["incident_number"]), append(desc, false, false)

	var list []*incident
	for _, x := range s.incidents {
		switch {
		case bounded && (x.CreatedAt.Before(since) || !x.CreatedAt.Before(until)):
		case len(statuses) > 0 && !slices.Contains(statuses, x.Status):
		case len(services) > 0 && !slices.Contains(services, x.ServiceID):
		case len(urgencies) > 0 && !slices.Contains(urgencies, x.Urgency):
		case len(userIDs) > 0 && !slices.ContainsFunc(x.Assignments, func(a Assignment) bool { return slices.Contains(userIDs, a.UserID) }):
		case q.Get("incident_key") != "": // simulated incidents have no key
		default:
			list = append(list, x)
		}
	}
	slices.SortFunc(list, func(a, b *incident) int {
		for i, f := range order {
			if c := f(a, b); c != 0 {
				if desc[i] {
					return -c
				}
				return c
			}
		}
		return 0
	})
	return paginate(p, "incidents", list, func(x *incident) any { return s.incidentJSON(x, v) })
}

func (s *Server) listLogEntries(rq *request) reply {
	q := rq.r.URL.Query()
	x, nf := s.incidentOr404(rq.id)
	if nf != nil {
		return *nf
	}
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
	overview := q.Get("is_overview") == "true"
	var list []LogEntry
	for _, e := range s.orderedLog(x, true) {
		switch {
		case overview && !overviewTypes[e.Type]:
		case !since.IsZero() && e.CreatedAt.Before(since):
		case !until.IsZero() && !e.CreatedAt.Before(until):
		default:
			list = append(list, e)
		}
	}
	return paginate(p, "log_entries", list, func(e LogEntry) any { return s.logEntryJSON(x, e, v) })
}

func (s *Server) listNotes(rq *request) reply {
	x, nf := s.incidentOr404(rq.id)
	if nf != nil {
		return *nf
	}
	v := view{loc: time.UTC}
	notes := []any{}
	for _, n := range x.Notes {
		notes = append(notes, s.noteJSON(n, v))
	}
	return okReply(map[string]any{"notes": notes})
}

func (s *Server) createNote(rq *request) reply {
	u, bad := s.requester(rq.r)
	if bad != nil {
		return *bad
	}
	x, nf := s.incidentOr404(rq.id)
	if nf != nil {
		return *nf
	}
	var in struct {
		Note *struct {
			Content *string `json:"content"`
		} `json:"note"`
	}
	if bad := decodeBody(rq.body, &in); bad != nil {
		return *bad
	}
	if in.Note == nil || in.Note.Content == nil || strings.TrimSpace(*in.Note.Content) == "" {
		return badRequest("Note content cannot be empty")
	}
	n := s.annotate(x, u, *in.Note.Content, rq.at)
	return okReply(map[string]any{"note": s.noteJSON(n, view{loc: time.UTC})})
}

// bulkItem is one element of PUT /incidents.
type bulkItem struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Status      string          `json:"status"`
	Title       string          `json:"title"`
	Urgency     string          `json:"urgency"`
	Resolution  string          `json:"resolution"`
	Priority    json.RawMessage `json:"priority"`
	Assignments []struct {
		Assignee struct {
			ID string `json:"id"`
		} `json:"assignee"`
	} `json:"assignments"`
}

// bulkChange is a validated bulkItem.
type bulkChange struct {
	x           *incident
	item        bulkItem
	setPriority bool
	priority    string
	assignees   []string
}

func (s *Server) manageIncidents(rq *request) reply {
	u, bad := s.requester(rq.r)
	if bad != nil {
		return *bad
	}
	var in struct {
		Incidents []bulkItem `json:"incidents"`
	}
	if bad := decodeBody(rq.body, &in); bad != nil {
		return *bad
	}
	if len(in.Incidents) == 0 {
		return badRequest("incidents must be a non-empty array")
	}
	if len(in.Incidents) > maxBulk {
		return apiError(http.StatusRequestEntityTooLarge, 2001, "Invalid Input Provided", "A maximum of 250 incidents may be updated at a time.")
	}

	// Validate everything first so a bad element changes nothing.
	changes := make([]bulkChange, 0, len(in.Incidents))
	for _, it := range in.Incidents {
		x, nf := s.incidentOr404(it.ID)
		if nf != nil {
			return *nf
		}
		c := bulkChange{x: x, item: it}
		switch it.Status {
		case "", StatusTriggered, StatusAcknowledged, StatusResolved:
		default:
			return badRequest("Status must be one of triggered, acknowledged, or resolved.")
		}
		switch it.Urgency {
		case "", "high", "low":
		default:
			return badRequest("Urgency must be one of high or low.")
		}
		if len(it.Priority) > 0 {
			name, known := s.decodePriority(it.Priority)
			if !known {
				return apiError(http.StatusBadRequest, 1020, "Invalid Priority")
			}
			c.setPriority, c.priority = true, name
			if s.refusePrio && x.Status == StatusResolved && name != x.Priority {
				return badRequest("Priority cannot be changed on a resolved incident.")
			}
		}
		for _, a := range it.Assignments {
			if _, known := s.users[a.Assignee.ID]; !known {
				return apiError(http.StatusBadRequest, 1007, "Assigned To User Not Found")
			}
			c.assignees = append(c.assignees, a.Assignee.ID)
		}
		changes = append(changes, c)
	}

	out := []*incident{}
	for _, c := range changes {
		x, it, at := c.x, c.item, rq.at
		if it.Title != "" {
			x.Title = it.Title
			x.UpdatedAt = maxTime(x.UpdatedAt, at)
		}
		if it.Urgency != "" {
			s.setUrgency(x, it.Urgency, u, "api", at)
		}
		if c.setPriority {
			s.setPriority(x, c.priority, u, "api", at)
		}
		if len(c.assignees) > 0 && it.Status != StatusResolved {
			s.assign(x, c.assignees, at, true)
			var names []string
			for _, id := range c.assignees {
				names = append(names, s.users[id].Name)
			}
			s.appendLog(x, LogEntry{Type: AssignLogEntry, CreatedAt: at, AgentType: agentUser, AgentID: u.ID, Channel: "api",
				Summary: "Assigned to " + strings.Join(names, ", ") + " by " + u.Name + ".", Assignees: c.assignees})
		}
		switch it.Status {
		case StatusAcknowledged:
			s.acknowledge(x, u, "api", at)
		case StatusResolved:
			s.resolve(x, u, "api", it.Resolution, at)
		case StatusTriggered:
			s.unacknowledge(x, u, "api", at)
		}
		out = append(out, x)
	}
	v := view{loc: time.UTC, includes: map[string]bool{}}
	return paginate(page{limit: max(len(out), defaultLimit)}, "incidents", out, func(x *incident) any { return s.incidentJSON(x, v) })
}

// decodePriority reads a priority given as {"id","type"} or as a name; null
// removes the priority.
func (s *Server) decodePriority(raw json.RawMessage) (string, bool) {
	if string(raw) == "null" {
		return "", true
	}
	var name string
	if json.Unmarshal(raw, &name) == nil {
		_, found := s.priorityByName(name)
		return name, found
	}
	var ref struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &ref) != nil {
		return "", false
	}
	p, found := s.priorityByID(ref.ID)
	return p.Name, found
}

func (s *Server) mergeIncidents(rq *request) reply {
	u, bad := s.requester(rq.r)
	if bad != nil {
		return *bad
	}
	target, nf := s.incidentOr404(rq.id)
	if nf != nil {
		return *nf
	}
	var in struct {
		Sources []struct {
			ID string `json:"id"`
		} `json:"source_incidents"`
	}
	if bad := decodeBody(rq.body, &in); bad != nil {
		return *bad
	}
	if len(in.Sources) == 0 {
		return badRequest("source_incidents must be a non-empty array")
	}
	if target.Status == StatusResolved {
		return badRequest("The target incident must be open. Open incidents cannot be merged into a resolved incident.")
	}
	var sources []*incident
	for _, ref := range in.Sources {
		src, nf := s.incidentOr404(ref.ID)
		if nf != nil {
			return *nf
		}
		switch {
		case src == target:
			return badRequest("An incident cannot be merged into itself.")
		case src.ResolveReason != nil:
			return apiError(http.StatusBadRequest, 1019, "Incident Already Merged")
		}
		sources = append(sources, src)
	}
	for _, src := range sources {
		s.merge(target, src, u, rq.at)
	}
	return okReply(map[string]any{"incident": s.incidentJSON(target, view{loc: time.UTC, includes: map[string]bool{}})})
}

func (s *Server) relatedIncidents(rq *request) reply {
	if s.noRelated {
		return apiError(http.StatusPaymentRequired, 2014, "Missing Account Ability",
			"Related Incidents requires the Event Intelligence package or the Digital Operations plan.")
	}
	if _, nf := s.incidentOr404(rq.id); nf != nil {
		return *nf
	}
	details := slices.Contains(rq.r.URL.Query()["additional_details[]"], "incident")
	v := view{loc: time.UTC, includes: map[string]bool{}}
	var list []any
	ids := s.related[rq.id]
	// Most recent first, at most 20.
	sorted := slices.Clone(ids)
	slices.SortStableFunc(sorted, func(a, b string) int {
		xa, xb := s.incidents[a], s.incidents[b]
		if xa == nil || xb == nil {
			return 0
		}
		return xb.CreatedAt.Compare(xa.CreatedAt)
	})
	for _, id := range sorted[:min(len(sorted), maxRelated)] {
		inc := map[string]any{"id": id, "self": s.base + "/incidents/" + id}
		if x, ok := s.incidents[id]; ok {
			if details {
				inc = s.incidentJSON(x, v)
			} else {
				inc["created_at"], inc["title"] = v.time(x.CreatedAt), x.Title
			}
		}
		list = append(list, map[string]any{
			"incident": inc,
			"relationships": []any{map[string]any{
				"type": "machine_learning_inferred",
				"metadata": map[string]any{
					"grouping_classification": "similar_contents",
					"user_feedback":           map[string]any{"positive_feedback_count": 0, "negative_feedback_count": 0},
				},
			}},
		})
	}
	if list == nil {
		list = []any{}
	}
	return okReply(map[string]any{"related_incidents": list})
}

func (s *Server) listPriorities(rq *request) reply {
	p, bad := parsePage(rq.r.URL.Query())
	if bad != nil {
		return *bad
	}
	return paginate(p, "priorities", s.priorities, func(pr Priority) any { return s.priorityJSON(pr) })
}

func (s *Server) getUser(rq *request) reply {
	u, found := s.users[rq.id]
	if !found {
		return notFound()
	}
	return okReply(map[string]any{"user": s.userJSON(u)})
}

// listUsers answers GET /users; query matches name or email, as PagerDuty's
// does, case-insensitively.
func (s *Server) listUsers(rq *request) reply {
	q := rq.r.URL.Query()
	p, bad := parsePage(q)
	if bad != nil {
		return *bad
	}
	term := strings.ToLower(q.Get("query"))
	var list []*User
	for _, u := range s.users {
		if term == "" || strings.Contains(strings.ToLower(u.Name), term) || strings.Contains(strings.ToLower(u.Email), term) {
			list = append(list, u)
		}
	}
	slices.SortFunc(list, func(a, b *User) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return paginate(p, "users", list, func(u *User) any { return s.userJSON(u) })
}

// timeWindow reads the since and until parameters (zero when absent), as
// PagerDuty's list routes take them.
func timeWindow(q url.Values, loc *time.Location) (since, until time.Time, bad *reply) {
	okS, okU := true, true
	if raw := q.Get("since"); raw != "" {
		since, okS = parseTime(raw, loc)
	}
	if raw := q.Get("until"); raw != "" {
		until, okU = parseTime(raw, loc)
	}
	if !okS || !okU {
		r := apiError(http.StatusBadRequest, 2004, "Invalid time values in 'since' and/or 'until' parameters")
		return since, until, &r
	}
	return since, until, nil
}
